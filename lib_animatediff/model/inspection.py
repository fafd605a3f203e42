"""What a motion-module file is, without running it: family, frames, layout, size, hash."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import AnimateDiffError
from .detection import PE_SUFFIX, detect_layout, to_animatediff_naming
from .hashing import HashCache, sha256_of
from .loader import build_empty, check_layout
from .state_dict_io import read_state_dict


@dataclass
class ModuleReport:
    file: str
    family: str = ""
    family_title: str = ""
    base: str = ""
    max_frames: int = 0
    trained_frames: int = 0
    default_context: int = 0
    layout_complete: bool = False
    layout: str = ""
    parameters: int = 0
    dtype: str = ""
    sha256: str = ""
    error: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    def to_text(self) -> str:
        if self.error:
            return f"{self.file}: error: {self.error}"
        rows = [
            ("family", f"{self.family_title} ({self.family}), for {self.base}"),
            ("frames", f"up to {self.max_frames} per window (trained on {self.trained_frames}; default context {self.default_context})"),
            ("layout", self.layout),
            ("parameters", f"{self.parameters:,}"),
            ("dtype", self.dtype),
            ("sha256", self.sha256 or "(not computed)"),
        ]
        return "\n".join([self.file, *(f"  {label:<11}{value}" for label, value in rows)])


def inspect_file(path: str | Path, hashes: HashCache | None = None, compute_hash: bool = True) -> ModuleReport:
    """A report on one file; any problem becomes ``report.error``, never an exception."""
    path = Path(path)
    report = ModuleReport(file=path.name)
    try:
        state_dict = read_state_dict(path)
        layout = detect_layout(state_dict, path.name)
        if layout.naming == "hotshot":
            state_dict = to_animatediff_naming(state_dict)
        layout_check = check_layout(state_dict, build_empty(layout), layout)
    except AnimateDiffError as error:
        report.error = str(error).removeprefix(f"{path.name}: ")
        return report
    family = layout.family
    report.family, report.family_title, report.base = family.name, family.title, family.base.value
    report.max_frames, report.trained_frames = layout.pe_len, family.trained_frames
    report.default_context = min(family.default_context, layout.pe_len)
    report.layout_complete, report.layout = layout_check.complete, layout_check.summary()
    learned = [t for k, t in state_dict.items() if not k.endswith(PE_SUFFIX)]
    report.parameters = sum(t.numel() for t in learned)
    report.dtype = ", ".join(sorted({str(t.dtype).removeprefix("torch.") for t in learned}))
    if compute_hash:
        report.sha256 = hashes.sha256(path) if hashes else sha256_of(path)
    return report
