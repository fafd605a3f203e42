"""Frame interpolation: counts and fps, identity, motion-following in-between frames, loops, and
the Deforum FILM adapter (found, not found, failing)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PIL import Image

from lib_animatediff.errors import AnimateDiffError
from lib_animatediff.media.interpolation import FlowInterpolator, interpolate, interpolated_fps, interpolated_frame_count
from lib_animatediff.webui.deforum import DeforumFilmInterpolator, find_deforum_film

# Farnebäck builds pyramid levels only while both sides stay at least 32 px, so frames of
# 128×96 (three levels) are the smallest that follow a few pixels of motion well.
W, H, SIDE, BACKGROUND = 128, 96, 24, 20
TEXTURE = np.random.default_rng(0).integers(120, 255, (SIDE, SIDE, 3), dtype=np.uint8)


def square_at(x: float, textured: bool = False) -> Image.Image:
    a = np.full((H, W, 3), BACKGROUND, np.uint8)
    x = round(x)
    a[36 : 36 + SIDE, x : x + SIDE] = TEXTURE if textured else 230
    return Image.fromarray(a)


def centroid_x(image: Image.Image) -> float:
    weight = np.clip(np.asarray(image, np.float64).mean(axis=-1) - BACKGROUND, 0, None)
    xs = np.arange(W)[None, :]
    return float((weight * xs).sum() / weight.sum())


def mae(a: Image.Image, b: Image.Image | np.ndarray) -> float:
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).mean())


def test_counts_and_fps():
    assert interpolated_fps(8, 3) == 24
    assert interpolated_fps(7.5, 2) == 15
    assert interpolated_frame_count(16, 4) == 61
    assert interpolated_frame_count(16, 4, loop=True) == 64
    assert interpolated_frame_count(16, 1) == 16
    assert interpolated_frame_count(1, 5) == 1
    assert interpolated_frame_count(0, 5) == 0
    # The duration stays the same: exactly for loops, within one output frame otherwise.
    n, x, fps = 16, 4, 8
    assert interpolated_frame_count(n, x, loop=True) / interpolated_fps(fps, x) == n / fps
    assert abs(interpolated_frame_count(n, x) / interpolated_fps(fps, x) - n / fps) < 1 / interpolated_fps(fps, x) * x


def test_x1_is_identity(log_lines):
    frames = [square_at(10), square_at(20), square_at(30)]
    result = interpolate(frames, 1)
    assert result == frames
    assert all(a is b for a, b in zip(result, frames))
    assert interpolate(frames, 1, loop=True) == frames


def test_output_keeps_the_originals_in_place():
    frames = [square_at(10 + 6 * i) for i in range(4)]
    result = interpolate(frames, 3)
    assert len(result) == 10
    assert [result[3 * i] for i in range(4)] == frames
    looped = interpolate(frames, 3, loop=True)
    assert len(looped) == 12
    assert [looped[3 * i] for i in range(4)] == frames


def test_single_frame_and_bad_multiplier():
    frame = square_at(10)
    assert interpolate([frame], 4) == [frame]
    assert interpolate([frame], 4, loop=True) == [frame] * 4
    assert interpolate([], 4) == []
    for bad in (0, -1, 2.5, True):
        with pytest.raises(AnimateDiffError, match="multiplier"):
            interpolate([frame, frame], bad)


@pytest.mark.parametrize("textured", [False, True], ids=["flat", "textured"])
def test_middle_frame_follows_the_motion(textured):
    a, b = square_at(40, textured), square_at(52, textured)
    (middle,) = FlowInterpolator().between(a, b, [0.5])
    truth = square_at(46, textured)
    assert centroid_x(middle) == pytest.approx(centroid_x(truth), abs=0.75)
    # A cross-fade has the right centroid too, but two half-bright squares: flow must do far better.
    crossfade = (np.asarray(a, np.float64) + np.asarray(b, np.float64)) / 2
    assert mae(middle, truth) < 0.35 * mae(crossfade, truth)


def test_in_between_frames_advance_steadily(log_lines):
    frames = [square_at(20), square_at(36), square_at(52)]
    result = interpolate(frames, 4)
    assert len(result) == 9
    xs = [centroid_x(frame) for frame in result]
    start = centroid_x(frames[0])
    for index, x in enumerate(xs):
        assert x == pytest.approx(start + 4 * index, abs=1.0), xs
    assert any("optical flow" in line for line in log_lines)


def test_loop_interpolates_last_to_first():
    frames = [square_at(20), square_at(28), square_at(36)]
    result = interpolate(frames, 2, loop=True)
    assert len(result) == 6
    assert result[4] is frames[2]
    # The frame after the last one lies between the last square (36) and the first (20).
    assert centroid_x(result[5]) == pytest.approx((centroid_x(frames[2]) + centroid_x(frames[0])) / 2, abs=1.0)
    not_looped = interpolate(frames, 2)
    assert len(not_looped) == 5 and not_looped[-1] is frames[2]


# --------------------------------------------------------------------------------------------- Deforum FILM


FAKE_FILM = '''
import os
from PIL import Image

CALLS = []

def run_film_interp_infer(model_path=None, input_folder=None, save_folder=None, inter_frames=None):
    """Stand-in with Deforum's contract: inter_frames new frames between each pair, frame_NNNNN.png."""
    CALLS.append((model_path, input_folder, save_folder, inter_frames))
    names = sorted(n for n in os.listdir(input_folder) if n.endswith(".png"))
    images = [Image.open(os.path.join(input_folder, n)).convert("RGB") for n in names]
    out = []
    for a, b in zip(images, images[1:]):
        out.append(a)
        for k in range(1, inter_frames + 1):
            out.append(Image.blend(a, b, k / (inter_frames + 1)))
    out.append(images[-1])
    for i, image in enumerate(out):
        image.save(os.path.join(save_folder, f"frame_{i:05d}.png"))
'''


@pytest.fixture
def webui(tmp_path, monkeypatch):
    """A WebUI folder with an empty extensions folder; Deforum's module names start clean."""
    for name in [n for n in sys.modules if n.startswith(("deforum_helpers", "film_interpolation"))]:
        monkeypatch.delitem(sys.modules, name)
    (tmp_path / "extensions").mkdir()
    yield tmp_path
    for name in [n for n in sys.modules if n.startswith(("deforum_helpers", "film_interpolation"))]:
        del sys.modules[name]


def install_deforum(webui, source: str | None, model: bool = True):
    extension = webui / "extensions" / "sd-webui-deforum"
    package = extension / "scripts" / "deforum_helpers"
    (package / "src" / "film_interpolation").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    if source is not None:
        (package / "src" / "film_interpolation" / "film_inference.py").write_text(source)
    if model:
        folder = webui / "models" / "Deforum" / "film_interpolation"
        folder.mkdir(parents=True)
        (folder / "film_net_fp16.pt").write_bytes(b"model")
    return extension


def test_no_deforum_means_no_film(webui):
    assert find_deforum_film(webui / "extensions") is None
    assert find_deforum_film(webui / "no-such-folder") is None


def test_deforum_without_its_model_means_no_film(webui):
    install_deforum(webui, FAKE_FILM, model=False)
    assert find_deforum_film(webui / "extensions") is None


def test_deforum_whose_entry_point_does_not_import_means_no_film(webui, log_lines):
    install_deforum(webui, "import modules.shared  # only inside the WebUI\n")
    assert find_deforum_film(webui / "extensions") is None
    assert any("cannot be imported" in line for line in log_lines)
    install_sys_path = [p for p in sys.path if "sd-webui-deforum" in p]
    assert install_sys_path == []


def test_deforum_film_is_used_when_available(webui, log_lines):
    install_deforum(webui, FAKE_FILM)
    film = find_deforum_film(webui / "extensions")
    assert isinstance(film, DeforumFilmInterpolator)
    assert film.model_path == webui / "models" / "Deforum" / "film_interpolation" / "film_net_fp16.pt"
    frames = [square_at(20), square_at(28), square_at(36)]
    result = interpolate(frames, 3, interpolator=film)
    assert len(result) == 7
    assert [mae(result[3 * i], frames[i]) for i in range(3)] == [0, 0, 0]
    # The stand-in cross-fades, so the in-between frames are blends, unlike the flow result.
    blend = Image.blend(frames[0], frames[1], 1 / 3)
    assert mae(result[1], blend) <= 1
    calls = sys.modules["deforum_helpers.src.film_interpolation.film_inference"].CALLS
    assert calls[-1][0] == str(film.model_path) and calls[-1][3] == 2
    assert any("FILM" in line and "7 frames" in line for line in log_lines)
    looped = interpolate(frames, 3, loop=True, interpolator=film)
    assert len(looped) == 9
    assert mae(looped[7], Image.blend(frames[2], frames[0], 1 / 3)) <= 1


def test_failing_film_falls_back_to_optical_flow(webui, log_lines):
    install_deforum(
        webui, "def run_film_interp_infer(model_path, input_folder, save_folder, inter_frames):\n    raise RuntimeError('CUDA required')\n"
    )
    film = find_deforum_film(webui / "extensions")
    assert film is not None
    frames = [square_at(20), square_at(32)]
    result = interpolate(frames, 2, interpolator=film)
    assert len(result) == 3
    assert centroid_x(result[1]) == pytest.approx(centroid_x(square_at(26)), abs=0.75)
    assert any(line.startswith("WARNING") and "CUDA required" in line for line in log_lines)
    assert any("optical flow" in line for line in log_lines)


def test_deforum_module_already_loaded_by_the_webui_is_reused(webui, monkeypatch):
    import importlib.util

    extension = install_deforum(webui, FAKE_FILM)
    source = extension / "scripts" / "deforum_helpers" / "src" / "film_interpolation" / "film_inference.py"
    spec = importlib.util.spec_from_file_location("deforum_loaded_by_webui", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(sys.modules, "deforum_loaded_by_webui", module)
    film = find_deforum_film(webui / "extensions")
    assert film is not None and film.entry_point is module.run_film_interp_infer
    assert "deforum_helpers.src.film_interpolation.film_inference" not in sys.modules
