"""Deforum's FILM for frame interpolation: found in the WebUI's extensions folder, imported
from Deforum's own code, and called through its entry point.

Glue to another extension lives here, apart from the interpolation maths
(``media/interpolation.py``), which only knows the :class:`FrameInterpolator` protocol.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from PIL import Image

from ..errors import AnimateDiffError
from ..log import logger
from ..media.interpolation import check_multiplier, interpolated_frame_count, unchanged
from ..media.video_input import FrameFolder, read_video_frames

DEFORUM_FOLDER_NAMES = ("sd-webui-deforum", "deforum-for-automatic1111-webui", "deforum")
FILM_MODEL_NAME = "film_net_fp16.pt"


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
        check_multiplier(x)
        frames = list(frames)
        if x == 1 or len(frames) < 2:
            return unchanged(frames, x, loop)
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
