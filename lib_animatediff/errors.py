"""Errors that reach the user: each message says what is wrong and with which file."""


class AnimateDiffError(Exception):
    """Base class for errors this extension reports to the user (UI and API)."""


class MotionModuleFileError(AnimateDiffError):
    """A file could not be read as a motion module (unreadable, truncated, unsafe, foreign)."""


class MotionModuleLayoutError(AnimateDiffError):
    """A motion module's keys or shapes do not match its family's layout."""


class IncompatibleModelError(AnimateDiffError):
    """A motion module (or motion LoRA) does not fit the model it is used with."""


class ParameterError(AnimateDiffError):
    """An AnimateDiff argument has the wrong name, type or value."""
