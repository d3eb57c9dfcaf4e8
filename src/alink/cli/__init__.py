"""The ``alink`` command line.

``alink demo`` shows alink working on one machine; ``alink download`` links
or copies a dataset's files; ``alink show`` prints a dataset and its files.
Run ``alink --help`` for the options; the exit codes are listed there and in
the documentation.
"""

from ._app import cli, main
from ._exit import ExitCode

__all__ = ["ExitCode", "cli", "main"]
