"""Progress of an animation job in the WebUI's progress bar: passes × steps × windows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class SamplingProgress:
    """Shows passes × steps × context windows in the WebUI's progress state and stops the job
    between windows when the user interrupts or skips.

    ``state`` is the WebUI's progress state (``sampling_step``, ``sampling_steps``,
    ``textinfo``, ``interrupted``, ``skipped``); ``interrupt`` makes the exception that ends
    sampling the WebUI's way.
    """

    def __init__(self, state: Any, interrupt: Callable[[], BaseException], passes: int = 1) -> None:
        self.state = state
        self.interrupt = interrupt
        self.passes = passes
        self.pass_number = 0
        self.total_steps = 0

    @property
    def stopped(self) -> bool:
        return bool(self.state.interrupted or self.state.skipped)

    def window(self, step: int, window: int, windows: int) -> None:
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
