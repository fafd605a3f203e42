"""Reading tensors from .safetensors, .ckpt, .pth files without running code from them."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from ..errors import MotionModuleFileError

StateDict = dict[str, torch.Tensor]

SAFETENSORS_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".ckpt", ".pth", ".pt", ".bin")
SUPPORTED_SUFFIXES = SAFETENSORS_SUFFIXES + PICKLE_SUFFIXES


def read_state_dict(path: str | Path) -> StateDict:
    """All tensors of a file, unwrapped from a ``state_dict`` entry where there is one.

    Pickled files are read with ``weights_only=True``: one that would need to run code to
    unpickle is refused, never executed.
    """
    path = Path(path)
    if not path.is_file():
        raise MotionModuleFileError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in SAFETENSORS_SUFFIXES:
        raw = _read_safetensors(path)
    elif suffix in PICKLE_SUFFIXES:
        raw = _read_pickle(path)
    else:
        raise MotionModuleFileError(f"{path.name}: unsupported file type {suffix or '(none)'}; use one of {', '.join(SUPPORTED_SUFFIXES)}")
    return unwrap_state_dict(raw, path.name)


def unwrap_state_dict(raw: object, name: str) -> StateDict:
    """The tensors of a loaded object; drops non-tensor entries such as ``animatediff_config``."""
    if isinstance(raw, dict) and isinstance(raw.get("state_dict"), dict):
        raw = raw["state_dict"]
    if not isinstance(raw, dict):
        raise MotionModuleFileError(f"{name}: holds a {type(raw).__name__}, not a dictionary of tensors")
    tensors = {k: v for k, v in raw.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
    if not tensors:
        raise MotionModuleFileError(f"{name}: holds no tensors")
    return tensors


def _read_safetensors(path: Path) -> object:
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as error:
        raise MotionModuleFileError(f"{path.name}: not a readable safetensors file (truncated or damaged?): {error}") from None


def load_pickle(path: Path, **options: object) -> object:
    """torch's own loader, weights only. Inside the WebUI ``torch.load`` is A1111's checked
    replacement, which returns None (after printing) for a file it refuses; torch's function
    refuses with the reason, which the user then sees."""
    return torch.serialization.load(str(path), map_location="cpu", weights_only=True, **options)


def _read_pickle(path: Path) -> object:
    try:
        return load_pickle(path)
    except pickle.UnpicklingError as error:
        reason = _unpickler_reason(error)
        if "global" in reason.lower():
            raise MotionModuleFileError(
                f"{path.name}: refused: unpickling it would run code, not just read tensors ({reason}); "
                "convert it to .safetensors with a tool you trust"
            ) from None
        raise MotionModuleFileError(f"{path.name}: not a readable checkpoint (truncated or damaged?): {reason}") from None
    except Exception as error:  # noqa: BLE001 - any failure of a damaged file is the file's fault
        raise MotionModuleFileError(f"{path.name}: not a readable checkpoint (truncated or damaged?): {_first_line(error)}") from None


def _unpickler_reason(error: pickle.UnpicklingError) -> str:
    """What torch's weights-only unpickler met ("Unsupported global: GLOBAL os.system"), not its advice."""
    lines = [line.strip().removeprefix("WeightsUnpickler error:").strip() for line in str(error).splitlines()]
    lines = [line for line in lines if line]
    for line in lines:
        if "global" in line.lower():
            return line
    advice = ("Weights only load failed", "(1)", "(2)", "Please file", "Check the documentation", "Re-running", "In PyTorch")
    detail = [line for line in lines if not line.startswith(advice)]
    return detail[0] if detail else _first_line(error)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
