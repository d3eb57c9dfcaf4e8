"""One error out of a task group, never an ``ExceptionGroup``.

alink's callers see one plain exception (CONTRACT §3.5). Its workers record
the first ``Exception`` they meet and cancel the others, so a task group
normally ends without an error of its own; but some errors still reach the
group, which wraps them: a ``KeyboardInterrupt`` that trio raises at a
checkpoint of whichever task it chose (the one waiting for the group, say),
or a ``SystemExit`` or other ``BaseException`` from a caller's callback.
:func:`task_group` hands such an error on as itself when it is the only one.
Cancellation is left exactly as the backend raises it.
"""

from __future__ import annotations

from types import TracebackType

import anyio
import anyio.abc

__all__ = ["sole_error", "task_group"]


def sole_error(error: BaseException) -> BaseException:
    """The single error inside (nested) exception groups, if there is one;
    else ``error`` itself."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


class task_group:
    """``anyio.create_task_group()``, whose one error comes out unwrapped.

    A group holding exactly one error that is not the backend's cancellation
    exception raises that error instead (its own traceback and context
    kept). Anything else (several errors, or a cancellation among them)
    propagates unchanged: a group of two cannot be one error without losing
    the other, and cancellation must reach its cancel scope as it was.
    """

    __slots__ = ("_group",)

    def __init__(self) -> None:
        self._group = anyio.create_task_group()

    async def __aenter__(self) -> anyio.abc.TaskGroup:
        return await self._group.__aenter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> bool | None:
        try:
            return await self._group.__aexit__(exc_type, exc_val, exc_tb)
        except BaseExceptionGroup as group:
            error = sole_error(group)
            if isinstance(error, BaseExceptionGroup | anyio.get_cancelled_exc_class()):
                raise
        # Raised here, outside the handler: the group does not become the
        # error's context (it holds the error; the traceback would repeat it).
        raise error
