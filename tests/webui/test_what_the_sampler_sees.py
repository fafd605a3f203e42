"""What A1111's samplers really see during AnimateDiff jobs, recorded per model call by the
record_sampling test extension (conftest.py): noise levels and the tables samplers copy, the
noise p.rng hands out, the latents FreeInit passes start from, the UNet's calls.

Expected values are worked out here from first principles (the published beta schedules,
k-diffusion's log-linear sigma interpolation, zero terminal SNR as Lin et al. 2023 define it),
not read back from the extension.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from webui_api import (
    ANIMATELCM_MOTION_MODULE,
    WebUIServer,
    animatediff,
    assert_animation,
    describe,
    img2img_payload,
    mean_abs_diff,
    on_forge,
    run_job,
    run_recorded,
    settings_restored,
    txt2img_payload,
)

FRAMES = 8
BETA_START, BETA_END = 0.00085, 0.012


def alphas_cumprod(kind: str) -> torch.Tensor:
    """The 1000-step ᾱ of a DDPM beta schedule: AnimateDiff trained SD 1.5 modules with linear
    betas, SD 1.5 checkpoints use scaled-linear (sqrt(beta) linear)."""
    if kind == "linear":
        betas = torch.linspace(BETA_START, BETA_END, 1000, dtype=torch.float64)
    else:
        betas = torch.linspace(BETA_START**0.5, BETA_END**0.5, 1000, dtype=torch.float64) ** 2
    return torch.cumprod(1 - betas, 0)


MODULE_ALPHAS = alphas_cumprod("linear")
# the test checkpoint stores its schedule in float16, as it stores everything (fixtures/make_sd15_checkpoint.py),
# and A1111 samples with that table; Forge builds the schedule from the model's config, not the file
CHECKPOINT_ALPHAS = alphas_cumprod("scaled_linear") if on_forge() else alphas_cumprod("scaled_linear").half().double()


def sigma_table(alphas: torch.Tensor) -> torch.Tensor:
    return ((1 - alphas) / alphas).sqrt()


def evenly_spaced_sigmas(alphas: torch.Tensor, steps: int) -> torch.Tensor:
    """The sigmas k-diffusion's default schedule visits: ``steps`` timesteps evenly spaced from
    the last to the first, each sigma interpolated log-linearly in the table."""
    log_sigmas = sigma_table(alphas).log()
    t = torch.linspace(len(alphas) - 1, 0, steps, dtype=torch.float64)
    low, high, w = t.floor().long(), t.ceil().long(), t - t.floor()
    return ((1 - w) * log_sigmas[low] + w * log_sigmas[high]).exp()


def zero_terminal_snr(alphas: torch.Tensor) -> torch.Tensor:
    """Lin et al. 2023: sqrt(ᾱ) shifted so the last step is 0 and rescaled so the first is kept;
    A1111 then puts a tiny ᾱ in the last step so that its sigma stays finite."""
    root = alphas.sqrt()
    first, last = root[0].clone(), root[-1].clone()
    rescaled = ((root - last) * first / (first - last)) ** 2
    rescaled[-1] = 4.8973451890853435e-08
    return rescaled


def denoiser_calls(events: list[dict]) -> list[dict]:
    return [event for event in events if event["kind"] == "denoiser"]


def first_sigma(events: list[dict]) -> float:
    return float(denoiser_calls(events)[0]["sigma"].max())


def passes(events: list[dict]) -> list[list[dict]]:
    """The events of each sampling pass, from its first denoiser call (the step count starts
    again at 0) to the next pass's."""
    found: list[list[dict]] = []
    last_step = None
    for event in events:
        if event["kind"] == "denoiser":
            if event["step"] == 0 and last_step != 0:
                found.append([])
            last_step = event["step"]
        if found:
            found[-1].append(event)
    return found


# --------------------------------------------------------------------------- the noise schedule

K_DIFFUSION_SAMPLERS = ["Euler", "Euler a", "DPM++ 2M"]


@pytest.mark.parametrize("sampler", [*K_DIFFUSION_SAMPLERS, "LCM"])
def test_img2img_samples_with_the_module_schedule_and_plain_img2img_after_with_the_checkpoints(server: WebUIServer, sampler: str) -> None:
    """A1111 builds the img2img sampler (and copies the sigma table) in p.init(), before
    sampling: the AnimateDiff schedule must be in place by then. At denoising strength 1 the
    first step is the table's largest sigma: 25.2 for the linear schedule, 14.6 for the checkpoint's."""
    payload = dict(sampler_name=sampler, steps=3, denoising_strength=1.0, cfg_scale=1.5 if sampler == "LCM" else 7)
    job, events = run_recorded(server, "img2img", img2img_payload(**payload, alwayson_scripts=animatediff()))
    assert_animation(job, server, frames=FRAMES)
    module_max, checkpoint_max = float(sigma_table(MODULE_ALPHAS)[-1]), float(sigma_table(CHECKPOINT_ALPHAS)[-1])
    kind, table = denoiser_calls(events)[0]["table"]
    assert kind == "sigmas" and float(table.max()) == pytest.approx(module_max, rel=1e-4), describe(job, server)
    assert first_sigma(events) == pytest.approx(module_max, rel=1e-4)
    if sampler in ("Euler", "Euler a"):
        seen = [float(call["sigma"][0]) for call in denoiser_calls(events)]
        assert seen == pytest.approx(evenly_spaced_sigmas(MODULE_ALPHAS, 3).tolist(), rel=1e-4)

    plain, plain_events = run_recorded(server, "img2img", img2img_payload(**payload))
    assert plain.response.ok, describe(plain, server)
    assert first_sigma(plain_events) == pytest.approx(checkpoint_max, rel=1e-4)
    assert float(denoiser_calls(plain_events)[0]["table"][1].max()) == pytest.approx(checkpoint_max, rel=1e-4)


def test_img2img_with_ddim_steps_through_the_module_alphas(server: WebUIServer) -> None:
    """Timestep samplers pass timesteps; the alphas they step with (their own copy, made when the
    sampler was built in p.init(), and the model's) must be the module's."""
    job, events = run_recorded(
        server, "img2img", img2img_payload(sampler_name="DDIM", steps=3, denoising_strength=1.0, alwayson_scripts=animatediff())
    )
    assert_animation(job, server, frames=FRAMES)
    for call in denoiser_calls(events):
        kind, table = call["table"]
        assert kind == "alphas"
        torch.testing.assert_close(table.double(), MODULE_ALPHAS, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(call["alphas_cumprod"].double(), MODULE_ALPHAS, rtol=1e-5, atol=1e-7)
    plain, plain_events = run_recorded(server, "img2img", img2img_payload(sampler_name="DDIM", steps=3, denoising_strength=1.0))
    assert plain.response.ok, describe(plain, server)
    torch.testing.assert_close(denoiser_calls(plain_events)[0]["table"][1].double(), CHECKPOINT_ALPHAS, rtol=1e-5, atol=1e-7)


def test_txt2img_samples_with_the_module_schedule(server: WebUIServer) -> None:
    job, events = run_recorded(server, "txt2img", txt2img_payload(steps=3, alwayson_scripts=animatediff()))
    assert_animation(job, server, frames=FRAMES)
    seen = [float(call["sigma"][0]) for call in denoiser_calls(events)]
    assert seen == pytest.approx(evenly_spaced_sigmas(MODULE_ALPHAS, 3).tolist(), rel=1e-4)


def test_zero_terminal_snr_is_applied_on_top_of_the_module_schedule(server: WebUIServer) -> None:
    """Settings → Sampler parameters → Zero Terminal SNR rescales whatever schedule runs; the
    infotext says so, and it must have run."""
    payload = txt2img_payload(steps=3, override_settings={"sd_noise_schedule": "Zero Terminal SNR"}, alwayson_scripts=animatediff())
    with settings_restored(server, {"sd_noise_schedule": "Default"}):  # A1111 left it on for every later job
        job, events = run_recorded(server, "txt2img", payload)
    assert_animation(job, server, frames=FRAMES)
    expected = evenly_spaced_sigmas(zero_terminal_snr(MODULE_ALPHAS), 3)
    seen = [float(call["sigma"][0]) for call in denoiser_calls(events)]
    assert seen == pytest.approx(expected.tolist(), rel=1e-3)
    assert seen[0] > 1000  # the zero-SNR end, not the plain schedule's 25.2
    assert "Noise Schedule: Zero Terminal SNR" in job.response.info()["infotexts"][0]


# --------------------------------------------------------------------------- context windows


def test_stride_counts_dilation_levels_as_sd_webui_animatediff_does(server: WebUIServer) -> None:
    """An SWA client's stride 3 means dilations 1, 2 and 4: every step runs exactly the windows
    of that schedule (16 frames in windows of 4: 4 contiguous, 4 of every 2nd frame, 4 of every 4th)."""
    from lib_animatediff.sampling.context import ContextSchedule

    settings = dict(video_length=16, batch_size=4, stride=3, overlap=0)
    job, events = run_recorded(server, "txt2img", txt2img_payload(steps=2, alwayson_scripts=animatediff(**settings)))
    assert_animation(job, server, frames=16)
    calls_per_step: list[int] = []
    for event in events:
        if event["kind"] == "denoiser":
            calls_per_step.append(0)
        elif event["kind"] == "unet" and calls_per_step:
            calls_per_step[-1] += 1
            assert event["rows"] == 2 * 4, event  # one window of cond and uncond
    schedule = ContextSchedule(context=4, stride=3, overlap=0)
    assert calls_per_step == [len(schedule.windows(16, step)) for step in range(2)] == [12, len(schedule.windows(16, 1))]
    assert "stride: 3" in job.response.info()["infotexts"][0]


# --------------------------------------------------------------------------- FreeInit's noise

FREEINIT = {"freeinit_enable": True, "freeinit_filter": "box", "freeinit_ds": 0.5, "freeinit_dt": 0.5, "freeinit_iters": 3}


@pytest.mark.parametrize("sampler, module", [("Euler a", None), ("LCM", ANIMATELCM_MOTION_MODULE)])
def test_freeinit_passes_draw_fresh_per_step_noise(server: WebUIServer, sampler: str, module: str | None) -> None:
    """Ancestral samplers draw new noise at every step through p.rng; in every FreeInit pass
    those draws differ from each other and from the pass's start noise."""
    model = animatediff(**FREEINIT) if module is None else animatediff(module, **FREEINIT)
    job, events = run_recorded(server, "txt2img", txt2img_payload(sampler_name=sampler, steps=4, cfg_scale=1.5, alwayson_scripts=model))
    assert_animation(job, server, frames=FRAMES)
    per_pass = passes(events)
    assert len(per_pass) == 3, [len(p) for p in per_pass]
    for number, events_of_pass in enumerate(per_pass):
        first = denoiser_calls(events_of_pass)[0]
        start = first["x"][-FRAMES:] / float(first["sigma"][0])
        draws = [event["noise"] for event in events_of_pass if event["kind"] == "sampler_noise"]
        assert len(draws) >= 3, f"pass {number + 1}: {len(draws)} per-step draws"
        for i, draw in enumerate(draws):
            assert (draw - start).abs().mean() > 0.5, f"pass {number + 1}: step draw {i} is the pass's start noise"
            for j in range(i):
                assert (draw - draws[j]).abs().mean() > 0.5, f"pass {number + 1}: step draws {j} and {i} are the same noise"


def box_low_pass(video: np.ndarray, cutoff: float) -> np.ndarray:
    """The frequencies of a (frames, C, H, W) video with |2·f| <= cutoff on each of the frames,
    height and width axes (f in cycles per sample), the rest removed."""
    keep = [np.abs(2 * np.fft.fftfreq(n)) <= cutoff for n in (video.shape[0], video.shape[2], video.shape[3])]
    mask = keep[0][:, None, None, None] & keep[1][None, None, :, None] & keep[2][None, None, None, :]
    return np.fft.ifftn(np.fft.fftn(video, axes=(0, 2, 3)) * mask, axes=(0, 2, 3)).real


def test_freeinit_renoises_with_the_first_pass_initial_noise(server: WebUIServer) -> None:
    """Pass 2 starts from LPF(samples₁/σ + ε₁) + HPF(fresh): its low frequencies are those of the
    first pass's result diffused with the first pass's own initial noise ε₁ (FreeInit's code)."""
    settings = {**FREEINIT, "freeinit_iters": 2}
    job, events = run_recorded(server, "txt2img", txt2img_payload(steps=3, alwayson_scripts=animatediff(**settings)))
    assert_animation(job, server, frames=FRAMES)
    first_pass, second_pass = passes(events)
    sigma = float(denoiser_calls(first_pass)[0]["sigma"][0])
    initial = denoiser_calls(first_pass)[0]["x"][-FRAMES:].double().numpy() / sigma
    samples = [event for event in first_pass if event["kind"] == "denoised"][-1]["x"].double().numpy()  # Euler ends on the last denoised
    start = denoiser_calls(second_pass)[0]["x"][-FRAMES:].double().numpy() / float(denoiser_calls(second_pass)[0]["sigma"][0])
    expected = box_low_pass(samples / sigma + initial, 0.5)
    got = box_low_pass(start, 0.5)
    assert np.abs(got - expected).max() < 1e-3, f"max |diff| {np.abs(got - expected).max()}"
    fresh = np.random.default_rng(0).standard_normal(initial.shape)
    assert np.abs(box_low_pass(samples / sigma + fresh, 0.5) - got).max() > 0.1  # the check can tell the noises apart


# --------------------------------------------------------------------------- img2img from a video


def test_img2img_from_a_video_starts_every_frame_from_its_own_frame(server: WebUIServer, tmp_path) -> None:
    """A video whose frames differ against one whose frames all equal its first: the later
    output frames differ clearly (each frame's init latent is its own video frame). The random
    VAE hardly tells greys apart, so the later frames are noise images; few steps at a low
    denoising strength keep the init latents visible through the sampling."""
    from PIL import Image

    rng = np.random.default_rng(3)
    grey = np.full((64, 64, 3), 128, dtype=np.uint8)
    moving, still = tmp_path / "moving", tmp_path / "still"
    for folder, frames in (
        (moving, [grey] + [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(FRAMES - 1)]),
        (still, [grey] * FRAMES),
    ):
        folder.mkdir()
        for number, pixels in enumerate(frames):
            Image.fromarray(pixels).save(folder / f"{number:05d}.png")
    payload = dict(steps=10, denoising_strength=0.2)
    # the first job of a new shape on this CPU host can come out differently: warm up, then compare
    runs = [
        run_job(server, "img2img", img2img_payload(**payload, alwayson_scripts=animatediff(video_path=str(folder))))
        for folder in (still, still, moving, still)
    ]
    for run in runs:
        assert_animation(run, server, frames=FRAMES)
    repeated = [mean_abs_diff(a, b) for a, b in zip(runs[1].frames, runs[3].frames)]
    change = [mean_abs_diff(a, b) for a, b in zip(runs[2].frames, runs[3].frames)]
    assert max(repeated) < 0.2 and min(change[1:]) > 1.5, (repeated, change)


def test_a_last_frame_with_a_video_source_is_refused(server: WebUIServer, tmp_path) -> None:
    from PIL import Image
    from webui_api import INIT_IMAGE

    for frame in range(FRAMES):
        Image.new("RGB", (64, 64), (10 * frame, 40, 90)).save(tmp_path / f"{frame:05d}.png")
    job = run_job(server, "img2img", img2img_payload(alwayson_scripts=animatediff(video_path=str(tmp_path), last_frame=INIT_IMAGE)))
    assert job.response.status >= 400 and not job.gifs, describe(job, server)
    assert "last_frame" in job.response.text and "video source" in job.response.text, job.response.text[:800]
