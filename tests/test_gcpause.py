"""Pausing the garbage collector while a big dataset is built leaves the
caller's collector as it was: enabled or not, same thresholds, nothing
frozen; objects made meanwhile count as old ones."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from alink._gcpause import collector_paused


class Node:
    """A container the collector tracks."""

    def __init__(self) -> None:
        self.ref: object = None


@pytest.fixture(autouse=True)
def _collector_as_found() -> Iterator[None]:
    enabled, thresholds = gc.isenabled(), gc.get_threshold()
    assert gc.get_freeze_count() == 0
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    (gc.enable if enabled else gc.disable)()


def _in_generation(obj: object, generation: int) -> bool:
    return any(o is obj for o in gc.get_objects(generation))


def test_the_collector_is_paused_and_restored() -> None:
    gc.enable()
    thresholds = gc.get_threshold()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    assert gc.get_threshold() == thresholds
    assert gc.get_freeze_count() == 0


def test_it_is_restored_after_an_error() -> None:
    gc.enable()
    with pytest.raises(KeyError), collector_paused():
        raise KeyError("x")
    assert gc.isenabled()


def test_pauses_nest_and_overlap_across_threads() -> None:
    gc.enable()
    inside = threading.Event()
    leave = threading.Event()

    def other() -> None:
        with collector_paused():
            inside.set()
            leave.wait(10)

    thread = threading.Thread(target=other)
    with collector_paused():
        thread.start()
        assert inside.wait(10)
        with collector_paused():
            assert not gc.isenabled()
    # The other pause still runs: the collector stays paused.
    assert not gc.isenabled()
    leave.set()
    thread.join(10)
    assert gc.isenabled()


def test_a_disabled_collector_stays_disabled_and_untouched() -> None:
    gc.disable()
    with collector_paused():
        made = Node()
    assert not gc.isenabled()
    assert _in_generation(made, 0)  # not promoted either


def test_objects_made_while_paused_count_as_old() -> None:
    gc.enable()
    young = Node()  # made before: aged by the young collection on entry
    with collector_paused():
        assert _in_generation(young, 2)
        made = [Node() for _ in range(2000)]
        assert _in_generation(made[0], 0)
    assert gc.isenabled()
    assert _in_generation(made[0], 2)
    assert _in_generation(made[-1], 2)
    assert gc.get_freeze_count() == 0
    # Garbage cycles among them are still found by a full collection.
    made[0].ref = made[0]
    del made
    assert gc.collect() >= 1


def test_frozen_objects_stay_frozen() -> None:
    gc.enable()
    gc.freeze()
    frozen = gc.get_freeze_count()
    with collector_paused():
        made = Node()
    assert gc.get_freeze_count() == frozen
    assert gc.isenabled()
    assert _in_generation(made, 0)  # left to the next young collection
