"""The extension's section in Settings → AnimateDiff: each option's default, label and widget."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..media.writers import FORMATS, OutputSettings

# key: (default, label, widget kind or None for A1111's default one, widget arguments)
SETTINGS: dict[str, tuple[Any, str, str | None, dict | None]] = {
    "animatediff_model_path": ("", "Motion module folder (empty: the extension's model/; --animatediff-model-dir wins)", None, None),
    "animatediff_default_save_formats": (["GIF", "PNG"], "Default save formats", "checkbox_group", {"choices": list(FORMATS)}),
    "animatediff_outdir": (
        "",
        "Save animations to this folder inside the outputs folder (empty: <mode>-images/AnimateDiff/<date>)",
        None,
        None,
    ),
    "animatediff_frame_extract_path": ("", "Folder for frames extracted from a video source (empty: a temporary folder)", None, None),
    "animatediff_keep_extracted_frames": (False, "Keep frames extracted from a video source after the job", None, None),
    "animatediff_gif_palette": (True, "GIF: optimal palette per animation (ffmpeg palettegen)", None, None),
    "animatediff_gifsicle": (False, "GIF: optimise with gifsicle (needs the gifsicle program)", None, None),
    "animatediff_mp4_crf": (23, "MP4: CRF (0 lossless … 51 worst)", "slider", {"minimum": 0, "maximum": 51, "step": 1}),
    "animatediff_mp4_preset": ("", "MP4: x264 preset (empty: ffmpeg's default, e.g. veryfast, slow)", None, None),
    "animatediff_mp4_tune": ("", "MP4: x264 tune (empty: none, e.g. film, animation)", None, None),
    "animatediff_webp_quality": (80, "WEBP: quality", "slider", {"minimum": 1, "maximum": 100, "step": 1}),
    "animatediff_webp_lossless": (False, "WEBP: lossless", None, None),
    "animatediff_download_mirror": ("", "Downloads: fetch Hugging Face files from this mirror, same paths (empty: https://huggingface.co)", None, None),
    "animatediff_catalog_file": ("", "Downloads: catalog file to offer instead of the built-in one (same JSON format)", None, None),
}


def output_settings(option: Callable[[str], Any]) -> OutputSettings:
    """The writers' settings from the WebUI's options (``option(key)``)."""
    return OutputSettings(
        gif_palette=bool(option("animatediff_gif_palette")),
        gifsicle=bool(option("animatediff_gifsicle")),
        mp4_crf=int(option("animatediff_mp4_crf")),
        mp4_preset=str(option("animatediff_mp4_preset")),
        mp4_tune=str(option("animatediff_mp4_tune")),
        webp_quality=int(option("animatediff_webp_quality")),
        webp_lossless=bool(option("animatediff_webp_lossless")),
    )
