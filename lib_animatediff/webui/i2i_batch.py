"""The img2img Batch tab as one animation.

A Batch-tab run with AnimateDiff on goes here instead of the WebUI's image-by-image loop, with
that loop's arguments: the host wraps the loop with :func:`batch_tab_as_video`, and
sd-webui-controlnet, where installed, hands such a run over too (to
``scripts.animatediff_i2ibatch.animatediff_i2i_batch``). Here it becomes one AnimateDiff job:
the input folder's images (or the uploaded files), in natural name order, are the video's
frames, each the init image of its frame, exactly as a frame folder given as the video source
(with frames 0 the video is as long as the folder; ControlNet units without an input of their
own take the frames). Masks come from the inpaint mask folder as A1111's loop finds them: its
one mask for every frame, or each frame's mask of the same name (any extension); with a mask per
frame A1111 prepares every frame with its own (``frame_inpaint``) and the units that take the
frames take the masks too. Masks are fitted to the video as its frames are. The output folder,
when given, takes the frames (the videos go to its ``AnimateDiff`` folder), and "scale to" sizes
the video from the first frame, as A1111's loop does per image.
"""

from __future__ import annotations

import dataclasses
import functools
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from ..errors import AnimateDiffError, ParameterError
from ..log import logger
from ..media.video_input import FrameFolder, cover_and_crop, frame_files
from .alwayson import alwayson_script, own_args, script_args
from .frame_inpaint import inpaint_frame_by_frame
from .job import SAVE_FRAMES_AS_IMAGES
from .params import AnimateDiffParams

SCRIPT_TITLE = "AnimateDiff"


def requested_params(p: Any) -> AnimateDiffParams | None:
    """What ``p``'s AnimateDiff arguments ask for, before its job starts; None when ``p`` has
    none or they do not parse (the job says why when it starts)."""
    args = script_args(p, SCRIPT_TITLE)
    if args is None:
        return None
    try:
        return AnimateDiffParams.from_args(args)
    except AnimateDiffError:
        return None


@contextmanager
def batch_frames(batch_input: str | Sequence[Any]) -> Iterator[list[Path]]:
    """The batch's frame files, all in one folder: the input folder's, or (uploaded files)
    copies named in upload order in a temporary folder, removed afterwards."""
    if isinstance(batch_input, str):
        folder = Path(batch_input.strip())
        if not folder.is_dir():
            raise ParameterError(f"img2img batch with AnimateDiff: the input directory {batch_input!r} is not a folder")
        files = frame_files(folder)
        if not files:
            raise ParameterError(f"img2img batch with AnimateDiff: the input directory {folder} holds no images")
        yield files
        return
    uploads = [Path(getattr(upload, "name", upload)) for upload in batch_input]
    if not uploads:
        raise ParameterError("img2img batch with AnimateDiff: no images were uploaded")
    with tempfile.TemporaryDirectory(prefix="animatediff-batch-") as staging:
        copies = [Path(staging, f"{index:05d}{upload.suffix.lower()}") for index, upload in enumerate(uploads)]
        for upload, copy in zip(uploads, copies):
            shutil.copyfile(upload, copy)
        yield copies


def batch_masks(mask_dir: str, frames: Sequence[Path]) -> list[Path]:
    """The inpaint masks of ``frames``, as A1111's Batch tab pairs them: none without a mask
    folder (or an empty one), the folder's one mask for every frame, else each frame's mask of
    the same name with any extension."""
    if not mask_dir or not mask_dir.strip():
        return []
    folder = Path(mask_dir.strip())
    if not folder.is_dir():
        raise ParameterError(f"img2img batch with AnimateDiff: the inpaint mask directory {mask_dir!r} is not a folder")
    masks = frame_files(folder)
    if len(masks) <= 1:
        return masks
    by_name = {}
    for mask in masks:
        by_name.setdefault(mask.stem, mask)
    missing = [frame.name for frame in frames if frame.stem not in by_name]
    if missing:
        raise ParameterError(
            f"img2img batch with AnimateDiff: the inpaint mask directory {folder} holds no mask named like the frame(s) "
            f"{', '.join(missing[:5])}{' …' if len(missing) > 5 else ''} (any extension): give every frame its mask, or one mask for all"
        )
    return [by_name[frame.stem] for frame in frames]


def fitted_mask(path: Path, width: int, height: int) -> Image.Image:
    """A mask as A1111 reads it (turned as its EXIF says; PNG transparency is alpha, and an
    alpha channel is the mask), fitted to the video as its frames are."""
    with Image.open(path) as image:
        image = ImageOps.exif_transpose(image)
        if "transparency" in image.info:
            image = image.convert("RGBA")
        return cover_and_crop(image, width, height)


def run_batch_as_video(
    p: Any,
    batch_input: str | Sequence[Any],
    output_dir: str,
    mask_dir: str,
    args: Sequence[Any],
    to_scale: bool,
    scale_by: float,
    process_images: Callable[[Any], Any],
    use_png_info: bool = False,
) -> Any:
    """One AnimateDiff job of the batch's frames; what ``process_images`` answers."""
    script = alwayson_script(p, SCRIPT_TITLE)
    if script is None:
        raise AnimateDiffError("img2img batch with AnimateDiff: the AnimateDiff script is not among this run's scripts")
    params = AnimateDiffParams.from_args(own_args(script, args))
    if use_png_info:
        logger.warning("img2img batch with AnimateDiff: 'Append png info to prompts' is not applied (one animation has one prompt and seed)")
    with ExitStack() as stack:
        frames = stack.enter_context(batch_frames(batch_input))
        folder = frames[0].parent
        logger.info("img2img batch: %d frames from %s as one animation", len(frames), folder)
        if to_scale:
            with Image.open(frames[0]) as first:
                p.width, p.height = int(first.width * scale_by), int(first.height * scale_by)
        if output_dir and output_dir.strip():
            p.outpath_samples = output_dir.strip()
            setattr(p, SAVE_FRAMES_AS_IMAGES, True)  # A1111 saves the frames there
        video = dataclasses.replace(params, video_source=None, video_path=str(folder))
        masks = [fitted_mask(path, p.width, p.height) for path in batch_masks(mask_dir, frames)]
        if len(masks) == 1:
            p.image_mask = masks[0]
        elif masks:
            video = _inpaint_each_frame(p, masks, video, stack)
        # the job reads its arguments from the first of its slots, which may hold the arguments themselves
        p.script_args = (*args[: script.args_from], video, *args[script.args_from + 1 :])
        return process_images(p)


def _inpaint_each_frame(p: Any, masks: list[Image.Image], video: AnimateDiffParams, stack: ExitStack) -> AnimateDiffParams:
    """Each frame inpainted with its own mask; the job's ControlNet units that take the frames
    take the masks too, from a folder of them in frame order that lives as long as ``stack``."""
    logger.info("img2img batch: a mask per frame")
    inpaint_frame_by_frame(p, masks)
    folder = stack.enter_context(FrameFolder(prefix="animatediff-masks-"))
    folder.save(masks)
    return dataclasses.replace(video, mask_path=str(folder.path))


def batch_tab_as_video(loop: Callable[..., Any], process_images: Callable[[Any], Any]) -> Callable[..., Any]:
    """The WebUI's Batch-tab loop (``modules.img2img.process_batch``, A1111's arguments) with a
    run whose AnimateDiff is on handed to :func:`run_batch_as_video`, as sd-webui-controlnet
    hands it over on A1111; every other run goes to ``loop`` as it came."""

    @functools.wraps(loop)
    def process_batch(
        p: Any, batch_input: Any, output_dir: str, mask_dir: str, args: Sequence[Any], to_scale: bool = False, scale_by: float = 1.0,
        *rest: Any, **options: Any,
    ) -> Any:  # fmt: skip
        params = requested_params(p)
        if params is None or not params.enable:
            return loop(p, batch_input, output_dir, mask_dir, args, to_scale, scale_by, *rest, **options)
        use_png_info = bool(options.get("use_png_info", rest[0] if rest else False))
        return run_batch_as_video(p, batch_input, output_dir, mask_dir, args, to_scale, scale_by, process_images, use_png_info)

    return process_batch
