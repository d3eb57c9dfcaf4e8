"""``alink download PID PID ...`` and ``--pids-from``: each dataset all or nothing."""

from __future__ import annotations

from pathlib import Path

from alink.cli import ExitCode

from .conftest import (
    BAD_CHECKSUM_PID,
    FILES,
    MISSING_PID,
    PUBLIC_PID,
    RAW_PID,
    Invoke,
    Site,
    links_in,
    tree,
)

UNKNOWN_PID = "20.500.12269/cli-nobody-knows"


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("alink: error: ")]


def test_each_dataset_in_its_own_folder(
    invoke: Invoke, site: Site, tmp_path: Path
) -> None:
    target = tmp_path / "out"
    result = invoke("download", RAW_PID, PUBLIC_PID, "--target", str(target))
    assert result.exit_code == 0, result.stderr
    raw = site.storage / "raw"
    assert links_in(target / "cli-raw") == {
        Path(rel).name: str(raw / rel) for rel in FILES
    }
    assert sorted(links_in(target / "cli-public")) == ["a.dat", "b.dat"]
    lines = result.stdout.splitlines()
    assert lines[0].startswith(
        f"{RAW_PID}: 5 files (34.9 KiB) ready in {target / 'cli-raw'} (5 linked;"
    )
    assert lines[1].startswith(f"{PUBLIC_PID}: 2 files (2.0 KiB) ready in")
    assert lines[-1] == f"2 of 2 datasets ready in {target}"
    assert "linking 2 datasets" in result.stderr
    assert _errors(result.stderr) == []


def test_a_failure_does_not_undo_the_others(
    invoke: Invoke, site: Site, tmp_path: Path
) -> None:
    target = tmp_path / "out"
    result = invoke(
        "download",
        MISSING_PID,
        RAW_PID,
        UNKNOWN_PID,
        "--target",
        str(target),
        "--max-concurrent",
        "1",
    )
    # Two different reasons (not accessible, not found): the "several" code.
    assert result.exit_code == ExitCode.DATASETS_FAILED
    errors = _errors(result.stderr)
    assert len(errors) == 2
    assert errors[0].startswith(f"alink: error: {MISSING_PID}: ")
    assert "not-mounted" in errors[0]
    assert errors[1].startswith(f"alink: error: {UNKNOWN_PID}: ")
    assert "Traceback" not in result.stderr
    # The good one is complete, the failed ones left nothing.
    assert tree(target) == sorted(
        ["cli-raw"] + [f"cli-raw/{Path(rel).name}" for rel in FILES]
    )
    assert result.stdout.splitlines()[-1] == (
        f"1 of 3 datasets ready in {target}; 2 failed"
    )


def test_failures_with_one_reason_exit_with_its_code(
    invoke: Invoke, tmp_path: Path
) -> None:
    target = tmp_path / "out"
    result = invoke(
        "download", RAW_PID, BAD_CHECKSUM_PID, "--target", str(target), "--checksum"
    )
    assert result.exit_code == ExitCode.INTEGRITY, result.stderr
    [error] = _errors(result.stderr)
    assert error.startswith(f"alink: error: {BAD_CHECKSUM_PID}: ")
    assert (target / "cli-raw").is_dir()
    assert not (target / "cli-bad-checksum").exists()


def test_pids_from_a_file_and_stdin(invoke: Invoke, tmp_path: Path) -> None:
    listing = tmp_path / "pids.txt"
    listing.write_text(f"# today's runs\n\n  {RAW_PID}  \n{PUBLIC_PID}\n{RAW_PID}\n")
    target = tmp_path / "out"
    result = invoke("download", "--pids-from", str(listing), "--target", str(target))
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in target.iterdir()) == ["cli-public", "cli-raw"]
    # A repeated PID is downloaded once.
    assert result.stdout.splitlines()[-1] == f"2 of 2 datasets ready in {target}"
    # Standard input, with one PID also given as an argument.
    target = tmp_path / "out2"
    result = invoke(
        "download",
        RAW_PID,
        "--pids-from",
        "-",
        "--target",
        str(target),
        input=f"{PUBLIC_PID}\n",
    )
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in target.iterdir()) == ["cli-public", "cli-raw"]


def test_one_pid_from_a_file_still_gets_its_own_folder(
    invoke: Invoke, tmp_path: Path
) -> None:
    listing = tmp_path / "pids.txt"
    listing.write_text(f"{RAW_PID}\n")
    target = tmp_path / "out"
    result = invoke("download", "--pids-from", str(listing), "--target", str(target))
    assert result.exit_code == 0, result.stderr
    assert [p.name for p in target.iterdir()] == ["cli-raw"]


def test_a_byte_order_mark_is_not_part_of_the_first_pid(
    invoke: Invoke, tmp_path: Path
) -> None:
    listing = tmp_path / "pids.txt"
    listing.write_text(f"{RAW_PID}\r\n{PUBLIC_PID}\r\n", encoding="utf-8-sig")
    target = tmp_path / "out"
    result = invoke("download", "--pids-from", str(listing), "--target", str(target))
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in target.iterdir()) == ["cli-public", "cli-raw"]


def test_no_pids_is_a_usage_error(invoke: Invoke, tmp_path: Path) -> None:
    empty = tmp_path / "none.txt"
    empty.write_text("# nothing\n\n")
    target = tmp_path / "out"
    for args in (
        ("download", "--target", str(target)),
        ("download", "--pids-from", str(empty), "--target", str(target)),
    ):
        result = invoke(*args)
        assert result.exit_code == ExitCode.USAGE
        assert len(_errors(result.stderr)) == 1
    missing = invoke(
        "download", "--pids-from", str(tmp_path / "nope"), "--target", str(target)
    )
    assert missing.exit_code == ExitCode.USAGE
    assert "nope" in missing.stderr
    assert not target.exists()


def test_select_that_matches_nothing_fails_that_dataset_only(
    invoke: Invoke, tmp_path: Path
) -> None:
    target = tmp_path / "out"
    result = invoke(
        "download",
        RAW_PID,
        PUBLIC_PID,
        "--target",
        str(target),
        "--select",
        r"^scan1/",
    )
    assert result.exit_code == ExitCode.USAGE
    [error] = _errors(result.stderr)
    assert error.startswith(f"alink: error: {PUBLIC_PID}: no file of dataset")
    assert sorted(links_in(target)) == ["cli-raw/frame1.h5", "cli-raw/frame2.h5"]


def test_quiet_prints_failures_only(invoke: Invoke, tmp_path: Path) -> None:
    target = tmp_path / "out"
    result = invoke(
        "download", RAW_PID, MISSING_PID, "--target", str(target), "--quiet"
    )
    assert result.exit_code == ExitCode.NOT_ACCESSIBLE
    assert result.stdout == ""
    assert len(_errors(result.stderr)) == 1
    assert "linking" not in result.stderr


def test_copy_and_keep_tree_apply_to_every_dataset(
    invoke: Invoke, tmp_path: Path
) -> None:
    target = tmp_path / "out"
    result = invoke(
        "download",
        RAW_PID,
        PUBLIC_PID,
        "--target",
        str(target),
        "--copy",
        "--keep-tree",
    )
    assert result.exit_code == 0, result.stderr
    assert links_in(target) == {}
    for rel, data in FILES.items():
        assert (target / "cli-raw" / rel).read_bytes() == data
    assert "copied" in result.stdout


def test_a_symlinked_target_is_refused_for_several_datasets_too(
    invoke: Invoke, site: Site, tmp_path: Path
) -> None:
    # As for one dataset: a target folder that is a symlink could have been
    # planted to redirect the download; the command line says what to do.
    real = tmp_path / "real"
    real.mkdir()
    target = tmp_path / "out"
    target.symlink_to(real)
    for pids in ([RAW_PID], [RAW_PID, PUBLIC_PID]):
        result = invoke("download", *pids, "--target", str(target))
        assert result.exit_code == ExitCode.UNSAFE_PATH, result.stderr
        assert "is a symlink to" in result.stderr
        assert "give the folder it leads to as --target" in result.stderr
        assert "=True" not in result.stderr
        assert list(real.iterdir()) == []
    result = invoke("download", RAW_PID, PUBLIC_PID, "--target", str(real))
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in real.iterdir()) == ["cli-public", "cli-raw"]
