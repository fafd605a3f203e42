"""Inpainting a video with a mask per frame: A1111's own img2img preparation, once per frame.

A1111's img2img prepares its one inpaint mask for all of its images in ``p.init()``: the binary
mask, inverted, blurred, resized to the picture or cropped around the mask ("only masked"),
the masked content filled before encoding, the overlay that pastes the original back, the
latent mask the sampler blends with, the inpainting model's conditioning. With a mask per
frame (the img2img Batch tab's mask folder) every frame needs that preparation with its own
mask. Rather than redo A1111's steps, ``p.init()`` runs as it is once per frame, with that
frame's image, mask and seed, and the frames' results are put together as one batch of
frames: latents, latent masks and conditioning stacked in frame order, one overlay and colour
correction per frame. Two results A1111 keeps once per batch, the crop position the decoded
picture is pasted at and the mask shown beside it, are handed out per frame as A1111 finishes
each picture (the ``postprocess_maskoverlay`` hook, which comes right before the paste).

With "only masked" each frame is cropped around its own mask, as A1111 does per picture.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import torch
from PIL import Image

from ..errors import ParameterError
from ..undo import UndoStack

FRAME_INPAINT_ATTRIBUTE = "_animatediff_frame_inpaint"  # where a video's per-frame inpainting lives on ``p``

# what A1111's init of one picture must start from (its own defaults), and what it leaves per picture
_FRESH_PER_FRAME = ("mask", "nmask", "overlay_images", "color_corrections", "paste_to", "mask_for_overlay")


@dataclasses.dataclass(frozen=True)
class FrameInit:
    """What A1111's ``init()`` left for one frame."""

    init_latent: torch.Tensor  # (1, C, h, w)
    image_conditioning: torch.Tensor  # (1, …)
    mask: torch.Tensor | None  # (C, h, w), 1 where the frame is kept; None: the frame has no mask
    nmask: torch.Tensor | None
    overlay: Image.Image | None
    color_correction: Any
    mask_for_overlay: Image.Image | None
    paste_to: tuple[int, int, int, int] | None


class FrameInpaint:
    """``p.init()`` for a video whose frames (``p.init_images``) each have their own mask."""

    def __init__(self, p: Any, init: Callable[..., None], masks: Sequence[Image.Image]):
        self.p = p
        self.original_init = init
        self.masks = list(masks)
        self.frames: list[FrameInit] = []

    def init(self, all_prompts: Sequence[str], all_seeds: Sequence[int], all_subseeds: Sequence[int]) -> None:
        p = self.p
        images = list(p.init_images)
        if len(self.masks) < len(images):
            raise ParameterError(f"inpainting frame by frame: {len(self.masks)} masks for {len(images)} frames")
        per_image = (list(all_prompts), list(all_seeds), list(all_subseeds))
        self.frames = [
            self._init_frame(image, mask, *(values[i : i + 1] for values in per_image))
            for i, (image, mask) in enumerate(zip(images, self.masks))
        ]
        self._join()

    def _init_frame(self, image: Image.Image, mask: Image.Image, *prompts_seeds_subseeds: Sequence[Any]) -> FrameInit:
        p = self.p
        with UndoStack() as picture:
            picture.set_attr(p, "init_images", [image])
            picture.set_attr(p, "image_mask", mask)
            picture.set_attr(p, "batch_size", 1)
            # a blank mask with "only masked" turns p's inpaint area off for good: each frame decides anew
            picture.set_attr(p, "inpaint_full_res", p.inpaint_full_res)
            for name in _FRESH_PER_FRAME:
                picture.set_attr(p, name, None)
            self.original_init(*prompts_seeds_subseeds)
            return FrameInit(
                p.init_latent, p.image_conditioning, p.mask, p.nmask, (p.overlay_images or [None])[0],
                (p.color_corrections or [None])[0], p.mask_for_overlay, p.paste_to,
            )  # fmt: skip

    def _join(self) -> None:
        """The frames' results as the init of one batch, in frame order."""
        p, frames = self.p, self.frames
        p.init_latent = torch.cat([frame.init_latent for frame in frames])
        p.image_conditioning = torch.cat([frame.image_conditioning for frame in frames])
        p.mask, p.nmask = _stacked_latent_masks(frames)
        overlays = [frame.overlay for frame in frames]
        p.overlay_images = overlays if any(overlay is not None for overlay in overlays) else None
        corrections = [frame.color_correction for frame in frames]
        p.color_corrections = corrections if any(correction is not None for correction in corrections) else None
        p.mask_for_overlay, p.paste_to = frames[0].mask_for_overlay, frames[0].paste_to

    def finish_picture(self, mask_overlay: Any) -> None:
        """Before A1111 pastes a decoded frame over its original: that frame's crop position and
        mask (``mask_overlay`` is A1111's ``PostProcessMaskOverlayArgs`` of the frame)."""
        if 0 <= mask_overlay.index < len(self.frames):
            frame = self.frames[mask_overlay.index]
            self.p.paste_to = frame.paste_to
            if mask_overlay.mask_for_overlay is self.p.mask_for_overlay:  # unless a script (soft inpainting) chose its own
                mask_overlay.mask_for_overlay = frame.mask_for_overlay


def _stacked_latent_masks(frames: Sequence[FrameInit]) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The frames' latent masks as (F, C, h, w); a frame without a mask is sampled whole."""
    masked = [frame for frame in frames if frame.mask is not None]
    if not masked:
        return None, None
    keep_nothing = torch.zeros_like(masked[0].mask)
    mask = torch.stack([keep_nothing if frame.mask is None else frame.mask for frame in frames])
    nmask = torch.stack([1 - keep_nothing if frame.nmask is None else frame.nmask for frame in frames])
    return mask, nmask


def inpaint_frame_by_frame(p: Any, masks: Sequence[Image.Image]) -> FrameInpaint:
    """From now on ``p.init()`` prepares each of ``p``'s frames with its own mask
    (``masks[i]`` for frame ``i``); ``p.image_mask`` is the first, for whoever reads one."""
    inpaint = FrameInpaint(p, p.init, masks)
    p.init = inpaint.init
    p.image_mask = inpaint.masks[0]
    setattr(p, FRAME_INPAINT_ATTRIBUTE, inpaint)
    return inpaint


def finish_picture(p: Any, mask_overlay: Any) -> None:
    """A1111's ``postprocess_maskoverlay``: per-frame crop position and mask, when ``p`` inpaints frame by frame."""
    inpaint = getattr(p, FRAME_INPAINT_ATTRIBUTE, None)
    if inpaint is not None:
        inpaint.finish_picture(mask_overlay)
