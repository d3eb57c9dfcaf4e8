"""The GIL courtesy of the SFTP flows: when it pauses, and for how long."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from alink.transfer._gil import Courtesy


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.pauses: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def test_pauses_once_per_interval_of_work() -> None:
    clock = _Clock()
    courtesy = Courtesy(0.001, 2e-5, clock=clock, sleep=clock.sleep)
    for _ in range(9):  # 0.9 ms of work: not yet
        clock.now += 0.0001
        courtesy()
    assert clock.pauses == []
    clock.now += 0.0001
    courtesy()
    assert clock.pauses == [2e-5]
    courtesy()  # right after a pause: the interval starts again
    assert clock.pauses == [2e-5]
    clock.now += 0.0035  # a long step without calls: one pause, not three
    courtesy()
    courtesy()
    assert clock.pauses == [2e-5, 2e-5]


def test_at_uses_the_callers_clock_reading() -> None:
    clock = _Clock()
    courtesy = Courtesy(0.001, 2e-5, clock=clock, sleep=clock.sleep)
    courtesy.at(clock.now + 0.0005)
    assert clock.pauses == []
    courtesy.at(clock.now + 0.001)  # due by the caller's reading
    assert clock.pauses == [2e-5]


@pytest.mark.parametrize(("every", "pause"), [(0, 1e-5), (0.001, 0), (-1, 1e-5)])
def test_refuses_non_positive_settings(every: float, pause: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        Courtesy(every, pause)


def test_a_pause_lets_a_waiting_thread_take_the_gil() -> None:
    """A thread that spins in Python code and calls the courtesy lets another
    thread run Python code well before the 5 ms switch interval."""
    stop = threading.Event()
    ran_at: list[float] = []
    started = threading.Event()

    def spin() -> None:
        courtesy = Courtesy(0.0005, 5e-5)
        started.set()
        while not stop.is_set():
            for _ in range(50):
                pass
            courtesy()

    old = sys.getswitchinterval()
    sys.setswitchinterval(1.0)  # without the courtesy: 1 s waits
    try:
        spinner = threading.Thread(target=spin)
        spinner.start()
        started.wait()
        for _ in range(20):
            began = time.perf_counter()
            time.sleep(0.0005)  # gives up the GIL; needs it back to go on
            ran_at.append(time.perf_counter() - began)
    finally:
        stop.set()
        spinner.join()
        sys.setswitchinterval(old)
    # Each wake-up waited for a pause (every 0.5 ms), not for the switch
    # interval of 1 s; 0.25 s is far from both, whatever the machine's load.
    assert max(ran_at) < 0.25
