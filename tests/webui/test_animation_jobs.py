"""AnimateDiff jobs in a real A1111 WebUI, over its HTTP API (see conftest.py for the set-up).

Every request is tiny (64×64, 2 Euler steps, cfg 7, fixed seeds): what is checked is that the
motion module takes part, that windows and batch counts give the right frames and GIFs, that
jobs are reproducible, and that the WebUI is exactly as before after every kind of job end
(success, an error mid-sampling, an interrupt, a bad request). A1111 answers 200 even when a
script's postprocess fails, so outputs are checked themselves, never just the status code.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from PIL import Image
from webui_api import (
    BASE_PAYLOAD,
    RAISE_MARKER,
    RAISE_MESSAGE,
    Job,
    PlainImages,
    WebUIServer,
    animatediff,
    assert_animation,
    assert_plain_unchanged,
    describe,
    difference,
    img2img_payload,
    mean_abs_diff,
    request,
    run_job,
    txt2img_payload,
)

SEED = BASE_PAYLOAD["seed"]


# --------------------------------------------------------------------------- shared jobs


EIGHT_FRAMES = txt2img_payload(alwayson_scripts=animatediff())


@pytest.fixture(scope="session")
def eight_frames(server: WebUIServer) -> Job:
    """txt2img, AnimateDiff, 8 frames in one context window of 8."""
    return run_job(server, "txt2img", EIGHT_FRAMES)


# --------------------------------------------------------------------------- a, b, c: animations


def test_eight_frames_use_the_motion_module(server: WebUIServer, eight_frames: Job) -> None:
    assert_animation(eight_frames, server, frames=8, seeds=[SEED])
    frames = eight_frames.frames
    assert any(not np.array_equal(frames[0], frame) for frame in frames[1:]), "all 8 frames are identical"

    plain = server.post("/sdapi/v1/txt2img", txt2img_payload(batch_size=8)).images()
    assert len(plain) == 8  # (the API returns no grid unless save_images is set)
    changes = [mean_abs_diff(a, b) for a, b in zip(frames, plain)]
    assert min(changes) > 0.5, (
        "AnimateDiff frames equal those of the same batch without AnimateDiff, so the motion module took no part: "
        f"mean |diff| per frame {[round(c, 3) for c in changes]}"
    )


def test_24_frames_in_windows_of_8(server: WebUIServer) -> None:
    job = run_job(server, "txt2img", txt2img_payload(alwayson_scripts=animatediff(video_length=24, batch_size=8, closed_loop="R-P")))
    assert_animation(job, server, frames=24, seeds=[SEED])
    assert len({frame.tobytes() for frame in job.frames}) > 1, "all 24 frames are identical"


def test_same_request_gives_the_same_frames(server: WebUIServer, eight_frames: Job) -> None:
    assert eight_frames.response.ok, describe(eight_frames, server)
    again = run_job(server, "txt2img", EIGHT_FRAMES)
    assert_animation(again, server, frames=8, seeds=[SEED])
    problems = [f"frame {n}: {difference(a, b)}" for n, (a, b) in enumerate(zip(eight_frames.frames, again.frames)) if not np.array_equal(a, b)]
    assert not problems, "the same request gave different frames:\n" + "\n".join(problems)


def test_batch_count_two_gives_two_videos(server: WebUIServer, eight_frames: Job) -> None:
    job = run_job(server, "txt2img", dict(EIGHT_FRAMES, n_iter=2))
    assert_animation(job, server, frames=8, videos=2, seeds=[SEED, SEED + 8])
    first, second = job.frames[:8], job.frames[8:]
    changes = [mean_abs_diff(a, b) for a, b in zip(first, second)]
    assert min(changes) > 0.5, f"the second video repeats the first: mean |diff| per frame {changes}"
    # the first iteration has the same seeds as the single job: the same frames
    assert eight_frames.response.ok, describe(eight_frames, server)
    problems = [f"frame {n}: {difference(a, b)}" for n, (a, b) in enumerate(zip(eight_frames.frames, first)) if not np.array_equal(a, b)]
    assert not problems, "the first video of batch count 2 differs from the same seed's single job:\n" + "\n".join(problems)


# --------------------------------------------------------------------------- d: the WebUI is restored


def test_plain_jobs_reproducible_before_animatediff(baseline: tuple[PlainImages, PlainImages]) -> None:
    """(i) Before any AnimateDiff job the probe is bit-reproducible; otherwise the restore
    checks below would mean nothing."""
    first, second = baseline
    assert len(first.txt2img) == 1 and len(first.img2img) == 1
    for kind in ("txt2img", "img2img"):
        for number, (a, b) in enumerate(zip(getattr(first, kind), getattr(second, kind))):
            assert np.array_equal(a, b), f"plain {kind} image {number} is not reproducible: {difference(a, b)}"
    assert first.txt2img[0].std() > 5 and first.img2img[0].std() > 5, "plain images are (nearly) constant"


def test_restored_after_a_successful_job(server: WebUIServer, eight_frames: Job, baseline: tuple[PlainImages, PlainImages]) -> None:
    """(ii)"""
    assert_plain_unchanged(server, baseline, after=f"a successful AnimateDiff job (HTTP {eight_frames.response.status})")


def _raise_mid_sampling(server: WebUIServer, mode: str) -> None:
    payload_of = txt2img_payload if mode == "txt2img" else img2img_payload
    payload = payload_of(prompt=f"a red ball bouncing {RAISE_MARKER}", alwayson_scripts=animatediff())
    raised_before = server.log_text().count("raise_in_sampling: raising now")
    job = run_job(server, mode, payload)
    raised = server.log_text().count("raise_in_sampling: raising now") - raised_before
    assert raised == 1, f"the test extension did not raise during the {mode} job ({raised} times)\n{describe(job, server)}"
    assert not job.gifs, f"a GIF was written for a job that failed mid-sampling\n{describe(job, server)}"
    assert job.response.status >= 400 and RAISE_MESSAGE in job.response.text, (
        f"the {mode} job that raised mid-sampling did not fail with that error\n{describe(job, server)}"
    )


def test_restored_after_an_error_mid_sampling_in_txt2img(server: WebUIServer, baseline: tuple[PlainImages, PlainImages]) -> None:
    """(iii) txt2img; the img2img probe must be fine too."""
    _raise_mid_sampling(server, "txt2img")
    assert_plain_unchanged(server, baseline, after="an AnimateDiff txt2img job that raised mid-sampling")


def test_restored_after_an_error_mid_sampling_in_img2img(server: WebUIServer, baseline: tuple[PlainImages, PlainImages]) -> None:
    """(iii) img2img."""
    _raise_mid_sampling(server, "img2img")
    assert_plain_unchanged(server, baseline, after="an AnimateDiff img2img job that raised mid-sampling")


def test_restored_after_an_interrupt(server: WebUIServer, baseline: tuple[PlainImages, PlainImages]) -> None:
    """(iv) A 16-frame, 20-step job, interrupted once sampling is under way."""
    payload = txt2img_payload(steps=20, alwayson_scripts=animatediff(video_length=16, batch_size=8))
    result: dict[str, Job] = {}
    worker = threading.Thread(target=lambda: result.setdefault("job", run_job(server, "txt2img", payload)), daemon=True)
    started = time.monotonic()
    worker.start()

    # wait for sampling to be under way: at least 2 s, and the progress past its first step
    state: dict = {}
    while time.monotonic() - started < 120 and worker.is_alive():
        time.sleep(0.5)
        progress = request(server.url + "/sdapi/v1/progress?skip_current_image=true", timeout=30)
        state = progress.body.get("state", {}) if progress.ok else {}
        if time.monotonic() - started >= 2 and state.get("sampling_step", 0) >= 1 and state.get("job_count", 0) > 0:
            break
    assert worker.is_alive(), f"the 20-step job ended before it could be interrupted\n{describe(result['job'], server)}"
    assert state.get("sampling_step", 0) >= 1, f"sampling did not start within 120 s: {state}\n{server.log_tail(40)}"
    interrupted_at = time.monotonic()
    running_for = interrupted_at - started
    fraction_done = state["sampling_step"] / max(1, state.get("sampling_steps", 1))
    answer = request(server.url + "/sdapi/v1/interrupt", method="POST", timeout=30)
    assert answer.ok, f"POST /sdapi/v1/interrupt: HTTP {answer.status}: {answer.text[:500]}"

    worker.join(timeout=300)
    assert not worker.is_alive(), f"the interrupted job did not return within 300 s\n{server.log_tail(40)}"
    job = result["job"]
    after_interrupt = time.monotonic() - interrupted_at
    # without the interrupt, the rest of the sampling alone would take about this long
    remaining = running_for * (1 - fraction_done) / max(fraction_done, 1e-3)
    assert after_interrupt < 0.5 * remaining, (
        f"the job did not stop early: {after_interrupt:.1f}s after the interrupt, sent {running_for:.1f}s in at "
        f"sampling step {state['sampling_step']}/{state.get('sampling_steps')} (≈{remaining:.0f}s of sampling left)\n{describe(job, server)}"
    )
    # an interrupt is not an error: A1111 answers with what it has, every frame decoded
    assert job.response.ok and len(job.frames) == 16, describe(job, server)
    # like A1111's own images, no animation of unfinished frames (save_incomplete_images off)
    assert job.gifs == [], describe(job, server)
    assert_plain_unchanged(server, baseline, after="an interrupted AnimateDiff job")


# --------------------------------------------------------------------------- e: a bad request


def test_unknown_motion_module_fails_clearly(server: WebUIServer, baseline: tuple[PlainImages, PlainImages]) -> None:
    job = run_job(server, "txt2img", txt2img_payload(alwayson_scripts=animatediff(model="does_not_exist.safetensors")))
    assert job.response.status >= 400, f"a job with an unknown motion module did not fail\n{describe(job, server)}"
    assert "does_not_exist.safetensors" in job.response.text, f"the error does not name the model\n{describe(job, server)}"
    assert not job.gifs, describe(job, server)
    # the server keeps serving, unchanged
    again = server.post("/sdapi/v1/txt2img", txt2img_payload())
    assert again.ok, f"plain txt2img after the bad request: HTTP {again.status}: {again.text[:1000]}"
    expected = baseline[0].txt2img
    got = again.images()
    assert len(got) == len(expected) and all(np.array_equal(a, b) for a, b in zip(expected, got)), (
        "plain txt2img after the bad request differs from before: " + "; ".join(difference(a, b) for a, b in zip(expected, got))
    )


@pytest.mark.parametrize("stop, iterations, finished", [("INTERRUPT", 2, [0]), ("SKIP", 3, [0, 2])])
def test_after_an_interrupt_or_skip_the_finished_animations_are_written(server: WebUIServer, stop: str, iterations: int, finished: list) -> None:
    """Batch count 2 interrupted in its second animation (or 3 with the second skipped): the
    finished animations are written and answered; the unfinished one is not (Settings → Save
    incomplete images is off by default)."""
    payload = txt2img_payload(
        prompt=f"a red ball {stop}_IN_ITERATION_2", steps=3, n_iter=iterations, alwayson_scripts=animatediff(format=["GIF", "PNG"])
    )
    job = run_job(server, "txt2img", payload)
    assert job.response.ok, describe(job, server)
    assert f"stop_in_iteration: {stop.lower()} in iteration 2" in server.log_tail(200), server.log_tail(40)
    seeds = job.response.info()["all_seeds"]
    written = sorted(int(gif.stem.split("-")[1]) for gif in job.gifs)
    assert written == sorted(seeds[8 * video] for video in finished), (written, describe(job, server))
    assert len(job.response.videos()) == len(finished), "the answer holds the written animations"


def test_each_animation_is_written_when_its_iteration_ends(server: WebUIServer) -> None:
    """Batch count 2 whose second animation fails in sampling: the first was written when the
    second began, so the fault loses nothing finished."""
    payload = txt2img_payload(prompt="a red ball RAISE_IN_ITERATION_2", steps=3, n_iter=2, alwayson_scripts=animatediff(format=["GIF"]))
    job = run_job(server, "txt2img", payload)
    assert "stop_in_iteration: raise in iteration 2" in server.log_tail(200), server.log_tail(40)
    assert job.response.status >= 400 and "a fault in sampling" in job.response.text, describe(job, server)
    assert [int(gif.stem.split("-")[1]) for gif in job.gifs] == [SEED], describe(job, server)
    with Image.open(job.gifs[0]) as gif:
        assert gif.n_frames == 8
