"""The img2img Batch tab as one animation: what the hand-over (ours, or sd-webui-controlnet's) gets from us."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from PIL import Image

from lib_animatediff.errors import ParameterError
from lib_animatediff.webui.controlnet_compat import get_animatediff_arg
from lib_animatediff.webui.frame_inpaint import FRAME_INPAINT_ATTRIBUTE
from lib_animatediff.webui.i2i_batch import batch_tab_as_video, run_batch_as_video
from lib_animatediff.webui.params import AnimateDiffParams

ARGS_FROM, ARGS_TO = 2, 4  # where the AnimateDiff script's arguments lie among the run's


def _script(title: str, args_from: int, args_to: int) -> SimpleNamespace:
    return SimpleNamespace(title=lambda: title, args_from=args_from, args_to=args_to)


def _args(animatediff: Any) -> tuple:
    controlnet_unit = {"enabled": True, "model": "cn"}
    return (0, controlnet_unit, animatediff, "leftover positional value", "another script's value")


def _p(script_args: tuple) -> SimpleNamespace:
    scripts = SimpleNamespace(alwayson_scripts=[_script("ControlNet", 1, 2), _script("AnimateDiff", ARGS_FROM, ARGS_TO)])
    return SimpleNamespace(
        scripts=scripts, script_args=script_args, width=512, height=512, outpath_samples="outputs/img2img-images", init=lambda *seeds: None
    )


def _images(folder: Path, count: int, size: tuple[int, int] = (40, 24)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"frame{i}.png" for i in range(count)]
    for i, path in enumerate(paths):
        Image.new("RGB", size, (i * 20, 0, 0)).save(path)
    return paths


def test_controlnet_sees_the_asked_settings_before_the_job_starts() -> None:
    """The Batch tab asks before any job exists: the arguments decide."""
    arg = get_animatediff_arg(_p(_args({"enable": True, "video_length": 0, "batch_size": 8, "closed_loop": "R+P"})))
    assert arg is not None and arg.enable
    assert (arg.video_length, arg.batch_size, arg.closed_loop) == (0, 8, "R+P")
    assert get_animatediff_arg(_p(_args({"enable": False}))) is None
    assert get_animatediff_arg(_p(_args({"no_such_argument": 1}))) is None  # the job will say why
    assert get_animatediff_arg(SimpleNamespace(scripts=None, script_args=None)) is None  # another extension's p


def _run(p: SimpleNamespace, batch_input: Any, output_dir: str = "", mask_dir: str = "", **scale: Any) -> tuple[Any, list]:
    seen: list = []

    def process_images(processing: Any) -> str:
        params = AnimateDiffParams.from_args(processing.script_args[ARGS_FROM:ARGS_TO])
        folder = Path(params.video_path)
        seen.append((params, folder, sorted(path.name for path in folder.iterdir())))
        return "processed"

    return run_batch_as_video(p, batch_input, output_dir, mask_dir, p.script_args, scale.get("to_scale", False), scale.get("scale_by", 1.0), process_images), seen


def test_the_folders_images_are_the_frames_of_one_job(tmp_path: Path) -> None:
    frames = _images(tmp_path / "in", 12)
    args = _args({"enable": True, "video_length": 0, "video_source": "old.mp4"})
    p = _p(args)
    answer, seen = _run(p, f" {frames[0].parent} ", output_dir=str(tmp_path / "out"))
    assert answer == "processed" and len(seen) == 1
    params, folder, names = seen[0]
    assert folder == frames[0].parent and len(names) == 12
    assert params.enable and params.video_length == 0 and params.video_source is None
    # every other script's arguments are as they were
    assert p.script_args[:ARGS_FROM] == args[:ARGS_FROM] and p.script_args[ARGS_FROM + 1 :] == args[ARGS_FROM + 1 :]
    assert p.outpath_samples == str(tmp_path / "out")
    assert not hasattr(p, "image_mask")


def test_uploaded_files_are_staged_in_their_order_and_removed_after(tmp_path: Path) -> None:
    frames = _images(tmp_path / "uploads", 3)
    uploads = [SimpleNamespace(name=str(path)) for path in reversed(frames)]
    _, seen = _run(_p(_args({"enable": True})), uploads)
    _, folder, names = seen[0]
    assert names == ["00000.png", "00001.png", "00002.png"]
    assert not folder.exists()


def _mask(path: Path, size: tuple[int, int], value: int, mode: str = "L") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value if mode == "L" else (0, 0, 0, value)).save(path)
    return path


def test_the_one_mask_is_every_frames_inpaint_mask_fitted_like_the_frames(tmp_path: Path) -> None:
    frames = _images(tmp_path / "in", 4)
    mask = _mask(tmp_path / "masks" / "any name.png", (40, 24), 200, mode="RGBA")
    p = _p(_args({"enable": True}))
    _, seen = _run(p, str(frames[0].parent), mask_dir=str(mask.parent))
    # A1111 reads an RGBA mask's alpha: the mask is handed on as it was read, at the video's size
    assert p.image_mask.mode == "RGBA" and p.image_mask.size == (512, 512) and p.image_mask.getpixel((0, 0))[3] == 200
    assert not hasattr(p, FRAME_INPAINT_ATTRIBUTE)
    assert not seen[0][0].mask_path  # ControlNet units take no masks for it


def test_png_transparency_is_the_masks_alpha_as_a1111_reads_it(tmp_path: Path) -> None:
    frames = _images(tmp_path / "in", 2)
    mask = Image.new("P", (40, 24), 0)
    mask.putpalette([0, 0, 0, 255, 255, 255])
    mask.paste(1, (0, 0, 20, 24))
    (tmp_path / "masks").mkdir()
    mask.save(tmp_path / "masks" / "mask.png", transparency=0)  # palette entry 0 transparent: the right half
    p = _p(_args({"enable": True}))
    _run(p, str(frames[0].parent), mask_dir=str(tmp_path / "masks"))
    assert p.image_mask.mode == "RGBA" and p.image_mask.getpixel((0, 256))[3] == 255 and p.image_mask.getpixel((511, 256))[3] == 0


def test_a_mask_per_frame_goes_by_name_and_reaches_each_frame_and_the_controlnet_units(tmp_path: Path) -> None:
    frames = _images(tmp_path / "in", 12)
    for index, frame in enumerate(frames):  # named as the frames, any extension
        _mask(tmp_path / "masks" / f"{frame.stem}{'.jpg' if index % 2 else '.png'}", (40, 24), 10 * index)
    _mask(tmp_path / "masks" / "aaa.png", (40, 24), 255)  # first in the folder, no frame's: unused
    p = _p(_args({"enable": True}))
    staged: list[Path] = []

    def process_images(processing: Any) -> None:
        params = AnimateDiffParams.from_args(processing.script_args[ARGS_FROM:ARGS_TO])
        staged.append(Path(params.mask_path))
        units = [Image.open(path).getpixel((0, 0)) for path in sorted(Path(params.mask_path).iterdir())]
        assert units == [10 * index for index in range(12)], "ControlNet units' masks are out of frame order"

    run_batch_as_video(p, str(frames[0].parent), "", str(tmp_path / "masks"), p.script_args, False, 1.0, process_images)
    inpaint = getattr(p, FRAME_INPAINT_ATTRIBUTE)
    assert [mask.getpixel((0, 0)) for mask in inpaint.masks] == [10 * index for index in range(12)]
    assert all(mask.size == (512, 512) for mask in inpaint.masks)
    assert p.init == inpaint.init and p.image_mask is inpaint.masks[0]
    assert staged and not staged[0].exists(), "the units' mask folder outlived the job"


def test_a_frame_without_its_mask_is_a_clear_error(tmp_path: Path) -> None:
    frames = _images(tmp_path / "in", 3)
    for frame in frames[:2]:
        _mask(tmp_path / "masks" / frame.name, (40, 24), 255)
    with pytest.raises(ParameterError, match="holds no mask named like the frame\\(s\\) frame2.png"):
        _run(_p(_args({"enable": True})), str(frames[0].parent), mask_dir=str(tmp_path / "masks"))
    with pytest.raises(ParameterError, match="the inpaint mask directory .* is not a folder"):
        _run(_p(_args({"enable": True})), str(frames[0].parent), mask_dir=str(tmp_path / "no such folder"))
    empty = tmp_path / "empty"
    empty.mkdir()
    p = _p(_args({"enable": True}))
    _run(p, str(frames[0].parent), mask_dir=str(empty))  # as A1111: an empty mask folder is no inpainting
    assert not hasattr(p, "image_mask")


def test_scale_to_sizes_the_video_from_the_first_frame(tmp_path: Path) -> None:
    frames = _images(tmp_path / "in", 2, size=(64, 48))
    p = _p(_args({"enable": True}))
    _run(p, str(frames[0].parent), to_scale=True, scale_by=2.0)
    assert (p.width, p.height) == (128, 96)


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_a_folder_without_frames_is_a_clear_error(tmp_path: Path, make: str) -> None:
    folder = tmp_path / "in"
    if make == "empty":
        folder.mkdir()
    with pytest.raises(ParameterError, match="img2img batch with AnimateDiff: the input directory"):
        _run(_p(_args({"enable": True})), str(folder))


def test_the_batch_tabs_loop_hands_over_only_a_run_with_animatediff_on(tmp_path: Path, warnings_seen: list[str]) -> None:
    """The host puts this in place of the Batch tab's loop: a run with AnimateDiff off (or
    arguments that do not parse) goes to the loop with every argument as it came; a run with it
    on becomes one job of the folder's frames, the loop never called."""
    frames = _images(tmp_path / "in", 5)
    looped: list = []
    jobs: list = []

    def loop(*args: Any, **options: Any) -> str:
        looped.append((args, options))
        return "image by image"

    def process_images(processing: Any) -> str:
        jobs.append(AnimateDiffParams.from_args(processing.script_args[ARGS_FROM:ARGS_TO]))
        return "one animation"

    process_batch = batch_tab_as_video(loop, process_images)
    for off in ({"enable": False}, {"no_such_argument": 1}):
        p = _p(_args(off))
        options = {"to_scale": True, "scale_by": 0.5, "use_png_info": True, "png_info_props": ["Seed"], "png_info_dir": "info"}
        assert process_batch(p, str(frames[0].parent), "out", "masks", p.script_args, **options) == "image by image"
        assert looped[-1] == ((p, str(frames[0].parent), "out", "masks", p.script_args, True, 0.5), {k: options[k] for k in list(options)[2:]})
    assert not jobs

    p = _p(_args({"enable": True, "video_length": 0}))
    assert process_batch(p, str(frames[0].parent), "", "", p.script_args, to_scale=False, scale_by=1.0, use_png_info=False) == "one animation"
    assert len(looped) == 2 and len(jobs) == 1 and jobs[0].video_path == str(frames[0].parent)
    assert not warnings_seen


def test_png_info_asked_for_is_not_applied_and_the_log_says_so(tmp_path: Path, warnings_seen: list[str]) -> None:
    frames = _images(tmp_path / "in", 3)
    process_batch = batch_tab_as_video(lambda *args, **options: "image by image", lambda processing: "one animation")
    p = _p(_args({"enable": True}))
    assert process_batch(p, str(frames[0].parent), "", "", p.script_args, False, 1.0, True) == "one animation"  # positionally
    p = _p(_args({"enable": True}))
    assert process_batch(p, str(frames[0].parent), "", "", p.script_args, use_png_info=True) == "one animation"
    assert len(warnings_seen) == 2 and all("'Append png info to prompts' is not applied" in message for message in warnings_seen), warnings_seen
