"""User-facing errors: the CLI prints ``str(err)`` as one line and exits non-zero.

Anything that is the user's fault (a missing or corrupt file, a bad option, a checkpoint
for another network) raises a subclass of :class:`LenetError`; anything else is a bug and
keeps its traceback.
"""


class LenetError(Exception):
    """A problem with what the user handed us; the message is one line and names the file."""

    exit_code = 1


class DataError(LenetError):
    """A data file is missing, corrupt, or fails its checksum."""


class CheckpointError(LenetError):
    """A checkpoint is missing, corrupt, or belongs to another architecture."""


class UsageError(LenetError):
    """An option value is out of range (negative epochs, lr <= 0, unknown name)."""

    exit_code = 2


class DivergenceError(LenetError):
    """Training produced a non-finite loss or parameter."""


class MissingDependency(LenetError):
    """An optional extra is not installed (the message names the pip command)."""


def first_line(error):
    """The first line of an exception's message (its type's name if it has none)."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
