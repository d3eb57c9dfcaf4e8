"""The batch engine on its own: settings, worker threads, slices, cancellation."""

from __future__ import annotations

import errno
import hashlib
import itertools
import os
import threading
import time
from pathlib import Path

import anyio
import pytest

from alink import Engine
from alink._errors import FolderTimesError
from alink.transfer import _fs
from alink.transfer._engine import _PairTrial, _usable_cpus
from alink.transfer._fs import SymlinkOperation

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    "settings",
    [
        {"max_workers": 0},
        {"start_workers": 0},
        {"min_batch": 0},
        {"min_batch": 10, "max_batch": 5},
        {"pair_gain": 0},
    ],
)
def test_bad_settings_are_refused(settings: dict[str, int]) -> None:
    with pytest.raises(ValueError, match=r"must be|need"):
        Engine(**settings)


def test_small_runs_use_one_worker() -> None:
    engine = Engine(start_workers=2)
    assert engine._start_workers(10) == 1
    assert engine._start_workers(100_000) == 2
    assert Engine(start_workers=2, max_workers=1)._start_workers(100_000) == 1


class Recorder:
    """A batch function that records which items ran, and on which thread."""

    def __init__(self, seconds: float = 0.0, fail_at: int | None = None) -> None:
        self.seen: list[int] = []
        self.batches = 0
        self.running = 0
        self.most_at_once = 0
        self.seconds = seconds
        self.fail_at = fail_at
        self._lock = threading.Lock()

    def __call__(self, start: int, stop: int) -> BaseException | None:
        with self._lock:
            self.batches += 1
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            if self.seconds:
                time.sleep(self.seconds)
            for i in range(start, stop):
                if i == self.fail_at:
                    return OSError(f"item {i} failed")
                self.work()
                with self._lock:
                    self.seen.append(i)
            return None
        finally:
            with self._lock:
                self.running -= 1

    def work(self) -> None:
        """What each item costs besides the batch's sleep (nothing here)."""


async def test_every_item_runs_once_on_two_workers() -> None:
    engine = Engine(start_workers=2, max_workers=2, max_batch=32, slice_seconds=0)
    batch = Recorder(seconds=0.001)
    await engine._run_parallel(batch, 2000, anyio.CapacityLimiter(8))
    assert sorted(batch.seen) == list(range(2000))
    assert batch.most_at_once == 2


async def test_waiting_items_get_more_workers() -> None:
    engine = Engine(start_workers=1, max_workers=4, max_batch=8, slice_seconds=0)
    batch = Recorder(seconds=0.002)  # sleeping: the thread waits, not works
    await engine._run_parallel(batch, 400, anyio.CapacityLimiter(8))
    assert sorted(batch.seen) == list(range(400))
    assert batch.most_at_once > 1


async def test_progress_after_every_batch_with_no_slice() -> None:
    engine = Engine(start_workers=1, min_batch=10, max_batch=10, slice_seconds=0)
    batch = Recorder()
    reports: list[int] = []
    await engine._run_parallel(batch, 100, anyio.CapacityLimiter(1), reports.append)
    assert reports == [10] * 10


async def test_a_slice_reports_many_batches_at_once() -> None:
    engine = Engine(start_workers=1, min_batch=10, max_batch=10, slice_seconds=10)
    batch = Recorder()
    reports: list[int] = []
    await engine._run_parallel(batch, 100, anyio.CapacityLimiter(1), reports.append)
    assert reports == [100]
    assert batch.batches == 10


async def test_an_error_stops_the_other_workers() -> None:
    engine = Engine(start_workers=2, min_batch=10, max_batch=10, slice_seconds=10)
    batch = Recorder(seconds=0.002, fail_at=55)
    with pytest.raises(OSError, match="item 55 failed"):
        await engine._run_parallel(batch, 10_000, anyio.CapacityLimiter(2))
    # The other worker finished at most its current batch.
    assert len(batch.seen) < 200


async def test_cancellation_reaches_a_running_slice_between_batches() -> None:
    engine = Engine(start_workers=1, min_batch=10, max_batch=10, slice_seconds=60)
    batch = Recorder(seconds=0.002)
    began = time.perf_counter()
    with anyio.move_on_after(0.05):
        await engine._run_parallel(batch, 100_000, anyio.CapacityLimiter(1))
    # A 60 s slice of 2 ms batches stopped soon after the deadline.
    assert time.perf_counter() - began < 1.0
    assert 0 < len(batch.seen) < 100_000


async def test_sequential_chunks_cover_the_range_in_order() -> None:
    engine = Engine()
    seen: list[tuple[int, int]] = []
    await engine.run_chunked(lambda a, b: seen.append((a, b)), 50_000, initial=100)
    # The first chunk (100 items) goes to the function in four pieces, with
    # a GIL courtesy between them (see _gil).
    assert seen[:4] == [(0, 25), (25, 50), (50, 75), (75, 100)]
    assert [b for _, b in seen][-1] == 50_000
    assert all(a == b for (_, a), (b, _) in itertools.pairwise(seen))


async def test_a_failing_piece_stops_the_rest_of_its_chunk() -> None:
    engine = Engine()
    seen: list[tuple[int, int]] = []

    def func(a: int, b: int) -> BaseException | None:
        seen.append((a, b))
        return ValueError("bad item") if a <= 30 < b else None

    with pytest.raises(ValueError, match="bad item"):
        await engine.run_chunked(func, 1000, initial=100)
    assert seen == [(0, 25), (25, 50)]


async def test_steps_stop_between_steps_when_cancelled() -> None:
    engine = Engine(slice_seconds=60)
    steps = 0

    def job() -> object:
        nonlocal steps
        for _ in range(100_000):
            time.sleep(0.001)
            steps += 1
            yield

    began = time.perf_counter()
    with anyio.move_on_after(0.05):
        await engine.run_steps([job()])
    assert time.perf_counter() - began < 1.0
    assert 0 < steps < 100_000


class _Finisher:
    """A finisher whose commit fails and whose undo has a bug."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def commit(self) -> None:
        self.calls.append("commit")
        raise OSError("the commit failed")

    def undo(self) -> list[BaseException]:
        self.calls.append("undo")
        raise RuntimeError("a bug in undo")

    def restore(self, undone: bool) -> list[BaseException]:
        self.calls.append(f"restore {undone}")
        return []


async def test_a_failing_finisher_keeps_the_first_error_and_rolls_back(
    tmp_path: Path,
) -> None:
    sources = [str(tmp_path / f"s{i}") for i in range(20)]
    targets = [str(tmp_path / "out" / f"t{i}") for i in range(20)]
    finisher = _Finisher()
    with pytest.raises(OSError, match="the commit failed") as info:
        await Engine().run(
            SymlinkOperation(),
            sources,
            targets,
            folders=[str(tmp_path / "out")],
            finish=finisher,
        )
    assert "a bug in undo" in "\n".join(info.value.__notes__)
    # The bug is a problem of the rollback: restore is told it left something.
    assert finisher.calls == ["commit", "undo", "restore False"]
    assert not (tmp_path / "out").exists()  # every link and the folder undone


def test_pair_trial_pairs_after_the_solo_slices_then_judges_the_pair() -> None:
    trial = _PairTrial(gain=1.15)
    assert trial.observe(0, began=0.0, done=1000, seconds=0.010) == ""
    assert trial.observe(0, began=0.01, done=1000, seconds=0.005) == "pair"
    trial.paired(now=0.02)
    # A slice begun before the pair started ran partly alone: not counted.
    assert trial.observe(0, began=0.015, done=1000, seconds=0.01) == ""
    # Together 100k + 60k items/s against 200k alone (the best solo slice).
    assert trial.observe(1, began=0.02, done=1000, seconds=0.01) == ""
    assert trial.observe(0, began=0.03, done=600, seconds=0.01) == "retire"
    assert trial.verdict is False
    assert trial.observe(1, began=0.05, done=1, seconds=1.0) == ""


def test_a_retired_pair_is_tried_again_later_and_later() -> None:
    trial = _PairTrial(gain=1.15)
    trial.observe(0, began=0.0, done=1000, seconds=0.01)
    assert trial.observe(0, began=0.01, done=1000, seconds=0.01) == "pair"
    trial.paired(now=0.02)
    trial.observe(1, began=0.02, done=500, seconds=0.01)
    assert trial.observe(0, began=0.02, done=500, seconds=0.01) == "retire"
    # The other worker's last slice ran beside it: not a solo slice.
    assert trial.observe(1, began=0.025, done=100, seconds=0.01) == ""
    steps = [
        trial.observe(0, began=0.03 + k * 0.01, done=1000, seconds=0.01)
        for k in range(_PairTrial.RETRY_SLICES)
    ]
    assert steps == [""] * (_PairTrial.RETRY_SLICES - 1) + ["pair"]
    trial.paired(now=0.2)
    trial.observe(0, began=0.2, done=500, seconds=0.01)
    assert trial.observe(1, began=0.2, done=500, seconds=0.01) == "retire"
    # Twice as long before the third try; that one pays off and is kept.
    steps = [
        trial.observe(0, began=0.3 + k * 0.01, done=1000, seconds=0.01)
        for k in range(2 * _PairTrial.RETRY_SLICES)
    ]
    assert steps.index("pair") == 2 * _PairTrial.RETRY_SLICES - 1
    trial.paired(now=0.5)
    trial.observe(0, began=0.5, done=900, seconds=0.01)
    assert trial.observe(1, began=0.5, done=900, seconds=0.01) == ""
    assert trial.verdict is True
    assert trial.observe(0, began=0.6, done=1, seconds=1.0) == ""  # kept for good


def test_pair_trial_keeps_a_pair_that_pays_off() -> None:
    trial = _PairTrial(gain=1.15)
    trial.observe(0, began=0.0, done=100, seconds=0.01)
    assert trial.observe(0, began=0.01, done=100, seconds=0.01) == "pair"
    trial.paired(now=0.02)
    assert trial.observe(0, began=0.02, done=0, seconds=0.01) == ""  # no items
    assert trial.observe(0, began=0.02, done=80, seconds=0.01) == ""
    assert trial.observe(0, began=0.03, done=90, seconds=0.01) == ""  # same worker
    assert trial.observe(1, began=0.03, done=80, seconds=0.01) == ""
    assert trial.verdict is True


class Contended:
    """Fast items that two threads run slower than one (as when they only
    fight over the GIL): while two batches run, each goes at a third of the
    speed. Records how many batches ran at each batch's start."""

    def __init__(self) -> None:
        self.seen: list[int] = []
        self.entries: list[int] = []
        self.inside = 0
        self._lock = threading.Lock()

    def __call__(self, start: int, stop: int) -> BaseException | None:
        with self._lock:
            self.inside += 1
            self.entries.append(self.inside)
        try:
            self.work(start)
            with self._lock:
                self.seen.extend(range(start, stop))
            return None
        finally:
            with self._lock:
                self.inside -= 1

    def work(self, start: int) -> None:
        """One batch's work (``start``: its first item)."""
        for _ in range(5):  # 0.5 ms alone, 1.5 ms side by side
            time.sleep(0.0003 if self.inside > 1 else 0.0001)


async def test_a_second_worker_that_does_not_pay_off_is_retired() -> None:
    engine = Engine(min_batch=1000, max_batch=1000, slice_seconds=0.01)
    batch = Contended()  # 0.5 µs an item: fast items, the pair trial applies
    await engine._run_parallel(batch, 600_000, anyio.CapacityLimiter(8))
    assert sorted(batch.seen) == list(range(600_000))
    assert max(batch.entries) == 2  # the pair was tried ...
    # ... and retired each time (it is tried again now and then).
    assert batch.entries.count(2) < len(batch.entries) / 8


class TurnsOverlapping(Contended):
    """Contended at first (a busy moment), then fast items whose batches
    overlap (two threads twice as fast): a pair retired early must get
    another chance."""

    def __init__(self, contended_until: int) -> None:
        super().__init__()
        self._until = contended_until

    def work(self, start: int) -> None:
        if start < self._until:
            super().work(start)
        else:
            time.sleep(0.0005)


async def test_a_retired_pair_gets_another_chance() -> None:
    engine = Engine(min_batch=1000, max_batch=1000, slice_seconds=0.01)
    batch = TurnsOverlapping(contended_until=50_000)
    await engine._run_parallel(batch, 800_000, anyio.CapacityLimiter(8))
    assert sorted(batch.seen) == list(range(800_000))
    last = batch.entries[-len(batch.entries) // 3 :]
    assert last.count(2) > len(last) / 2  # the pair came back and stayed


async def test_a_second_worker_that_pays_off_is_kept() -> None:
    engine = Engine(min_batch=1000, max_batch=1000, slice_seconds=0.01)
    batch = Recorder(seconds=0.0005)  # sleeping threads overlap: twice as fast
    await engine._run_parallel(batch, 600_000, anyio.CapacityLimiter(8))
    assert sorted(batch.seen) == list(range(600_000))
    assert batch.most_at_once == 2


class Hashing(Recorder):
    """Slow items that keep their thread working (hashing, as ``verify``
    does): ~1 ms of md5 each, with the GIL released, as hashlib does."""

    _DATA = bytes(1 << 19)

    def work(self) -> None:
        hashlib.md5(self._DATA).digest()


@pytest.mark.skipif(_usable_cpus() < 2, reason="needs two CPUs")
async def test_slow_working_items_start_with_the_default_two_workers() -> None:
    """Slow items end the pair trial; the run then has the workers a run
    starts with by default (two here), as checksum verification needs to
    use both CPUs."""
    engine = Engine(min_batch=4, max_batch=4, slice_seconds=0.01)
    batch = Hashing()
    await engine._run_parallel(batch, 400, anyio.CapacityLimiter(8))
    assert sorted(batch.seen) == list(range(400))
    # Two at least (more when a loaded machine makes the threads look as if
    # they waited: the rule for slow storage then adds some).
    assert batch.most_at_once >= 2


async def test_an_explicit_worker_count_is_not_second_guessed() -> None:
    engine = Engine(start_workers=2, min_batch=1000, max_batch=1000, slice_seconds=0.01)
    batch = Contended()
    await engine._run_parallel(batch, 200_000, anyio.CapacityLimiter(8))
    assert max(batch.entries[-len(batch.entries) // 3 :]) == 2


class _Stop(BaseException):
    """Not an ``Exception``: what a worker's ``except Exception`` lets through."""


@pytest.mark.parametrize("error", [_Stop, SystemExit])
@pytest.mark.parametrize("where", ["progress", "verify"])
async def test_a_base_exception_from_a_callback_is_raised_alone_and_undone(
    tmp_path: Path, error: type[BaseException], where: str
) -> None:
    """CONTRACT §3.5: one exception, not a group, even if it is no ``Exception``
    (a ``SystemExit`` inside a group would not even exit cleanly)."""
    sources = [str(tmp_path / f"s{i}") for i in range(2000)]
    targets = [str(tmp_path / "out" / f"t{i}") for i in range(2000)]
    calls = 0

    def callback(*_: object) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise error("stop")

    engine = Engine(start_workers=2, min_batch=8, max_batch=8, slice_seconds=0)
    with pytest.raises(error, match="stop") as info:
        await engine.run(
            SymlinkOperation(),
            sources,
            targets,
            folders=[str(tmp_path / "out")],
            **{where: callback},  # type: ignore[arg-type]
        )
    assert type(info.value) is error
    assert not (tmp_path / "out").exists()  # every link and the folder undone


def _refused_utime(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``os.utime`` fails as in a folder one may write to but does not own
    (mode 1777, another owner); returns the paths it was asked for."""
    asked: list[str] = []

    def utime(path: str, *args: object, **kwargs: object) -> None:
        asked.append(path)
        raise PermissionError(errno.EPERM, os.strerror(errno.EPERM))

    monkeypatch.setattr(os, "utime", utime)
    return asked


def test_restore_dirs_leaves_the_times_of_an_unchanged_folder_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    st = tmp_path.stat()
    asked = _refused_utime(monkeypatch)
    times = {str(tmp_path): (st.st_atime_ns, st.st_mtime_ns)}
    assert _fs.restore_dirs([], times) == []
    assert asked == []  # nothing to put back: not even tried


def test_restore_dirs_names_a_folder_whose_time_it_cannot_put_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    times = {str(tmp_path): (10**18, 10**18)}  # recorded; it changed since
    _refused_utime(monkeypatch)
    [problem] = _fs.restore_dirs([], times)
    assert isinstance(problem, FolderTimesError)
    assert problem.errno == errno.EPERM
    assert problem.filename == str(tmp_path)
    assert "modification time" in str(problem)


async def _refused_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pairs: list[str]
) -> tuple[FileExistsError, list[str]]:
    """Link ``pairs`` into ``out``, whose existing file ``mine`` refuses, with
    ``os.utime`` refused (see :func:`_refused_utime`)."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine").write_text("the user's")
    os.utime(out, ns=(10**18, 10**18))  # before anything this run does
    asked = _refused_utime(monkeypatch)
    sources = [str(tmp_path / f"s{i}") for i in range(len(pairs))]
    with pytest.raises(FileExistsError) as info:
        await Engine(start_workers=1).run(
            SymlinkOperation(),
            sources,
            [str(out / name) for name in pairs],
            folders=[str(out)],
        )
    return info.value, asked


async def test_an_unchanged_folder_one_does_not_own_gets_no_rollback_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # It fails on its first pair: nothing was made, the folder is unchanged.
    error, asked = await _refused_run(tmp_path, monkeypatch, ["mine"])
    assert getattr(error, "__notes__", []) == []
    assert asked == []


async def test_a_folder_time_not_put_back_is_no_entry_that_may_remain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    error, asked = await _refused_run(tmp_path, monkeypatch, ["new", "mine"])
    out = str(tmp_path / "out")
    assert asked == [out]
    assert sorted(os.listdir(out)) == ["mine"]  # the link was undone
    [note] = error.__notes__
    assert "may remain" not in note
    assert "could not put back the modification time of 1 folder(s)" in note
    assert repr(out) in note
