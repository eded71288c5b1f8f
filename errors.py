"""One exception type for bad user input: the CLI prints its message on one line and exits non-zero."""


class UserError(Exception):
    """Raised for input the user can fix (unknown task, bad parameter, missing weights, offline hub id...)."""
