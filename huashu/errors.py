"""The error every step raises for bad input: its message is for the user.

The bottom of the import graph (imports nothing from the project), so any module can raise it and
`huashu.cli` catches it without a circle: one line on stderr, no traceback, exit code 2.
"""

from __future__ import annotations


class UserError(Exception):
    """An error whose message is for the user: printed as one line, no traceback, exit 2."""
