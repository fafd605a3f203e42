"""What is saved: ping-pong for loop A in one window, Interp X with the frame rate scaled."""

from __future__ import annotations

from PIL import Image

from lib_animatediff.media.outputs import frames_to_save, ping_pong
from lib_animatediff.sampling.context import ContextSchedule
from lib_animatediff.sampling.plan import JobPlan
from lib_animatediff.webui.params import AnimateDiffParams


def _frames(count: int) -> list[Image.Image]:
    return [Image.new("RGB", (64, 48), (i * 20, 0, 0)) for i in range(count)]


def _plan(frames: int, context: int) -> JobPlan:
    return JobPlan(frames=frames, context=min(frames, context), schedule=ContextSchedule(context=context))


def test_plain_job_saves_its_frames_at_its_fps():
    frames = _frames(8)
    saved, fps = frames_to_save(frames, AnimateDiffParams(fps=12).output_request(_plan(8, 16)))
    assert saved == frames and fps == 12


def test_loop_a_within_one_window_plays_forward_then_back():
    frames = _frames(5)
    saved, _ = frames_to_save(frames, AnimateDiffParams(closed_loop="A").output_request(_plan(5, 16)))
    assert [f.getpixel((0, 0))[0] for f in saved] == [0, 20, 40, 60, 80, 60, 40, 20]
    longer, _ = frames_to_save(_frames(20), AnimateDiffParams(closed_loop="A").output_request(_plan(20, 16)))
    assert len(longer) == 20  # a windowed loop already closes; no ping-pong


class _Counting:
    name = "stand-in FILM"

    def __init__(self):
        self.calls = []

    def interpolate(self, frames, x, loop):
        self.calls.append((len(frames), x, loop))
        count = len(frames) * x if loop else (len(frames) - 1) * x + 1
        return [frames[0]] * count


def test_interp_x_multiplies_frames_and_fps_so_the_duration_stays():
    film = _Counting()
    saved, fps = frames_to_save(_frames(8), AnimateDiffParams(fps=8, interp="FILM", interp_x=3, closed_loop="N").output_request(_plan(8, 16)), film)
    assert len(saved) == 22 and fps == 24 and film.calls == [(8, 3, False)]
    # duration: 8 frames at 8 fps against 22 frames at 24 fps — the same within one frame
    assert abs(8 / 8 - len(saved) / fps) <= 1 / 8


def test_interp_without_film_uses_the_builtin_interpolator():
    saved, fps = frames_to_save(_frames(3), AnimateDiffParams(fps=8, interp="FILM", interp_x=2, closed_loop="R-P").output_request(_plan(3, 16)))
    assert len(saved) == 6 and fps == 16  # looping: last → first interpolated too


def test_api_outputs_encode_the_videos_and_list_every_file(tmp_path):
    import base64

    from lib_animatediff.media.outputs import WrittenFile, encoded_videos, outputs_info
    from lib_animatediff.media.writers import VideoMeta, write_animation

    frames = [Image.new("RGB", (16, 16), (20 * i, 0, 0)) for i in range(4)]
    folder = tmp_path / "txt2img-images" / "AnimateDiff" / "2026-11-25"
    paths = write_animation(frames, folder, "00001-7", ["GIF", "PNG", "MP4", "TXT"], VideoMeta(fps=8, infotext="x"))
    written = [WrittenFile(path, 4, 8.0, 7) for path in paths]
    videos = encoded_videos(written)
    gif = next(path for path in paths if path.suffix == ".gif")
    mp4 = next(path for path in paths if path.suffix == ".mp4")
    assert [base64.b64decode(v) for v in videos] == [gif.read_bytes(), mp4.read_bytes()]
    info = outputs_info(written, tmp_path)
    assert [entry["format"] for entry in info] == [path.suffix[1:].upper() for path in paths]
    assert {entry["format"] for entry in info} == {"GIF", "PNG", "MP4", "TXT"}
    by_format = {entry["format"]: entry for entry in info}
    assert by_format["GIF"]["images_index"] == 0 and by_format["MP4"]["images_index"] == 1 and by_format["TXT"]["images_index"] is None
    assert by_format["GIF"]["path"] == "txt2img-images/AnimateDiff/2026-11-25/00001-7.gif"
    assert all(entry["frames"] == 4 and entry["fps"] == 8.0 and entry["seed"] == 7 for entry in info)


def test_ping_pong():
    assert ping_pong([0, 1, 2, 3]) == [0, 1, 2, 3, 2, 1]
    assert ping_pong([0, 1]) == [0, 1]
    assert ping_pong([0]) == [0]
    assert ping_pong([]) == []
