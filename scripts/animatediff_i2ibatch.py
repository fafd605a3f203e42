"""For sd-webui-controlnet, which hands the img2img Batch tab's run to this function by this
name when AnimateDiff is on (see lib_animatediff/webui/i2i_batch.py)."""

from typing import Any

from modules.processing import process_images

from lib_animatediff.webui.i2i_batch import run_batch_as_video


def animatediff_i2i_batch(
    p: Any,
    input: Any,  # A1111's name: a folder (str) or the uploaded files
    output_dir: str,
    inpaint_mask_dir: str,
    args: Any,
    to_scale: bool = False,
    scale_by: float = 1.0,
    use_png_info: bool = False,
    png_info_props: Any = None,
    png_info_dir: Any = None,
) -> Any:
    """A1111's ``modules.img2img.process_batch`` arguments; the frames' PNG info is not read
    (one animation has one prompt and seed)."""
    return run_batch_as_video(p, input, output_dir, inpaint_mask_dir, args, to_scale, scale_by, process_images, use_png_info)
