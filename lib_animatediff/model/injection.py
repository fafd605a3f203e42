"""Running a motion module set inside A1111's UNet, and taking it out again.

``MotionModuleInjection`` is the one object that changes the UNet: it runs the motion modules
from hooks on the UNet's own layers (its module lists and state-dict keys stay as they are, so
A1111 can load another checkpoint's weights mid-job, as Hires. fix and the refiner do), switches the ResBlock GroupNorms to cross-frame statistics where the family
was trained that way, and swaps in the family's noise schedule. Every change goes through
an ``UndoStack``, so leaving restores the UNet exactly, after success or error.
"""

from __future__ import annotations

import itertools
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Callable, Iterator

import torch
from torch import nn

from ..fusion import FusedWindows, WindowAccumulator
from ..log import logger
from ..undo import UndoStack, hooked_transforms
from .families import GroupNormMode
from .motion_module import MotionModule, MotionModuleSet, stretched_positions, video_group_norm
from .noise_schedule import use_noise_schedule
from .unet_layout import motion_module_slots


class VideoInCall:
    """The video in the UNet call running now, as the sampler's side sets it for the motion
    modules: its frames per video, how strongly the motion modules act on each frame (None: as
    trained) and, when the UNet runs every frame at once, the windows the motion modules attend
    in and how their outputs are blended (None: all frames together)."""

    def __init__(self) -> None:
        self.count: int | None = None
        self.scale: torch.Tensor | None = None
        self.windows: FusedWindows | None = None

    def require(self) -> int:
        if self.count is None:
            raise RuntimeError("the UNet ran with AnimateDiff motion modules but no frame count was given for this batch")
        return self.count

    @contextmanager
    def video(self, frames: int, scale: torch.Tensor | None = None, windows: FusedWindows | None = None) -> Iterator[None]:
        """These values for the ``with`` block, the earlier ones after it."""
        with UndoStack() as call:
            for name, value in (("count", frames), ("scale", scale), ("windows", windows)):
                call.set_attr(self, name, value)
            yield


class HookedMotionModule(nn.Module):
    """A motion module as its hook on a UNet layer calls it: with that layer's input or
    output alone. It is no child of the UNet: A1111's moves of the UNet (--medvram, --lowvram,
    unloading a checkpoint) leave it where it is, and it follows the activations' device."""

    def __init__(
        self, module: MotionModule, frames: VideoInCall, prefix: str, pe_spacing: float | None = None, temperature: float = 1.0
    ):
        super().__init__()
        self.motion_module = module
        self.frames = frames
        self.prefix = prefix
        self.pe_spacing = pe_spacing
        self.temperature = temperature

    def run(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        """The motion module on ``x``, its positions stretched and its attention sharpened or
        softened when the job asks."""
        positions = None if self.pe_spacing is None else stretched_positions(frames, self.pe_spacing)
        return self.motion_module(x, frames, positions, self.temperature)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames, scale, windows = self.frames.require(), self.frames.scale, self.frames.windows
        if not _all_on(self.motion_module, x.device):
            self.motion_module.to(x.device)
        if scale is None and windows is None:
            return self.run(x, frames)
        if scale is not None and not bool(scale.any()):
            return x  # the module does nothing for these frames: skip its work
        if windows is None:
            residual = self.run(x, frames) - x
        else:
            residual = windowed_residual(self.run, x, frames, windows)
        if scale is None:
            return x + residual
        per_row = scale.to(x.device, x.dtype).repeat(x.shape[0] // frames).view(-1, *[1] * (x.dim() - 1))
        return x + per_row * residual

    def extra_repr(self) -> str:
        return self.prefix


def _all_on(module: nn.Module, device: torch.device) -> bool:
    """Whether every tensor of ``module`` is on ``device``: a memory manager short of room may have
    moved only the layers that have weights (Forge's CPU swap leaves a positional encoding behind)."""
    return all(t.device == device for t in itertools.chain(module.parameters(), module.buffers()))


FLOAT8_TYPES = frozenset(getattr(torch, name) for name in ("float8_e4m3fn", "float8_e5m2") if hasattr(torch, name))


def compute_parameter(unet: nn.Module) -> torch.Tensor:
    """A parameter of ``unet`` in the dtype it computes in, to put the motion modules beside.

    A1111's FP8 weight setting stores convolution and linear weights in float8 and casts them
    for each call; the motion modules cannot compute in float8, so they take the dtype of the
    layers left as they were (the norms)."""
    parameters = list(unet.parameters())
    return next((p for p in parameters if p.dtype not in FLOAT8_TYPES), parameters[0])


class MotionModuleInjection:
    """Context manager: motion modules are in the UNet between enter and exit.

    ``pe_spacing`` stretches the positional encoding (see ``stretched_positions``; None: as
    trained); ``temperature`` scales the temporal attention's logits (1: as trained); ``frames``
    is the frame count to read (shared when a job injects into a second model mid-sampling). ``schedule_owner`` is the object holding the model's ``alphas_cumprod`` (A1111's
    ``sd_model``); when given, the family's noise schedule replaces it while injected
    (:func:`use_noise_schedule`, without the WebUI's overrides; the WebUI job puts the schedule
    in place itself, before the img2img sampler is built).
    """

    def __init__(
        self,
        unet: nn.Module,
        modules: MotionModuleSet,
        schedule_owner: Any = None,
        pe_spacing: float | None = None,
        temperature: float = 1.0,
        frames: VideoInCall | None = None,
    ):
        self.unet = unet
        self.modules = modules
        self.schedule_owner = schedule_owner
        self.pe_spacing = pe_spacing
        self.temperature = temperature
        self.frames = frames if frames is not None else VideoInCall()
        self._undo = UndoStack()

    @property
    def active(self) -> bool:
        return len(self._undo) > 0

    def __enter__(self) -> MotionModuleInjection:
        try:
            self._inject()
        except BaseException:
            self._undo.undo_all()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()

    def remove(self) -> None:
        if self.active:
            self._undo.undo_all()
            logger.info("removed motion module %s", self.modules.name)

    def video(
        self, frames: int, scale: torch.Tensor | None = None, windows: FusedWindows | None = None
    ) -> AbstractContextManager[None]:
        """Run the UNet on batches of videos of ``frames`` frames inside this block; ``scale``
        (``(frames,)``) multiplies what the motion modules add to each frame (None: as trained);
        ``windows`` makes the motion modules attend within each window, their residuals
        blended where windows overlap (None: over all frames at once)."""
        return self.frames.video(frames, scale, windows)

    def _inject(self) -> None:
        family = self.modules.family
        slots = motion_module_slots(self.unet, self.modules)
        reference = compute_parameter(self.unet)
        self.modules.to(device=reference.device, dtype=reference.dtype)
        for slot in slots:
            hooked = HookedMotionModule(self.modules.block(slot.prefix), self.frames, slot.prefix, self.pe_spacing, self.temperature)
            self._undo.add_hook(slot.layer, hooked, on_input=slot.before)
        if family.unet_groupnorm is GroupNormMode.PER_VIDEO:
            for norm in unet_resblock_groupnorms(self.unet):
                self._undo.set_attr(norm, "forward", cross_frame_forward(norm, self.frames))
        if self.schedule_owner is not None:
            use_noise_schedule(self._undo, self.schedule_owner, family.noise_schedule.alphas_cumprod())
        logger.info("injected %s (%s, %d modules, %s)", self.modules.name, family.title, len(slots), self.modules.dtype)


def hooked_motion_modules(unet: nn.Module) -> list[tuple[nn.Module, HookedMotionModule, bool]]:
    """The motion modules running from hooks on ``unet``'s layers: (the layer, the motion
    module, whether it runs on the layer's input)."""
    return [(layer, hooked, on_input) for layer, hooked, on_input in hooked_transforms(unet) if isinstance(hooked, HookedMotionModule)]


def windowed_residual(module: Callable[[torch.Tensor, int], torch.Tensor], x: torch.Tensor, frames: int, windows: FusedWindows) -> torch.Tensor:
    """What ``module`` adds to each frame when it attends within each window of frames only:
    every window's residual, fused per frame."""
    videos = x.shape[0] // frames
    per_video = x.view(videos, frames, *x.shape[1:])
    fused = WindowAccumulator(frames, windows.kind)
    for window in windows.windows:
        part = per_video[:, window].reshape(videos * len(window), *x.shape[1:])
        residual = (module(part, len(window)) - part).view(videos, len(window), *x.shape[1:])
        fused.add(window, residual.transpose(0, 1))  # frames first, each holding every video's row
    return fused.result().transpose(0, 1).reshape(x.shape)


def unet_resblock_groupnorms(unet: nn.Module) -> list[nn.GroupNorm]:
    """The GroupNorms whose statistics v1 and HotShot-XL were trained to take across frames.

    Those of the ResBlocks and the output norm; spatial-transformer norms stay per frame.
    """
    norms = [
        layers[0]
        for module in unet.modules()
        if hasattr(module, "in_layers") and hasattr(module, "out_layers")
        for layers in (module.in_layers, module.out_layers)
    ]
    norms.append(unet.out[0])
    return [norm for norm in norms if isinstance(norm, nn.GroupNorm)]


def cross_frame_forward(norm: nn.GroupNorm, frames: VideoInCall) -> Callable[[torch.Tensor], torch.Tensor]:
    """A forward for ``norm`` with statistics over all frames of each video (in float32,
    as A1111's GroupNorm32 computes)."""

    def forward(x: torch.Tensor) -> torch.Tensor:
        weight = None if norm.weight is None else norm.weight.float()
        bias = None if norm.bias is None else norm.bias.float()
        normed = video_group_norm(x.float(), frames.require(), GroupNormMode.PER_VIDEO, norm.num_groups, weight, bias, norm.eps)
        return normed.type(x.dtype)

    return forward
