"""Frame interpolation ("Interp X"): insert frames between the generated ones.

With multiplier ``x``, ``n`` frames become ``(n - 1)·x + 1`` (the last frame is kept, nothing
follows it) or, for a looping animation, ``n·x`` (the last frame also flows into the first).
The frame rate is multiplied by ``x`` so the animation lasts as long as before.

Two interpolators share one interface (:class:`FrameInterpolator`):

- :class:`FlowInterpolator`, built in: dense optical flow (OpenCV's Farnebäck) in both
  directions, both neighbours warped to the intermediate time, blended by distance in time.
- Deforum's FILM network (``webui/deforum.py``), used only when the sd-webui-deforum
  extension and its model file are installed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
from PIL import Image

from ..errors import AnimateDiffError
from ..log import logger

# The accordion's frame interpolation modes: off, Deforum's FILM (only where Deforum and its model
# are installed), or the built-in optical-flow interpolator.
FILM = "FILM"
OPTICAL_FLOW = "Optical flow"
INTERP_MODES = ("Off", FILM, OPTICAL_FLOW)


def interpolated_fps(fps: float, x: int) -> float:
    """The frame rate after interpolation with multiplier ``x``: the duration stays the same."""
    return fps * x


def interpolated_frame_count(frames: int, x: int, loop: bool = False) -> int:
    """``(frames - 1)·x + 1``, or ``frames·x`` when the last frame also flows into the first."""
    if frames <= 0:
        return 0
    if loop:
        return frames * x
    return (frames - 1) * x + 1


def check_multiplier(x: int) -> None:
    if not isinstance(x, (int, np.integer)) or isinstance(x, bool) or x < 1:
        raise AnimateDiffError(f"interpolation multiplier must be a whole number of at least 1, got {x!r}")


class FrameInterpolator(Protocol):
    """Turns ``frames`` into ``interpolated_frame_count(len(frames), x, loop)`` frames."""

    name: str

    def interpolate(self, frames: Sequence[Image.Image], x: int, loop: bool = False) -> list[Image.Image]: ...


def _cv2():
    try:
        import cv2
    except ImportError as error:
        raise AnimateDiffError(f"frame interpolation needs OpenCV (pip install opencv-python-headless): {error}") from error
    return cv2


def _pairs(count: int, loop: bool) -> list[tuple[int, int]]:
    pairs = [(i, i + 1) for i in range(count - 1)]
    if loop and count > 1:
        pairs.append((count - 1, 0))
    return pairs


def unchanged(frames: list[Image.Image], x: int, loop: bool) -> list[Image.Image]:
    """Nothing to interpolate: ``x == 1`` (unchanged) or a single frame (repeated to keep the count)."""
    if len(frames) == 1:
        return frames * interpolated_frame_count(1, x, loop)
    return list(frames)


class FlowInterpolator:
    """Optical-flow interpolation: Farnebäck flow both ways, backward warping, time-weighted blend.

    For time ``t`` between frames A (t=0) and B (t=1) with flows F_AB and F_BA, the flow from the
    intermediate frame to each neighbour is approximated from the two (as in Super SloMo):
    F_tA = -(1-t)·t·F_AB + t²·F_BA and F_tB = (1-t)²·F_AB - t·(1-t)·F_BA; A and B are sampled
    along those and mixed (1-t)·A' + t·B'.
    """

    name = "optical flow (built-in)"

    def __init__(self, levels: int = 5, window: int = 31, iterations: int = 5) -> None:
        self.levels = levels
        self.window = window
        self.iterations = iterations

    def _flow(self, source: np.ndarray, target: np.ndarray) -> np.ndarray:
        cv2 = _cv2()

        return cv2.calcOpticalFlowFarneback(
            source, target, None, pyr_scale=0.5, levels=self.levels, winsize=self.window,
            iterations=self.iterations, poly_n=7, poly_sigma=1.5, flags=cv2.OPTFLOW_FARNEBACK_GAUSSIAN,
        )  # fmt: skip

    def between(self, a: Image.Image, b: Image.Image, times: Sequence[float]) -> list[Image.Image]:
        """Frames at each time in ``times`` (0 = ``a``, 1 = ``b``)."""
        cv2 = _cv2()

        if a.size != b.size:
            raise AnimateDiffError(f"cannot interpolate between frames of different sizes {a.size} and {b.size}")
        rgb_a = np.asarray(a.convert("RGB"), dtype=np.float32)
        rgb_b = np.asarray(b.convert("RGB"), dtype=np.float32)
        gray_a = cv2.cvtColor(rgb_a.astype(np.uint8), cv2.COLOR_RGB2GRAY)
        gray_b = cv2.cvtColor(rgb_b.astype(np.uint8), cv2.COLOR_RGB2GRAY)
        flow_ab = self._flow(gray_a, gray_b)
        flow_ba = self._flow(gray_b, gray_a)
        height, width = gray_a.shape
        grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
        results = []
        for t in times:
            flow_ta = -(1 - t) * t * flow_ab + t * t * flow_ba
            flow_tb = (1 - t) * (1 - t) * flow_ab - t * (1 - t) * flow_ba
            warped_a = cv2.remap(
                rgb_a, grid_x + flow_ta[..., 0], grid_y + flow_ta[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            )
            warped_b = cv2.remap(
                rgb_b, grid_x + flow_tb[..., 0], grid_y + flow_tb[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            )
            mixed = (1 - t) * warped_a + t * warped_b
            results.append(Image.fromarray(np.clip(np.rint(mixed), 0, 255).astype(np.uint8)))
        return results

    def interpolate(self, frames: Sequence[Image.Image], x: int, loop: bool = False) -> list[Image.Image]:
        check_multiplier(x)
        frames = list(frames)
        if x == 1 or len(frames) < 2:
            return unchanged(frames, x, loop)
        times = [step / x for step in range(1, x)]
        result: list[Image.Image] = []
        for i, j in _pairs(len(frames), loop):
            result.append(frames[i])
            result.extend(self.between(frames[i], frames[j], times))
        if not loop:
            result.append(frames[-1])
        return result


def interpolate(
    frames: Sequence[Image.Image],
    x: int,
    loop: bool = False,
    interpolator: FrameInterpolator | None = None,
) -> list[Image.Image]:
    """``frames`` with ``x - 1`` frames inserted between each pair (and last→first when ``loop``).

    Uses ``interpolator`` (e.g. Deforum's FILM, ``webui/deforum.py``) when given, otherwise the
    built-in :class:`FlowInterpolator`; if the given one fails, falls back to the built-in one.
    """
    check_multiplier(x)
    frames = list(frames)
    if x == 1 or len(frames) < 2:
        return unchanged(frames, x, loop)
    expected = interpolated_frame_count(len(frames), x, loop)
    if interpolator is not None:
        try:
            result = interpolator.interpolate(frames, x, loop)
            if len(result) != expected:
                raise AnimateDiffError(f"{interpolator.name} returned {len(result)} frames, expected {expected}")
            logger.info(f"interpolated {len(frames)} → {len(result)} frames with {interpolator.name}")
            return result
        except Exception as error:  # noqa: BLE001 - a third-party model failing must not lose the job's frames
            logger.warning(f"{interpolator.name} failed ({error}); using the built-in optical-flow interpolator")
    builtin = FlowInterpolator()
    result = builtin.interpolate(frames, x, loop)
    logger.info(f"interpolated {len(frames)} → {len(result)} frames with {builtin.name}")
    return result
