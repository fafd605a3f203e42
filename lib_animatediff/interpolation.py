"""Frame interpolation ("Interp X"): insert frames between the generated ones.

With multiplier ``x``, ``n`` frames become ``(n - 1)·x + 1`` (the last frame is kept, nothing
follows it) or, for a looping animation, ``n·x`` (the last frame also flows into the first).
The frame rate is multiplied by ``x`` so the animation lasts as long as before.

Two interpolators share one interface (:class:`FrameInterpolator`):

- :class:`FlowInterpolator`, built in: dense optical flow (OpenCV's Farnebäck) in both
  directions, both neighbours warped to the intermediate time, blended by distance in time.
- :class:`DeforumFilmInterpolator`: Google's FILM network through the sd-webui-deforum
  extension, used only when that extension and its model file are installed
  (:func:`find_deforum_film`).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image

from .errors import AnimateDiffError
from .log import logger

DEFORUM_FOLDER_NAMES = ("sd-webui-deforum", "deforum-for-automatic1111-webui", "deforum")
FILM_MODEL_NAME = "film_net_fp16.pt"


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


def _check_x(x: int) -> None:
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


def _unchanged(frames: list[Image.Image], x: int, loop: bool) -> list[Image.Image]:
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
        _check_x(x)
        frames = list(frames)
        if x == 1 or len(frames) < 2:
            return _unchanged(frames, x, loop)
        times = [step / x for step in range(1, x)]
        result: list[Image.Image] = []
        for i, j in _pairs(len(frames), loop):
            result.append(frames[i])
            result.extend(self.between(frames[i], frames[j], times))
        if not loop:
            result.append(frames[-1])
        return result


class DeforumFilmInterpolator:
    """FILM (Frame Interpolation for Large Motion) through sd-webui-deforum's own entry point.

    ``entry_point`` is Deforum's ``run_film_interp_infer(model_path, input_folder, save_folder,
    inter_frames)``: it reads the frames of ``input_folder`` in name order and writes
    ``inter_frames`` new frames between each pair, numbered, into ``save_folder``.
    """

    name = "FILM (sd-webui-deforum)"

    def __init__(self, model_path: Path, entry_point: Callable[..., object]) -> None:
        self.model_path = Path(model_path)
        self.entry_point = entry_point

    def interpolate(self, frames: Sequence[Image.Image], x: int, loop: bool = False) -> list[Image.Image]:
        from .video_input import FrameFolder, read_video_frames

        _check_x(x)
        frames = list(frames)
        if x == 1 or len(frames) < 2:
            return _unchanged(frames, x, loop)
        source = frames + [frames[0]] if loop else frames
        expected = interpolated_frame_count(len(source), x)
        with FrameFolder(prefix="animatediff-film-") as work:
            inputs = work.path / "in"
            outputs = work.path / "out"
            inputs.mkdir()
            outputs.mkdir()
            for index, frame in enumerate(source):
                frame.convert("RGB").save(inputs / f"{index:05d}.png")
            self.entry_point(model_path=str(self.model_path), input_folder=str(inputs), save_folder=str(outputs), inter_frames=x - 1)
            produced = read_video_frames(outputs).frames if any(outputs.iterdir()) else []
        if len(produced) != expected:
            raise AnimateDiffError(f"FILM produced {len(produced)} frames, expected {expected}")
        size = frames[0].size
        produced = [frame if frame.size == size else frame.resize(size, Image.Resampling.LANCZOS) for frame in produced]
        return produced[:-1] if loop else produced


def find_deforum_film(extensions_dir: Path) -> DeforumFilmInterpolator | None:
    """Deforum's FILM when the sd-webui-deforum extension and its model file are installed.

    The model is where Deforum downloads it, ``<webui>/models/Deforum/film_interpolation/``
    (``<webui>`` being the parent of ``extensions_dir``), or anywhere inside the extension
    folder. Returns None when either is missing or Deforum's entry point cannot be imported.
    """
    extensions_dir = Path(extensions_dir)
    extension = next((extensions_dir / name for name in DEFORUM_FOLDER_NAMES if (extensions_dir / name).is_dir()), None)
    if extension is None and extensions_dir.is_dir():
        extension = next((p for p in sorted(extensions_dir.iterdir()) if p.is_dir() and "deforum" in p.name.lower()), None)
    if extension is None:
        return None
    candidates = [extensions_dir.parent / "models" / "Deforum" / "film_interpolation" / FILM_MODEL_NAME]
    candidates += sorted(extension.rglob(FILM_MODEL_NAME))
    model = next((path for path in candidates if path.is_file()), None)
    if model is None:
        logger.debug(f"Deforum found at {extension} but not its FILM model {FILM_MODEL_NAME}")
        return None
    entry_point = _import_film_entry_point(extension)
    if entry_point is None:
        return None
    return DeforumFilmInterpolator(model, entry_point)


def _loaded_module_from(source: Path) -> object | None:
    """A module already in ``sys.modules`` that was loaded from ``source``."""
    try:
        wanted = source.resolve()
    except OSError:
        return None
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if file and Path(file).name == source.name:
            try:
                if Path(file).resolve() == wanted:
                    return module
            except OSError:
                continue
    return None


def _import_film_entry_point(extension: Path) -> Callable[..., object] | None:
    """``run_film_interp_infer`` from Deforum's ``scripts/deforum_helpers/src/film_interpolation``."""
    attempts = (
        (extension / "scripts", "deforum_helpers.src.film_interpolation.film_inference"),
        (extension / "scripts" / "deforum_helpers" / "src", "film_interpolation.film_inference"),
    )
    source = extension / "scripts" / "deforum_helpers" / "src" / "film_interpolation" / "film_inference.py"
    loaded = _loaded_module_from(source)  # Deforum imported it already (inside the WebUI)
    if loaded is not None and callable(getattr(loaded, "run_film_interp_infer", None)):
        return loaded.run_film_interp_infer
    for root, module_name in attempts:
        if not (root / Path(*module_name.split("."))).with_suffix(".py").is_file():
            continue
        added = str(root) not in sys.path
        if added:
            sys.path.insert(0, str(root))
        try:
            module = importlib.import_module(module_name)
            entry_point = getattr(module, "run_film_interp_infer", None)
            if callable(entry_point):
                return entry_point
        except Exception as error:  # noqa: BLE001 - any failure inside Deforum's imports means: no FILM
            logger.info(f"Deforum's FILM cannot be imported ({type(error).__name__}: {error}); using the built-in interpolator")
        finally:
            if added and str(root) in sys.path:
                sys.path.remove(str(root))
    return None


def interpolate(
    frames: Sequence[Image.Image],
    x: int,
    loop: bool = False,
    interpolator: FrameInterpolator | None = None,
) -> list[Image.Image]:
    """``frames`` with ``x - 1`` frames inserted between each pair (and last→first when ``loop``).

    Uses ``interpolator`` (e.g. from :func:`find_deforum_film`) when given, otherwise the
    built-in :class:`FlowInterpolator`; if the given one fails, falls back to the built-in one.
    """
    _check_x(x)
    frames = list(frames)
    if x == 1 or len(frames) < 2:
        return _unchanged(frames, x, loop)
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
