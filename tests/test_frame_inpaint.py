"""Inpainting with a mask per frame: A1111's img2img init once per frame, joined as one batch."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from lib_animatediff.errors import ParameterError
from lib_animatediff.webui.frame_inpaint import finish_picture, inpaint_frame_by_frame

CHANNELS, SIDE = 4, 2


class Img2ImgInit:
    """A1111's img2img processing object as ``init()`` treats it, in miniature: one latent per
    init image (filled with the image's red), the latent mask from the mean of the one
    ``image_mask`` (a blank mask under "only masked" turns inpainting off for good, as A1111
    does), an overlay, colour correction, crop position and overlay mask per picture."""

    def __init__(self, frames: list[Image.Image], only_masked: bool = False):
        self.init_images = frames
        self.batch_size = len(frames)
        self.inpaint_full_res = only_masked
        self.image_mask: Any = None
        self.mask = self.nmask = self.overlay_images = self.color_corrections = self.paste_to = self.mask_for_overlay = None
        self.calls: list[dict] = []

    def init(self, all_prompts: list[str], all_seeds: list[int], all_subseeds: list[int]) -> None:
        image_mask = self.image_mask
        self.calls.append(
            {"images": list(self.init_images), "mask": image_mask, "batch_size": self.batch_size, "seeds": all_seeds, "prompts": all_prompts}
        )
        red = [float(image.getpixel((0, 0))[0]) for image in self.init_images]
        self.init_latent = torch.tensor(red).view(-1, 1, 1, 1).expand(len(red), CHANNELS, SIDE, SIDE).clone()
        self.image_conditioning = self.init_latent[:, :1] * 10
        if image_mask is not None and self.inpaint_full_res and image_mask.getbbox() is None:
            self.inpaint_full_res, image_mask = False, None
        if image_mask is None:
            return
        inpainted = float(np.asarray(image_mask).mean()) / 255
        self.nmask = torch.full((CHANNELS, SIDE, SIDE), inpainted)
        self.mask = 1 - self.nmask
        self.overlay_images = [f"overlay of {red[0]:.0f}"]
        self.color_corrections = [f"correction of {red[0]:.0f}"] if self.color_corrections is None else self.color_corrections
        self.mask_for_overlay = image_mask
        self.paste_to = (int(red[0]), 0, 8, 8) if self.inpaint_full_res else None


def _frames(count: int) -> list[Image.Image]:
    return [Image.new("RGB", (8, 8), (10 * (i + 1), 0, 0)) for i in range(count)]


def _mask(left: int, right: int) -> Image.Image:
    mask = Image.new("L", (8, 8), 0)
    if right > left:
        mask.paste(255, (left, 0, right, 8))
    return mask


def _init(p: Img2ImgInit) -> None:
    frames = len(p.init_images)
    p.init([f"prompt {i}" for i in range(frames)], [100 + i for i in range(frames)], [200 + i for i in range(frames)])


def test_each_frame_is_prepared_alone_with_its_own_mask_and_seed() -> None:
    frames, masks = _frames(3), [_mask(0, 2), _mask(0, 4), _mask(0, 8)]
    p = Img2ImgInit(frames)
    inpaint_frame_by_frame(p, masks)
    assert p.image_mask is masks[0]  # the first, for extensions that read one mask
    _init(p)
    assert [call["images"] for call in p.calls] == [[frame] for frame in frames]
    assert [call["mask"] for call in p.calls] == masks
    assert [call["batch_size"] for call in p.calls] == [1, 1, 1]
    assert [call["seeds"] for call in p.calls] == [[100], [101], [102]]
    assert [call["prompts"] for call in p.calls] == [["prompt 0"], ["prompt 1"], ["prompt 2"]]
    # joined in frame order, as one batch of frames
    assert p.batch_size == 3 and p.init_images == frames and p.image_mask is masks[0]
    assert p.init_latent.shape == (3, CHANNELS, SIDE, SIDE)
    assert p.init_latent[:, 0, 0, 0].tolist() == [10.0, 20.0, 30.0]
    assert p.image_conditioning[:, 0, 0, 0].tolist() == [100.0, 200.0, 300.0]
    assert p.nmask.shape == p.mask.shape == (3, CHANNELS, SIDE, SIDE)
    assert p.nmask[:, 0, 0, 0].tolist() == [0.25, 0.5, 1.0]
    assert torch.equal(p.mask, 1 - p.nmask)
    assert p.overlay_images == ["overlay of 10", "overlay of 20", "overlay of 30"]
    assert p.color_corrections == ["correction of 10", "correction of 20", "correction of 30"]


def test_a_blank_mask_under_only_masked_samples_that_frame_whole_and_no_other() -> None:
    p = Img2ImgInit(_frames(3), only_masked=True)
    inpaint_frame_by_frame(p, [_mask(0, 4), _mask(0, 0), _mask(4, 8)])
    _init(p)
    assert [call["mask"] is not None for call in p.calls] == [True, True, True]
    assert p.inpaint_full_res, "a blank mask turned 'only masked' off for the frames after it"
    assert p.nmask[:, 0, 0, 0].tolist() == [0.5, 1.0, 0.5]  # the blank frame: sampled whole
    assert p.mask[:, 0, 0, 0].tolist() == [0.5, 0.0, 0.5]
    assert p.overlay_images == ["overlay of 10", None, "overlay of 30"]


def test_frames_without_any_mask_leave_the_sampler_unmasked() -> None:
    p = Img2ImgInit(_frames(2), only_masked=True)
    inpaint_frame_by_frame(p, [_mask(0, 0), _mask(0, 0)])
    _init(p)
    assert p.mask is None and p.nmask is None and p.overlay_images is None and p.color_corrections is None


class _MaskOverlay:  # A1111's PostProcessMaskOverlayArgs
    def __init__(self, index: int, mask_for_overlay: Any = "the batch's mask"):
        self.index, self.mask_for_overlay, self.overlay_image = index, mask_for_overlay, None


def test_each_decoded_frame_is_pasted_at_its_own_crop_with_its_own_mask() -> None:
    masks = [_mask(0, 2), _mask(2, 4), _mask(4, 8)]
    p = Img2ImgInit(_frames(3), only_masked=True)
    inpaint_frame_by_frame(p, masks)
    _init(p)
    assert p.paste_to == (10, 0, 8, 8) and p.mask_for_overlay is masks[0]
    for index, red in enumerate((10, 20, 30)):
        overlay = _MaskOverlay(index, p.mask_for_overlay)  # A1111 starts each picture from p's
        finish_picture(p, overlay)
        assert p.paste_to == (red, 0, 8, 8) and overlay.mask_for_overlay is masks[index]
    beyond = _MaskOverlay(3)  # a picture A1111 adds after the frames
    finish_picture(p, beyond)
    assert beyond.mask_for_overlay == "the batch's mask"
    chosen = _MaskOverlay(1, "soft inpainting's mask of frame 1")  # another script's hook ran first
    finish_picture(p, chosen)
    assert chosen.mask_for_overlay == "soft inpainting's mask of frame 1" and p.paste_to == (20, 0, 8, 8)


def test_finish_picture_leaves_other_jobs_alone() -> None:
    p, overlay = Img2ImgInit(_frames(1)), _MaskOverlay(0)
    p.paste_to = (1, 2, 3, 4)
    finish_picture(p, overlay)
    assert p.paste_to == (1, 2, 3, 4) and overlay.mask_for_overlay == "the batch's mask"


def test_a_mask_for_every_frame_is_needed_and_extra_masks_are_unused() -> None:
    p = Img2ImgInit(_frames(3))
    inpaint_frame_by_frame(p, [_mask(0, 2), _mask(0, 4)])
    with pytest.raises(ParameterError, match="2 masks for 3 frames"):
        _init(p)
    p = Img2ImgInit(_frames(2))
    inpaint_frame_by_frame(p, [_mask(0, 2), _mask(0, 4), _mask(0, 8)])
    _init(p)
    assert len(p.calls) == 2 and p.nmask.shape[0] == 2
