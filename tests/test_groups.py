"""alink's task group: its one error comes out alone, cancellation untouched."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from alink._groups import sole_error, task_group

pytestmark = pytest.mark.anyio


class _Stop(BaseException):
    """Not an ``Exception``: workers do not catch it."""


async def test_a_child_s_base_exception_comes_out_alone() -> None:
    async def child() -> None:
        raise _Stop("child")

    with pytest.raises(_Stop, match="child") as info:
        async with task_group() as tg:
            tg.start_soon(child)
            await anyio.sleep_forever()
    # Its context is not the group that held it (which would repeat it).
    assert not isinstance(info.value.__context__, BaseExceptionGroup)


async def test_the_waiting_task_s_own_error_comes_out_alone() -> None:
    """As trio delivers a Ctrl-C: in the task that waits for the group."""
    with pytest.raises(KeyboardInterrupt):
        async with task_group() as tg:
            tg.start_soon(anyio.sleep_forever)
            await anyio.lowlevel.checkpoint()
            raise KeyboardInterrupt


async def test_several_errors_stay_a_group() -> None:
    async def child(name: str) -> None:
        raise ValueError(name)  # no checkpoint first: both run and fail

    with pytest.raises(BaseExceptionGroup) as info:
        async with task_group() as tg:
            tg.start_soon(child, "a")
            tg.start_soon(child, "b")
    assert sorted(str(e) for e in info.value.exceptions) == ["a", "b"]


async def test_cancellation_reaches_its_scope_as_it_was() -> None:
    with anyio.CancelScope() as scope:
        async with task_group() as tg:
            tg.start_soon(anyio.sleep_forever)
            scope.cancel()
            await anyio.sleep_forever()
    assert scope.cancelled_caught


async def test_no_error_no_change() -> None:
    done: list[int] = []
    async with task_group() as tg:
        tg.start_soon(lambda: anyio.lowlevel.checkpoint())
        done.append(1)
    assert done == [1]


def test_sole_error_unwraps_nested_groups_of_one() -> None:
    inner = KeyError("x")
    group = BaseExceptionGroup("outer", [ExceptionGroup("inner", [inner])])
    assert sole_error(group) is inner
    two = ExceptionGroup("two", [KeyError("a"), KeyError("b")])
    assert sole_error(two) is two
