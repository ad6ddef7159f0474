"""The one error type the project raises for problems a user can fix, and how entry points report it."""

import sys


class UserError(Exception):
    """A problem in the user's params, data or setup: the message says what to fix (file, line, field).

    Library code raises it and never ends the process; the entry points (the stages through
    stages/__init__.py, the `reproqa` command) print it as one line, without a traceback, and exit with 1.
    """


def report_user_errors(kind, error, traceback, default=sys.__excepthook__) -> None:
    """A sys.excepthook: a UserError becomes `error: <message>` and exit status 1 (Python's exit status
    for an uncaught exception); anything else keeps its traceback."""
    if isinstance(error, UserError):
        print(f"error: {error}", file=sys.stderr)
    else:
        default(kind, error, traceback)
