"""Griffe extension: read alink's reStructuredText idioms in docstrings as Markdown.

alink's docstrings are Google style with a few reST idioms that read well in
``help()`` and in editors: ``:class:`~alink.Client``` roles, ``..
code-block:: python`` directives and ``Example::`` literal blocks. The API
reference is rendered by mkdocstrings, which expects Markdown; this
extension rewrites those idioms before the docstrings are parsed:

- a role becomes a code span with the role's text (``~`` keeps the last
  component, as in Sphinx);
- a directive or a ``::`` paragraph followed by an indented block becomes a
  fenced code block at the same indentation (so it stays inside a Google
  section such as ``Example:``).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(
    r":(?:py:)?(?:class|meth|func|mod|attr|exc|data|obj|const):`([^`]+)`"
)
_DIRECTIVE = re.compile(r"^(\s*)\.\. code-block::\s*(\w+)?\s*$")
_SECTION = re.compile(r"^\s*[A-Z][A-Za-z ]{0,30}:$")
_SHELL = re.compile(r"^\s*(\$ |export |python3? |pip |uvicorn |curl |alink )")


def _role(match: re.Match[str]) -> str:
    text = match.group(1).strip()
    titled = re.fullmatch(r"(.+?)\s*<([^>]+)>", text)
    if titled:
        text = titled.group(1)
    elif text.startswith("~"):
        text = text[1:].rsplit(".", 1)[-1]
    return f"``{text}``"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _language(block: list[str]) -> str:
    if any(_SHELL.match(line) for line in block):
        return "bash"
    return "python"


def convert(text: str) -> str:
    """The docstring with roles as code spans and literal blocks fenced."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        directive = _DIRECTIVE.match(line)
        literal = (
            directive is None
            and line.rstrip().endswith("::")
            and not line.lstrip().startswith("..")
        )
        if not (directive or literal):
            out.append(_ROLE.sub(_role, line))
            i += 1
            continue
        base = _indent(line)
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        if j == len(lines) or _indent(lines[j]) <= base:
            out.append(_ROLE.sub(_role, line))  # no block follows: leave it
            i += 1
            continue
        k = j
        while k < len(lines) and (not lines[k].strip() or _indent(lines[k]) > base):
            k += 1
        block = lines[j:k]
        while block and not block[-1].strip():
            block.pop()
        head = "" if directive else line.rstrip()[:-1]  # "Example::" -> "Example:"
        section = bool(_SECTION.match(head))
        if section:
            # A Google section ("Example:"): the block stays indented inside it.
            pad = " " * _indent(block[0])
        else:
            # Anywhere else the fence must start at the paragraph's indentation.
            pad = " " * base
            block = [pad + b[_indent(block[0]) :] if b.strip() else "" for b in block]
        if head.strip():
            out.append(_ROLE.sub(_role, head))
        language = (directive.group(2) if directive else None) or _language(block)
        # A section's title must be followed directly by its content.
        out += [*([] if section else [""]), f"{pad}```{language}", *block]
        out += [f"{pad}```", ""]
        i = k
    return "\n".join(out)


class RstDocstrings(griffe.Extension):
    """Rewrite reST idioms in every docstring before it is parsed."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = convert(obj.docstring.value)
