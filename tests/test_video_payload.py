"""Video input as a remote API client sends it (lib_animatediff/media/video_payload.py): a
server path, a base64 video or data URL, a list of base64 images; every fault names the field
and never repeats the payload."""

from __future__ import annotations

import base64
import io
import itertools
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_video_input import distinct_frames, nearest_source

from lib_animatediff.errors import AnimateDiffError
from lib_animatediff.media.video_input import read_video_frames
from lib_animatediff.media.video_payload import video_input_path, video_suffix
from lib_animatediff.media.writers import GifWriter, Mp4Writer, VideoMeta, WebmWriter, WebpWriter


class JobFolders:
    """Stands in for the job's stack of frame folders: a fresh folder per call."""

    def __init__(self, root: Path) -> None:
        self.root, self.made = root, []
        self.numbers = itertools.count()

    def __call__(self) -> Path:
        folder = self.root / f"sent-{next(self.numbers)}"
        folder.mkdir()
        self.made.append(folder)
        return folder


def _encoded(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def _png(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.mark.parametrize("writer", [Mp4Writer, WebmWriter, GifWriter, WebpWriter], ids=["mp4", "webm", "gif", "webp"])
@pytest.mark.parametrize("as_data_url", [False, True], ids=["base64", "data-url"])
def test_a_base64_video_is_written_into_the_jobs_folder_and_reads_back_frame_by_frame(tmp_path, writer, as_data_url):
    source = distinct_frames(12)
    (written,) = writer().write(source, tmp_path, "clip", VideoMeta(fps=8))
    payload = _encoded(written)
    if as_data_url:
        payload = f"data:video/{written.suffix[1:]};base64,{payload}"
    folders = JobFolders(tmp_path)
    path = video_input_path(payload, "video_source", folders)
    assert path.parent == folders.made[0] and path.suffix == written.suffix
    video = read_video_frames(path)
    assert [nearest_source(frame, source) for frame in video.frames] == list(range(12))


def test_a_server_path_stays_as_it_is_and_nothing_is_written(tmp_path):
    folders = JobFolders(tmp_path / "jobs")
    (tmp_path / "jobs").mkdir()
    assert video_input_path(str(tmp_path), "video_path", folders) == tmp_path
    assert video_input_path("", "video_path", folders) is None and video_input_path(None, "video_source", folders) is None
    assert not folders.made


def test_a_list_of_base64_images_becomes_a_frame_folder_in_order_masks_keep_their_alpha(tmp_path):
    frames = distinct_frames(5)
    mask = Image.new("RGBA", (64, 48), (255, 255, 255, 0))
    folders = JobFolders(tmp_path)
    folder = video_input_path([_png(frame) for frame in frames] + [f"data:image/png;base64,{_png(mask)}"], "mask_path", folders)
    files = sorted(folder.iterdir())
    assert [file.name for file in files] == [f"{i:05d}.png" for i in range(6)]
    assert [nearest_source(Image.open(file).convert("RGB"), frames) for file in files[:5]] == list(range(5))
    assert Image.open(files[5]).mode == "RGBA" and np.asarray(Image.open(files[5]))[..., 3].max() == 0


def _refusal(value, field="video_source", tmp_path=None) -> str:
    with pytest.raises(AnimateDiffError) as error:
        video_input_path(value, field, JobFolders(tmp_path))
    assert error.value.status_code == 422 and field in error.value.detail
    return error.value.detail


def test_faults_name_the_field_and_never_repeat_the_payload(tmp_path):
    noise = base64.b64encode(bytes(range(256)) * 400).decode()  # valid base64, no video
    detail = _refusal(noise, tmp_path=tmp_path)
    assert "not an MP4, WEBM, GIF, WEBP or MOV video" in detail and len(detail) < 200
    detail = _refusal("data:video/mp4," + "x" * 5000, tmp_path=tmp_path)
    assert "must be base64" in detail and len(detail) < 200
    detail = _refusal("data:video/mp4;base64,%%%" + "A" * 5000, tmp_path=tmp_path)
    assert "does not decode" in detail and len(detail) < 200
    long_name = "/tmp/" + "a" * 300 + "/clip.mp4"  # a path component past 255 characters
    detail = _refusal(long_name, "video_path", tmp_path)
    assert "video input not found" in detail and f"({len(long_name)} characters)" in detail and len(detail) < 200
    assert "not found: missing.mp4" in _refusal("missing.mp4", tmp_path=tmp_path)
    detail = _refusal([_png(Image.new("RGB", (8, 8))), "bm90IGFuIGltYWdl" * 20], "mask_path", tmp_path)
    assert "image 1 does not decode as an image" in detail and len(detail) < 200
    assert "must be a path" in _refusal(12, tmp_path=tmp_path)


def test_video_suffixes_are_told_from_the_first_bytes():
    assert video_suffix(b"\x00\x00\x00\x18ftypisom") == ".mp4" and video_suffix(b"\x00\x00\x00\x14ftypqt  ") == ".mov"
    assert video_suffix(b"\x1a\x45\xdf\xa3\x01") == ".webm" and video_suffix(b"GIF89a") == ".gif"
    assert video_suffix(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == ".webp" and video_suffix(b"\x89PNG\r\n") is None
