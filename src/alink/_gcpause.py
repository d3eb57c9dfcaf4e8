"""Build a big dataset without the cyclic garbage collector stalling the loop.

Reading 100k files makes 100k ``File`` objects that live on. CPython counts
them as they are allocated: a young collection every 700, and every time the
objects that survived young collections pass a quarter of the old ones, a
*full* collection that walks every object of the process, holding the GIL
(15-25 ms with 100k files alive on the benchmark machine, more in a bigger
process). Building one dataset triggered several, and the longest was the
event loop's longest stall. None of them finds anything: the files are not
garbage, and reference counting frees whatever is.

:func:`collector_paused` is used around building a big dataset:

1. On entry it collects the young generations once (as the collector would
   soon anyway; ~1 ms), so that every older object is in the oldest
   generation, and disables automatic collection.
2. Objects made while paused, by any thread (the dataset's files, and
   whatever the rest of the process allocates meanwhile: ~0.1 s per 100k
   files, longer while several big datasets are read at once, since
   overlapping pauses make one), stay in the youngest generation,
   unscanned.
3. On exit it moves them into the oldest generation in one constant-time
   step (``gc.freeze()`` then ``gc.unfreeze()``, one after the other in C,
   with no Python code in between) and re-enables automatic collection.

Afterwards the collector runs exactly as before: same thresholds, enabled
again, nothing frozen (the permanent generation is empty before and after).
The one difference is that the objects made during the pause count as old
ones already: they are scanned by the next full collection rather than by two
young ones first, and they do not count towards triggering it (CPython only
counts objects promoted by young collections). So the caller's full
collections come as often as before, each one walking the new files too, as
it walks every live object (that cost is the files' being alive, whoever made
them).

Exact rules:

- Pauses nest and may overlap across threads; the first one in records
  whether the collector was enabled, the last one out restores that.
- A collector the caller disabled stays disabled, and nothing else is done
  (no collection, no promotion).
- If some objects are frozen already (``gc.get_freeze_count()`` is not 0, as
  after a pre-fork server's ``gc.freeze()``), nothing is promoted, since
  ``gc.unfreeze()`` would thaw the caller's objects too; the new objects then
  wait in the youngest generation for the next young collection.
- ``gc.enable()``/``gc.disable()`` called by the caller while a pause lasts
  are overridden by the restore at its end.
"""

from __future__ import annotations

import gc
import operator
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collector_paused"]

_lock = threading.Lock()
_depth = 0
_resume = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause automatic garbage collection for the block; see the module."""
    global _depth, _resume
    with _lock:
        first = _depth == 0
        if first:
            _resume = gc.isenabled()
            gc.disable()
        _depth += 1
    if first and _resume:
        gc.collect(1)  # outside the lock: finalizers may run Python code
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _resume:
                _promote_new_objects()
                gc.enable()


def _promote_new_objects() -> None:
    """Move every young object into the oldest generation, unscanned."""
    if gc.get_freeze_count():
        return
    # Called from C one after the other, so no other thread's Python code
    # (say, a gc.freeze() of its own) can run between the two.
    deque(map(operator.call, (gc.freeze, gc.unfreeze)), maxlen=0)
