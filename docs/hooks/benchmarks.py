"""MkDocs hook: the Benchmarks page shows ``benchmarks/README.md``.

The benchmark suite documents itself in its README, next to its code; the
site includes that text instead of keeping a second copy. Its headings move
one level down (the page has its own title) and links to files of the
repository, which the site does not contain, become plain paths.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

MARKER = "<!-- benchmarks/README.md -->"
_PAGE = "benchmarks.md"
_LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_FENCE = re.compile(r"^\s*(```|~~~)")


def _is_external(target: str) -> bool:
    return bool(re.match(r"^[a-z][a-z0-9+.-]*:", target)) or target.startswith("#")


def _rewrite_link(match: re.Match[str]) -> str:
    image, text, target = match.group(1), match.group(2), match.group(3)
    if _is_external(target):
        return match.group(0)
    path = f"benchmarks/{target.removeprefix('./')}"
    if image:
        return f"*({text or 'figure'}: `{path}`)*"
    return f"{text} (`{path}`)" if text and text != target else f"`{path}`"


def adapt(readme: str) -> str:
    """Demote headings and turn repository-relative links into paths."""
    out = []
    fenced = False
    for line in readme.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            if line.startswith("#"):
                line = "#" + line
            line = _LINK.sub(_rewrite_link, line)
        out.append(line)
    return "\n".join(out) + "\n"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Replace the marker on the Benchmarks page with the README's content."""
    if page.file.src_uri != _PAGE or MARKER not in markdown:
        return markdown
    readme = Path(config.config_file_path).parent / "benchmarks" / "README.md"
    if readme.is_file():
        text = adapt(readme.read_text(encoding="utf-8"))
    else:
        text = (
            "*The benchmark suite's own description (`benchmarks/README.md`) is"
            " not in this checkout.*\n"
        )
    return markdown.replace(MARKER, text)
