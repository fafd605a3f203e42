"""Progress of an animation job in the WebUI: passes × steps × windows in its progress bar, the
frames of the window being denoised in its live preview."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


class SamplingProgress:
    """Shows passes × steps × context windows in the WebUI's progress state and stops the job
    between windows when the user interrupts or skips.

    ``state`` is the WebUI's progress state (``sampling_step``, ``sampling_steps``,
    ``textinfo``, ``interrupted``, ``skipped`` and ``current_latent``, which the live preview
    decodes); ``interrupt`` makes the exception that ends sampling the WebUI's way; ``frames``
    is the video's length.
    """

    def __init__(self, state: Any, interrupt: Callable[[], BaseException], passes: int = 1, frames: int = 0) -> None:
        self.state = state
        self.interrupt = interrupt
        self.passes = passes
        self.frames = frames
        self.pass_number = 0
        self.total_steps = 0
        self._every_frame: Any = None  # the last step's prediction of every frame

    @property
    def stopped(self) -> bool:
        return bool(self.state.interrupted or self.state.skipped)

    def window(self, step: int, window: int, windows: int, frames: Sequence[int] = ()) -> None:
        """Called before each window of each step (the runner's ``on_window``)."""
        if self.stopped:
            raise self.interrupt()
        if (windows > 1 or self.passes > 1) and self.total_steps:
            self.state.sampling_steps = self.total_steps * windows * self.passes
            self.state.sampling_step = (self.pass_number * self.total_steps + step) * windows + window
            where = [f"FreeInit pass {self.pass_number + 1} of {self.passes}"] if self.passes > 1 else []
            where.append(f"step {step + 1}")
            where += [f"context window {window + 1} of {windows}"] if windows > 1 else []
            self.state.textinfo = "AnimateDiff: " + ", ".join(where)
        if windows > 1 and frames:
            self._preview(window, list(frames))

    def _preview(self, window: int, frames: list[int]) -> None:
        """The live preview shows the window's frames (of the last step's prediction, which the
        WebUI stores after every step) rather than a grid of the whole video."""
        if window == 0:
            self._every_frame = getattr(self.state, "current_latent", None)
        every = self._every_frame
        if every is not None and getattr(every, "shape", (0,))[0] == self.frames:
            self.state.current_latent = every[frames]
