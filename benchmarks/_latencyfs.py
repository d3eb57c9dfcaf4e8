"""A read-only passthrough FUSE filesystem that adds latency to every operation.

It stands in for network storage (NFS, GPFS, CephFS seen from a client): each
request the kernel sends — lookup/getattr, opendir, readdir, readlink, open,
read, statfs, access — sleeps ``--latency`` seconds before it is answered.
Kernel caching of entries and attributes is off by default (timeouts 0), so
every metadata operation really reaches this "server"; readdir answers with
each entry's type, so ``os.scandir``'s ``DirEntry.is_file()`` needs no extra
``stat``.

Run as a script in its own process (the benchmark does this)::

    python _latencyfs.py BACKING MOUNTPOINT [--latency 0.001] [--cache-timeout 0]

It prints ``ready`` on stdout once the kernel has initialised the mount, then
answers one JSON line per command read on stdin: ``counts`` (operations per
name since the last reset) or ``reset``. When stdin closes (the benchmark
ended or died) it unmounts itself.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import shutil
import stat
import subprocess
import sys
import threading
import time
from collections import Counter
from typing import Any

import mfusepy as fuse  # type: ignore[import-untyped]

_STAT_KEYS = (
    "st_mode",
    "st_ino",
    "st_nlink",
    "st_uid",
    "st_gid",
    "st_size",
    "st_atime",
    "st_mtime",
    "st_ctime",
)


def _type_mode(entry: os.DirEntry[str]) -> int:
    """The file-type bits of a directory entry (from its d_type: no stat)."""
    if entry.is_symlink():
        return stat.S_IFLNK
    if entry.is_dir(follow_symlinks=False):
        return stat.S_IFDIR
    if entry.is_file(follow_symlinks=False):
        return stat.S_IFREG
    return stat.S_IFMT(entry.stat(follow_symlinks=False).st_mode)


class LatencyFS(fuse.Operations):  # type: ignore[misc]
    """Passthrough to ``backing`` with ``latency`` seconds per operation."""

    use_ns = True

    def __init__(
        self, backing: str, mountpoint: str, latency: float, cache_timeout: float
    ) -> None:
        self.backing = backing.rstrip("/")
        self.mountpoint = mountpoint
        self.latency = latency
        self.cache_timeout = cache_timeout
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    # ------------------------------------------------------------- machinery

    def _op(self, name: str) -> None:
        with self._lock:
            self.counts[name] += 1
        if self.latency > 0:
            time.sleep(self.latency)

    def _real(self, path: str) -> str:
        return self.backing + path

    def init_with_config(self, conn: Any, config: Any) -> None:
        if config is not None:
            config.entry_timeout = self.cache_timeout
            config.attr_timeout = self.cache_timeout
            config.negative_timeout = self.cache_timeout
        print("ready", flush=True)
        threading.Thread(target=self._control, daemon=True).start()

    def _control(self) -> None:
        """Answer ``counts``/``reset`` on stdin; unmount when stdin closes."""
        for line in sys.stdin:
            command = line.strip()
            with self._lock:
                if command == "counts":
                    reply = json.dumps(dict(self.counts))
                elif command == "reset":
                    self.counts.clear()
                    reply = "{}"
                else:
                    reply = json.dumps({"error": f"unknown command {command!r}"})
            print(reply, flush=True)
        tool = shutil.which("fusermount3") or "fusermount"
        subprocess.run([tool, "-u", "-z", self.mountpoint], check=False)

    # ------------------------------------------------------------ operations

    def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
        self._op("getattr")
        try:
            st = os.lstat(self._real(path))
        except OSError as exc:
            raise fuse.FuseOSError(exc.errno) from None
        attrs = {key: getattr(st, key) for key in _STAT_KEYS}
        for key in ("st_atime", "st_mtime", "st_ctime"):
            attrs[key] = getattr(st, key + "_ns")
        return attrs

    def access(self, path: str, amode: int) -> int:
        self._op("access")
        if not os.access(self._real(path), amode, follow_symlinks=False):
            raise fuse.FuseOSError(errno.EACCES)
        return 0

    def opendir(self, path: str) -> int:
        self._op("opendir")
        if not os.path.isdir(self._real(path)):
            raise fuse.FuseOSError(errno.ENOTDIR)
        return 0

    def readdir(self, path: str, fh: int) -> list[Any]:
        self._op("readdir")
        entries: list[Any] = [".", ".."]
        try:
            with os.scandir(self._real(path)) as listing:
                entries += [(e.name, {"st_mode": _type_mode(e)}, 0) for e in listing]
        except OSError as exc:
            raise fuse.FuseOSError(exc.errno) from None
        return entries

    def releasedir(self, path: str, fh: int) -> int:
        self._op("releasedir")
        return 0

    def readlink(self, path: str) -> str:
        self._op("readlink")
        try:
            return os.readlink(self._real(path))
        except OSError as exc:
            raise fuse.FuseOSError(exc.errno) from None

    def open(self, path: str, flags: int) -> int:
        self._op("open")
        if flags & (os.O_WRONLY | os.O_RDWR):
            raise fuse.FuseOSError(errno.EROFS)
        try:
            return os.open(self._real(path), flags)
        except OSError as exc:
            raise fuse.FuseOSError(exc.errno) from None

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        self._op("read")
        return os.pread(fh, size, offset)

    def release(self, path: str, fh: int) -> int:
        self._op("release")
        os.close(fh)
        return 0

    def statfs(self, path: str) -> dict[str, Any]:
        self._op("statfs")
        sv = os.statvfs(self._real(path))
        return {
            key: getattr(sv, key)
            for key in (
                "f_bavail",
                "f_bfree",
                "f_blocks",
                "f_bsize",
                "f_favail",
                "f_ffree",
                "f_files",
                "f_flag",
                "f_frsize",
                "f_namemax",
            )
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("backing")
    parser.add_argument("mountpoint")
    parser.add_argument("--latency", type=float, default=0.001)
    parser.add_argument("--cache-timeout", type=float, default=0.0)
    args = parser.parse_args()
    operations = LatencyFS(
        args.backing, args.mountpoint, args.latency, args.cache_timeout
    )
    fuse.FUSE(operations, args.mountpoint, foreground=True, ro=True, fsname="latencyfs")


if __name__ == "__main__":
    main()
