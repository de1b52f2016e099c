"""One exception family for everything a user can cause.

The CLI catches :class:`VidcolorError`, prints its message on one line and exits
non-zero without a traceback. Messages name the file and the fix.
"""


class VidcolorError(Exception):
    """Base class: an error the user can act on (bad input, bad option, missing weights)."""

    exit_code = 1


class InputError(VidcolorError):
    """The input is missing, unreadable, not media, corrupt, or has no frames."""


class OutputError(VidcolorError):
    """The output cannot be written (exists, equals the input, folder not writable)."""


class WeightsError(VidcolorError):
    """Weights are missing, corrupt, of the wrong architecture or fail their checksum."""


class OptionError(VidcolorError):
    """An option value is out of range or inconsistent with the input."""


class StageError(VidcolorError):
    """A stage of a run failed (reading, the model, writing): the message names the stage,
    the frames and the file, and the cause."""
