"""Errors that reach the user: each message says what is wrong and with which file."""


class AnimateDiffError(Exception):
    """Base class for errors this extension reports to the user (UI and API).

    The WebUI's API answers one with its ``http_status``: A1111's exception handler reads
    ``status_code`` and ``detail`` off the exception. Most are the request's fault (422: an
    argument, a file or video it names, a module that does not fit the checkpoint); only real
    server faults are 500.
    """

    http_status = 422

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        self.status_code = self.http_status
        self.detail = str(self)


class MotionModuleFileError(AnimateDiffError):
    """A file could not be read as a motion module (unreadable, truncated, unsafe, foreign)."""


class MotionModuleLayoutError(AnimateDiffError):
    """A motion module's keys or shapes do not match its family's layout."""


class IncompatibleModelError(AnimateDiffError):
    """A motion module (or motion LoRA) does not fit the model it is used with."""


class ParameterError(AnimateDiffError):
    """An AnimateDiff argument has the wrong name, type or value."""


class OutputError(AnimateDiffError):
    """The server could not write an output file (disk full, permissions): not the request's fault."""

    http_status = 500


SHOWN_CHARACTERS = 40


def shorten(text: str, limit: int = SHOWN_CHARACTERS) -> str:
    """``text`` as a message may show it: at most ``limit`` characters and how long it was (a
    request's payload never goes whole into a message or the log)."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"
