"""Paths on the remote file server, kept apart from local :class:`pathlib.Path`."""

from __future__ import annotations

import re
from pathlib import PurePath, PurePosixPath

__all__ = ["RemotePath"]

#: ``scheme://authority`` at the start of a URL-like path (RFC 3986 scheme).
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/]*")


def _url_root(text: str) -> int:
    """Length of the ``scheme://authority`` part of ``text`` (0: not a URL)."""
    if "://" not in text:
        return 0
    match = _URL.match(text)
    return match.end() if match else 0


def _clean(text: str) -> str:
    """Collapse repeated slashes and ``.`` segments; keep ``..`` (lexical only).

    A URL-like path (``https://server.eu/x``) keeps its ``scheme://authority``
    as written; only the part after it is normalised.
    """
    if "\x00" in text:
        # Checked here so that no later code path can hand a NUL to the OS.
        from ._errors import UnsafePathError

        raise UnsafePathError(f"remote path contains a NUL byte: {text!r}")
    if not text:
        return ""
    if "//" not in text and "/." not in text and not text.startswith("./"):
        return text.rstrip("/") or "/" if text.endswith("/") else text
    root = _url_root(text)
    if root:
        rest = _clean("/" + text[root:])
        return text[:root] + (rest if rest != "/" else "")
    absolute = text.startswith("/")
    parts = [p for p in text.split("/") if p and p != "."]
    body = "/".join(parts)
    if absolute:
        return "/" + body
    return body or "."


class RemotePath:
    """A POSIX path on the file server that holds a dataset's files.

    Remote and local paths are different types on purpose: the remote side may
    be mounted somewhere else locally, or not at all. ``RemotePath`` accepts
    only ``str`` and ``RemotePath`` segments; convert local paths explicitly
    with :meth:`from_local`.

    The text is normalised lexically (``a//b/./c`` is ``a/b/c``) but ``..``
    segments are kept until :meth:`resolve` is called. A ``RemotePath`` is
    equal to (and hashes like) the ``str`` of its normalised text only:
    ``RemotePath("./sub/x") == "sub/x"``, but ``RemotePath("sub/x") ==
    "./sub/x"`` is false; compare with ``RemotePath(text)`` to normalise both.
    """

    __slots__ = ("_path",)

    _path: str

    def __init__(self, *segments: str | RemotePath) -> None:
        texts: list[str] = []
        for segment in segments:
            if isinstance(segment, RemotePath):
                texts.append(segment._path)
            elif isinstance(segment, str):
                texts.append(segment)
            elif isinstance(segment, PurePath):
                raise TypeError(
                    "RemotePath does not take local paths; "
                    "use RemotePath.from_local(path)"
                )
            else:
                raise TypeError(
                    f"expected str or RemotePath, got {type(segment).__name__}"
                )
        path = ""
        for text in texts:
            if not text:
                continue
            path = text if text.startswith("/") or not path else f"{path}/{text}"
        self._path = _clean(path)

    @classmethod
    def _from_clean(cls, text: str) -> RemotePath:
        new = object.__new__(cls)
        new._path = text
        return new

    @classmethod
    def from_local(cls, path: PurePath) -> RemotePath:
        """Make a remote path from a local one (use with relative paths)."""
        return cls(path.as_posix())

    def to_local(self) -> PurePath:
        """The file name as a local path; parent folders are dropped."""
        return PurePath(self.name)

    @property
    def posix(self) -> str:
        """The path as a string with forward slashes."""
        return self._path

    @property
    def name(self) -> str:
        """The last segment (``''`` for the root or an empty path)."""
        return self._path.rpartition("/")[2] if self._path != "/" else ""

    @property
    def suffix(self) -> str | None:
        """The file extension including its dot, or ``None`` if there is none."""
        return PurePosixPath(self.name).suffix or None

    @property
    def parent(self) -> RemotePath:
        """The logical parent: ``/a/b`` -> ``/a``; ``a`` -> ``.``; ``/`` -> ``/``.

        The parent of a URL's root (``https://server.eu``) is itself.
        """
        head, sep, _ = self._path.rpartition("/")
        if sep and len(head) < _url_root(self._path):
            return self
        if not sep:
            return RemotePath._from_clean(".")
        return RemotePath._from_clean(head or "/")

    @property
    def parts(self) -> tuple[str, ...]:
        """The segments; an absolute path starts with ``'/'``."""
        if not self._path:
            return ()
        segments = tuple(p for p in self._path.split("/") if p)
        return ("/", *segments) if self.is_absolute() else segments

    def is_absolute(self) -> bool:
        """Whether the path starts at the root."""
        return self._path.startswith("/")

    def resolve(self) -> RemotePath:
        """Remove ``..`` segments lexically; symlinks are not looked at.

        Leading ``..`` of a relative path are kept (``../../x`` stays), and
        ``..`` at the root of an absolute path stays at the root.
        """
        if ".." not in self._path:
            return self
        root = _url_root(self._path)
        if root:
            rest = RemotePath._from_clean("/" + self._path[root + 1 :]).resolve()
            return RemotePath._from_clean(
                self._path[:root] + (rest._path if rest._path != "/" else "")
            )
        absolute = self.is_absolute()
        stack: list[str] = []
        for part in self._path.split("/"):
            if not part or part == ".":
                continue
            if part == "..":
                if stack and stack[-1] != "..":
                    stack.pop()
                elif not absolute:
                    stack.append(part)
            else:
                stack.append(part)
        body = "/".join(stack)
        return RemotePath._from_clean("/" + body if absolute else body or ".")

    def is_relative_to(self, other: str | RemotePath) -> bool:
        """Whether ``other`` is this path or one of its ancestors, by whole segments.

        Both sides are compared as written; call :meth:`resolve` first to
        remove ``..``. ``/data/ab`` is not relative to ``/data/a``.
        """
        base = other._path if isinstance(other, RemotePath) else RemotePath(other)._path
        if base in ("", "."):
            return not self.is_absolute() and not self._path.startswith("..")
        if base == "/":
            return self.is_absolute()
        return self._path == base or self._path.startswith(base + "/")

    def relative_to(self, other: str | RemotePath) -> RemotePath:
        """This path relative to ``other``; ``ValueError`` if it is not inside."""
        base = other if isinstance(other, RemotePath) else RemotePath(other)
        if not self.is_relative_to(base):
            raise ValueError(f"{self._path!r} is not inside {base._path!r}")
        if self._path == base._path:
            return RemotePath._from_clean(".")
        if base._path in ("", "."):
            return self
        cut = len(base._path) if base._path == "/" else len(base._path) + 1
        return RemotePath._from_clean(self._path[cut:])

    def truncated(self, max_length: int = 255) -> RemotePath:
        """A copy with every segment cut to at most ``max_length`` characters.

        File names keep their suffix where they can (``a-long-name.nxs`` becomes
        ``a-lo.nxs`` rather than losing ``.nxs``), and at least one character
        of the name before it. The default is the usual limit of Linux file
        systems.
        """
        if isinstance(max_length, bool) or not isinstance(max_length, int):
            raise TypeError("max_length must be an integer")
        if max_length < 1:
            raise ValueError(f"max_length must be at least 1, got {max_length}")

        def cut(segment: str) -> str:
            if len(segment) <= max_length:
                return segment
            stem, dot, suffix = segment.rpartition(".")
            if not dot or not stem:
                return segment[:max_length]
            ending = "." + suffix
            keep = max(1, max_length - len(ending))
            return (stem[:keep] + ending)[:max_length]

        root = _url_root(self._path)
        head, body = self._path[:root], self._path[root:]
        return RemotePath._from_clean(head + "/".join(map(cut, body.split("/"))))

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (_from_text, (self._path,))

    def __truediv__(self, other: str | RemotePath) -> RemotePath:
        if isinstance(other, PurePath):
            raise TypeError("cannot join a RemotePath with a local path")
        if not isinstance(other, str | RemotePath):
            return NotImplemented
        return RemotePath(self, other)

    def __rtruediv__(self, other: str) -> RemotePath:
        if not isinstance(other, str):
            return NotImplemented
        return RemotePath(other, self)

    def __eq__(self, other: object) -> bool:
        """Same normalised path; a ``str`` must be exactly :attr:`posix`.

        A string is not normalised before the comparison: ``__hash__`` is the
        hash of the normalised text, and ``a == b`` must imply ``hash(a) ==
        hash(b)`` or dict and set lookups with a string key miss silently.
        Scitacean also compares with a string exactly.
        """
        if isinstance(other, RemotePath):
            return self._path == other._path
        if isinstance(other, str):
            return self._path == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._path)

    def __str__(self) -> str:
        return self._path

    def __repr__(self) -> str:
        return f"RemotePath({self._path!r})"


def _from_text(text: str) -> RemotePath:
    """Unpickle a :class:`RemotePath` (its text is already normalised)."""
    return RemotePath._from_clean(text)
