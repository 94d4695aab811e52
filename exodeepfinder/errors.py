"""Exceptions shared by the library and the command-line tools."""


class InputError(ValueError):
    """A problem with the user's input (a file, a folder or an option).

    The message is one line that names the file or option and says what is wrong;
    the command-line tools print it without a traceback and exit with status 2.
    """


class Cancelled(Exception):
    """Raised when a progress callback asks long work to stop (e.g. a GUI's Cancel button)."""
