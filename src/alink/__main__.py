"""``python -m alink``: the ``alink`` command."""

from .cli import main

main()
