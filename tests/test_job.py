"""The life of a job (lib_animatediff/webui/job.py) with a stand-in WebUI: a small ldm UNet, a
processing object that samples the way A1111's does (noise from ``p.rng``, denoiser callbacks
before and after each step, the model through ``sd_model.apply_model``), and a host that
records what the job registers. The real WebUI's suite (tests/webui) runs the same job in A1111."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from conftest import SD15_CHANNELS
from PIL import Image

from lib_animatediff.devtools.random_weights import random_motion_modules, save_motion_modules
from lib_animatediff.devtools.tiny_unet import CONTEXT_DIM, build_unet
from lib_animatediff.errors import ParameterError
from lib_animatediff.media.outputs import OUTPUTS_INFO_KEY
from lib_animatediff.media.writers import OutputSettings
from lib_animatediff.model.families import SD15_ANIMATEDIFF_SCHEDULE, SDXL_STANDARD_SCHEDULE, V2, BaseModel
from lib_animatediff.model.injection import hooked_motion_modules
from lib_animatediff.model.module_cache import ModuleCache
from lib_animatediff.model.noise_schedule import use_noise_schedule
from lib_animatediff.webui.controlnet import SD_WEBUI_CONTROLNET
from lib_animatediff.webui.job import JOB_ATTRIBUTE, AnimationJob, final_video_length
from lib_animatediff.webui.params import AnimateDiffParams
from lib_animatediff.webui.state import WebUIScope

CHECKPOINT_SCHEDULE = SDXL_STANDARD_SCHEDULE.alphas_cumprod()  # SD 1.5's: scaled-linear 0.00085 → 0.012
MODULE_SCHEDULE = SD15_ANIMATEDIFF_SCHEDULE.alphas_cumprod()
MODULE = "mm_v2_tiny.safetensors"


class Host:
    """Stands in for the script's A1111 adapter; records the callbacks a job registers."""

    def __init__(self, model_dir: Path, **options: Any) -> None:
        self.state = SimpleNamespace(interrupted=False, skipped=False, sampling_step=0, sampling_steps=0, textinfo="")
        self._model_dir = model_dir
        self.data = {"batch_cond_uncond": False, "save_incomplete_images": False, **options}
        self.denoiser_callbacks: list = []
        self.denoised_callbacks: list = []
        self.model_loaded_callbacks: list = []
        self.checkpoints: dict[str, Path] = {}
        self.lowvram = False
        self.batch_readers: list[str] = []
        self.lent: list[tuple[Any, Any]] = []  # (model, motion modules) the memory manager holds now
        self.webui_scope = WebUIScope()
        self.whole_videos_per_call = False
        self.modules = ModuleCache(busy=lambda: self.webui_scope.active)
        self.shared_video: Any = None

    def motion_modules(self, path: Path) -> Any:
        return self.modules.get(path)

    def unet(self, model: Any) -> torch.nn.Module:
        return model.model.diffusion_model

    def route_model_calls(self, changes: Any, model: Any, runner: Any) -> None:
        apply_model = model.apply_model
        changes.set_attr(model, "apply_model", lambda x, t, cond: runner(apply_model, x, t, cond))

    def use_noise_schedule(self, changes: Any, p: Any, model: Any, alphas_cumprod: torch.Tensor) -> None:
        use_noise_schedule(changes, model, alphas_cumprod, lambda: self._apply_schedule_overrides(model))

    def noise_level(self, p: Any, denoiser_params: Any) -> float:
        return float(denoiser_params.sigma.flatten()[0])

    def share_video(self, video: Any) -> Any:
        self.shared_video = video
        return lambda: setattr(self, "shared_video", None)

    def model_dir(self) -> Path:
        return self._model_dir

    def option(self, key: str) -> Any:
        return self.data.get(key)

    def options_data(self) -> dict:
        return self.data

    def output_settings(self) -> OutputSettings:
        return OutputSettings(gif_palette=False)

    def infotext(self, p: Any, index: int) -> str:
        return f"{p.prompt}, iteration {p.iteration}, seed {p.seeds[index]}"

    def is_img2img(self, p: Any) -> bool:
        return hasattr(p, "init_images")

    def _apply_schedule_overrides(self, model: Any) -> None:
        """As A1111's: the working schedule from the original, here with a marker in the last step."""
        model.alphas_cumprod = model.alphas_cumprod_original.clone()
        model.alphas_cumprod[-1] = 0.5

    def encode_image(self, p: Any, image: Image.Image) -> torch.Tensor:
        return torch.full((4, 8, 8), 3.0)

    def on_denoiser(self, callback: Any) -> Any:
        self.denoiser_callbacks.append(callback)
        return lambda: self.denoiser_callbacks.remove(callback)

    def on_denoised(self, callback: Any) -> Any:
        self.denoised_callbacks.append(callback)
        return lambda: self.denoised_callbacks.remove(callback)

    def on_model_loaded(self, callback: Any) -> Any:
        self.model_loaded_callbacks.append(callback)
        return lambda: self.model_loaded_callbacks.remove(callback)

    def checkpoint_file(self, name: str) -> Path | None:
        return self.checkpoints.get(name)

    def low_vram(self, p: Any) -> bool:
        return self.lowvram

    def whole_batch_readers(self, p: Any) -> list[str]:
        return self.batch_readers

    def lent_models(self) -> list[Any]:
        return [model for model, _ in self.lent]

    def lend_to_memory_manager(self, changes: Any, model: Any, modules: Any) -> None:
        lent = (model, modules)
        self.lent.append(lent)

        def take_back() -> None:
            self.lent[:] = [each for each in self.lent if each is not lent]

        changes.callback("take back", take_back)

    def interrupt(self) -> BaseException:
        return Interrupted()

    def apply_motion_loras(self, changes: Any, modules: Any, p: Any) -> list[str]:
        return []

    controlnet_fields = SD_WEBUI_CONTROLNET

    def controlnet_units(self, p: Any) -> list:
        return []

    def controlnet_params(self, p: Any) -> list:
        return []

    def film(self) -> None:
        return None

    def short_hash(self, path: Path) -> str:
        return "0123456789"

    def is_api(self, p: Any) -> bool:
        return getattr(p, "is_api", False)

    def inside_xyz_grid(self) -> bool:
        return False


class Interrupted(BaseException):
    """Like A1111's InterruptedException, which its samplers catch to return what they have."""


class Noise:
    """Like A1111's ImageRNG: a new batch of unit noise per draw, one latent per image of the batch."""

    def __init__(self, p: Processing) -> None:
        self.p = p
        self.generator = torch.Generator().manual_seed(p.seed)
        self.draws = 0

    def next(self) -> torch.Tensor:
        self.draws += 1
        return torch.randn((self.p.batch_size, 4, 8, 8), generator=self.generator).to(self.p.device)


def sd_model(unet: torch.nn.Module) -> SimpleNamespace:
    """Like A1111's model: its UNet, its noise schedule, ``apply_model`` (in the UNet's dtype, as
    A1111's casts do; the sampler's side stays in float32)."""
    dtype = next(unet.parameters()).dtype

    def apply_model(x: torch.Tensor, t: torch.Tensor, cond: dict) -> torch.Tensor:
        return unet(x.to(dtype), t, context=cond["c_crossattn"][0].to(dtype)).float()

    return SimpleNamespace(
        alphas_cumprod=CHECKPOINT_SCHEDULE.clone(), alphas_cumprod_original=CHECKPOINT_SCHEDULE.clone(),
        model=SimpleNamespace(diffusion_model=unet), apply_model=apply_model,
    )  # fmt: skip


class Processing:
    """Like A1111's txt2img processing object, as far as a job touches it."""

    SIGMAS = (10.0, 5.0, 0.0)

    def __init__(self, host: Host, unet: torch.nn.Module, tmp: Path, prompt: str = "a fox", context_dim: int = CONTEXT_DIM) -> None:
        self.host, self.unet, self.context_dim = host, unet, context_dim
        self.device = next(unet.parameters()).device
        self.prompt, self.negative_prompt, self.n_iter, self.batch_size = prompt, "", 1, 1
        self.width = self.height = 64
        self.seed, self.seeds, self.iteration = 5, [5], 0
        self.extra_generation_params: dict = {}
        self.outpath_samples = str(tmp / "outputs" / "txt2img-images")
        self.enable_hr, self.init_latent, self.closed = False, None, 0
        self.rng = Noise(self)
        self.sd_model = sd_model(unet)
        self._apply_model = self.sd_model.apply_model
        self.during: list[dict] = []  # what sampling saw, once per pass
        self.steps: list[dict] = []  # what each model call saw
        self.before_step: dict[int, Any] = {}  # step → what happens to the model then (a refiner's switch)

    def sample(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        try:
            return self._sample()
        except Interrupted:  # as A1111's samplers do: stop, and return the latents as they are
            return self.latents

    def _sample(self) -> torch.Tensor:
        frames = self.batch_size
        self.during.append(
            {
                "hooked": len(hooked_motion_modules(self.unet)),
                "schedule": self.sd_model.alphas_cumprod.clone(),
                "batch_cond_uncond": self.host.data["batch_cond_uncond"],
                "callbacks": (len(self.host.denoiser_callbacks), len(self.host.denoised_callbacks)),
                "lent": self.host.lent_models(),
            }
        )
        x = self.latents = self.rng.next() * self.SIGMAS[0]
        self.during[-1]["start"] = x / self.SIGMAS[0]
        generator = torch.Generator().manual_seed(1)
        cond, uncond = (torch.randn(1, 5, self.context_dim, generator=generator).to(self.device) for _ in range(2))
        for step, (sigma, following) in enumerate(zip(self.SIGMAS, self.SIGMAS[1:])):
            if step in self.before_step:
                self.before_step[step]()
            params = SimpleNamespace(
                x=torch.cat([x, x]), sigma=torch.full((2 * frames,), sigma),
                image_cond=torch.zeros(2 * frames, 5, 1, 1, device=self.device),
                text_cond=cond.repeat(frames, 1, 1), text_uncond=uncond.repeat(frames, 1, 1), denoiser=SimpleNamespace(step=step),
                sampling_step=step, total_sampling_steps=2,
            )  # fmt: skip
            for callback in list(self.host.denoiser_callbacks):
                callback(params)
            conditioning = {"c_crossattn": [torch.cat([params.text_cond, params.text_uncond])]}
            unet_now = self.sd_model.model.diffusion_model
            self.steps.append(
                {
                    "model": self.sd_model, "hooked": len(hooked_motion_modules(unet_now)),
                    "schedule": self.sd_model.alphas_cumprod.clone(), "lent": self.host.lent_models(),
                }
            )  # fmt: skip
            timesteps = torch.full((2 * frames,), 500, device=self.device)
            out = self.sd_model.apply_model(params.x / (sigma**2 + 1) ** 0.5, timesteps, conditioning)
            for callback in list(self.host.denoised_callbacks):
                callback(SimpleNamespace(x=out))
            eps_cond, eps_uncond = out.chunk(2)
            denoised = x - sigma * (eps_uncond + 7 * (eps_cond - eps_uncond))
            x = self.latents = denoised + (x - denoised) / sigma * following
        return x

    def close(self) -> None:
        self.closed += 1


@pytest.fixture(scope="module")
def unet() -> torch.nn.Module:
    return build_unet(BaseModel.SD15, SD15_CHANNELS, seed=3)


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "motion_modules"
    folder.mkdir()
    save_motion_modules(random_motion_modules(V2, SD15_CHANNELS, seed=4), folder / MODULE)
    return folder


def args(**values: Any) -> list[dict]:
    return [{"enable": True, "model": MODULE, "video_length": 4, "batch_size": 4, "format": ["GIF", "PNG"], **values}]


def assert_webui_as_before(p: Processing, host: Host) -> None:
    assert not hooked_motion_modules(p.unet)
    assert torch.equal(p.sd_model.alphas_cumprod, CHECKPOINT_SCHEDULE) and torch.equal(
        p.sd_model.alphas_cumprod_original, CHECKPOINT_SCHEDULE
    )
    assert (
        p.sd_model.apply_model == p._apply_model
        and "apply_model" not in vars(p.sd_model)
        or vars(p.sd_model)["apply_model"] == p._apply_model
    )
    assert host.data["batch_cond_uncond"] is False and not host.denoiser_callbacks and not host.denoised_callbacks
    assert not host.webui_scope.active and host.shared_video is None and not host.lent


def test_a_job_samples_with_the_module_in_and_leaves_the_webui_as_it_was(unet, model_dir, tmp_path):
    host = Host(model_dir)
    p = Processing(host, unet, tmp_path)
    job = AnimationJob.start(host, p, args())
    assert getattr(p, JOB_ATTRIBUTE) is job and p.batch_size == 4
    assert "AnimateDiff" in p.extra_generation_params and "context: 4" in p.extra_generation_params["AnimateDiff"]
    samples = p.sample()
    assert samples.shape == (4, 4, 8, 8) and torch.isfinite(samples).all()
    seen = p.during[0]
    assert (
        seen["hooked"] == len(list(random_motion_modules(V2, SD15_CHANNELS).blocks()))
        and seen["batch_cond_uncond"] is True
        and seen["callbacks"] == (2, 1)  # the job follows the model, routes the calls
    )
    expected = MODULE_SCHEDULE.clone()
    expected[-1] = 0.5  # the WebUI's override, on top of the module's schedule
    assert torch.equal(seen["schedule"], expected)
    assert_webui_as_before(p, host)  # sampling's changes end with sampling

    p.close()
    assert p.closed == 1 and not hasattr(p, JOB_ATTRIBUTE) and "sample" not in vars(p) and "close" not in vars(p)


def test_the_motion_module_changes_the_video(unet, model_dir, tmp_path):
    host = Host(model_dir)
    plain = Processing(host, unet, tmp_path)
    plain.batch_size = 4
    with torch.no_grad():
        without = plain.sample()
    p = Processing(host, unet, tmp_path)
    AnimationJob.start(host, p, args())
    with torch.no_grad():
        animated = p.sample()
    assert (animated - without).abs().mean() > 1e-3


def test_a_motion_scale_of_zero_leaves_the_unet_alone_and_one_between_acts_less(unet, model_dir, tmp_path):
    host = Host(model_dir)
    results = {}
    for scale in ("0", "0.5", "1"):
        p = Processing(host, unet, tmp_path)
        AnimationJob.start(host, p, args(motion_scale=scale))
        with torch.no_grad():
            results[scale] = p.sample()
        assert p.during[0]["hooked"] == (0 if scale == "0" else len(list(random_motion_modules(V2, SD15_CHANNELS).blocks())))
        assert p.during[0]["lent"] == ([] if scale == "0" else [p.sd_model])  # no motion modules to load with the UNet
    plain = Processing(host, unet, tmp_path)
    plain.batch_size = 4
    with torch.no_grad():
        alone = plain.sample()
    # the job sends the rows frame-major, which some CPUs' kernels round differently (3e-4
    # seen); the motion modules move the result by about 14
    torch.testing.assert_close(results["0"], alone, rtol=0, atol=1e-3)
    half, full = (results["0.5"] - alone).abs().mean(), (results["1"] - alone).abs().mean()
    assert 0 < half < full


def test_freeinit_passes_start_each_from_the_reinitialised_noise(unet, model_dir, tmp_path):
    host = Host(model_dir)
    p = Processing(host, unet, tmp_path)
    AnimationJob.start(host, p, args(freeinit_enable=True, freeinit_iters=3))
    with torch.no_grad():
        p.sample()
    assert len(p.during) == 3 and [seen["callbacks"] for seen in p.during] == [(3, 1)] * 3  # FreeInit reads the noise level too
    starts = [seen["start"] for seen in p.during]
    assert not torch.equal(starts[0], starts[1]) and not torch.equal(starts[1], starts[2])
    assert p.rng.draws == 1  # only pass 1 draws the seed's noise; later passes are handed theirs
    assert "freeinit passes: 3" in p.extra_generation_params["AnimateDiff"]
    assert_webui_as_before(p, host)


def test_freenoise_starts_later_windows_from_the_first_windows_noise(unet, model_dir, tmp_path):
    host = Host(model_dir)
    p = Processing(host, unet, tmp_path)
    AnimationJob.start(host, p, args(video_length=10, batch_size=4, overlap=0, freenoise=True))
    with torch.no_grad():
        p.sample()
    start = p.during[0]["start"]
    assert start.shape[0] == 10 and "freenoise: True" in p.extra_generation_params["AnimateDiff"]
    first_window = [start[f] for f in range(4)]
    for frame in range(4, 10):  # every later frame's noise is one of the first window's
        assert any(torch.equal(start[frame], noise) for noise in first_window), frame
    plain = Processing(host, unet, tmp_path)
    AnimationJob.start(host, plain, args(video_length=10, batch_size=4, overlap=0))
    with torch.no_grad():
        plain.sample()
    assert torch.equal(plain.during[0]["start"][:4], start[:4]) and not torch.equal(plain.during[0]["start"], start)


def test_an_error_in_sampling_undoes_every_change(unet, model_dir, tmp_path):
    host = Host(model_dir)
    p = Processing(host, unet, tmp_path)
    AnimationJob.start(host, p, args())

    def broken(*a: Any, **kw: Any) -> None:
        raise RuntimeError("sampler broke")

    p.unet.register_forward_pre_hook(lambda module, inputs: broken())
    try:
        with pytest.raises(RuntimeError, match="sampler broke"):
            p.sample()
    finally:
        p.unet._forward_pre_hooks.clear()
    assert_webui_as_before(p, host)


@pytest.mark.parametrize(
    "values, words",
    [
        ({"stride": 0}, "'stride'"),
        ({"model": "absent.safetensors"}, "absent.safetensors"),
        ({"batch_size": 64}, "at most 32 frames"),
        ({"format": []}, "'format'"),
        ({"request_id": "../x"}, "'request_id'"),
    ],
)
def test_bad_arguments_fail_the_job_with_422_and_change_nothing(unet, model_dir, tmp_path, values, words):
    host = Host(model_dir)
    p = Processing(host, unet, tmp_path)
    assert AnimationJob.start(host, p, args(**values)) is None
    with pytest.raises(Exception, match=words) as error:
        p.sample()
    assert error.value.status_code == 422 and words in error.value.detail
    assert p.batch_size == 1 and not p.extra_generation_params and not hasattr(p, JOB_ATTRIBUTE)


def test_a_positional_list_that_is_not_the_documented_one_is_refused(unet, model_dir, tmp_path):
    host = Host(model_dir)
    p = Processing(host, unet, tmp_path)
    AnimationJob.start(host, p, [16, 8, True])
    with pytest.raises(ParameterError, match="dict of named arguments or the positional list"):
        p.sample()


def test_off_is_no_job(unet, model_dir, tmp_path):
    host = Host(model_dir)
    p = Processing(host, unet, tmp_path)
    assert AnimationJob.start(host, p, [False]) is None and AnimationJob.start(host, p, args(enable=False)) is None
    assert "sample" not in vars(p) and p.batch_size == 1


def test_a_video_source_sets_the_length_and_its_frames_leave_with_the_job(unet, model_dir, tmp_path):
    source = tmp_path / "frames"
    source.mkdir()
    for number in range(5):
        Image.fromarray(np.full((32, 32, 3), 40 * number, dtype=np.uint8)).save(source / f"{number:03d}.png")
    extract = tmp_path / "extract"
    host = Host(model_dir, animatediff_frame_extract_path=str(extract), animatediff_keep_extracted_frames=False)
    p = Processing(host, unet, tmp_path)
    p.init_images = [Image.new("RGB", (64, 64))]  # img2img
    job = AnimationJob.start(host, p, args(video_length=0, video_path=str(source)))
    assert job.params.video_length == 0 and job.plan.frames == 5 and p.batch_size == 5  # the request stays as sent
    assert "frames: 5," in p.extra_generation_params["AnimateDiff"]  # infotext records what ran
    assert len(p.init_images) == 5 and p.init_images[0].size == (64, 64)
    folders = list(extract.iterdir())
    assert len(folders) == 1 and len(list(folders[0].iterdir())) == 5
    p.close()
    assert not any(extract.iterdir())


def test_a_last_frame_with_a_video_source_is_refused(unet, model_dir, tmp_path):
    source = tmp_path / "frames"
    source.mkdir()
    Image.new("RGB", (32, 32)).save(source / "000.png")
    host = Host(model_dir)
    p = Processing(host, unet, tmp_path)
    p.init_images = [Image.new("RGB", (64, 64))]
    AnimationJob.start(host, p, args(video_path=str(source), last_frame=Image.new("RGB", (64, 64))))
    with pytest.raises(ParameterError, match="video source"):
        p.sample()


@pytest.mark.parametrize("interp, refused", [("FILM", True), ("Optical flow", False)])
def test_film_without_deforum_is_refused_naming_the_built_in_interpolator(unet, model_dir, tmp_path, interp, refused):
    """The choices say which interpolator runs: FILM is Deforum's (the stand-in host has none),
    Optical flow the built-in one."""
    host = Host(model_dir)
    p = Processing(host, unet, tmp_path)
    job = AnimationJob.start(host, p, args(interp=interp, interp_x=2))
    if refused:
        with pytest.raises(ParameterError, match="'interp' 'FILM'.*sd-webui-deforum.*'Optical flow'"):
            p.sample()
    else:
        assert job is not None
        job.leave()


def test_img2img_has_the_module_schedule_around_init(unet, model_dir, tmp_path):
    """A1111 builds the img2img sampler in p.init(), between process and the first batch."""
    host = Host(model_dir)
    p = Processing(host, unet, tmp_path)
    p.init_images = [Image.new("RGB", (64, 64))]
    job = AnimationJob.start(host, p, args())
    job.before_init(p)
    assert torch.equal(p.sd_model.alphas_cumprod_original, MODULE_SCHEDULE) and host.webui_scope.active
    job.iteration_begins(p)
    assert torch.equal(p.sd_model.alphas_cumprod_original, CHECKPOINT_SCHEDULE) and not host.webui_scope.active
    job.leave()


@pytest.mark.parametrize("api", [True, False], ids=["api", "ui"])
def test_write_saves_each_video_and_shows_it(unet, model_dir, tmp_path, api):
    host = Host(model_dir)
    p = Processing(host, unet, tmp_path)
    p.is_api = api
    job = AnimationJob.start(host, p, args())
    frames = [Image.new("RGB", (64, 64), (30 * i, 0, 0)) for i in range(8)]  # two videos of a batch count of 2
    processed = SimpleNamespace(
        images=frames, index_of_first_image=0, all_seeds=[5] * 4 + [6] * 4, infotexts=["a"] * 4 + ["b"] * 4, extra_generation_params={},
        prompt="", negative_prompt="", all_prompts=[""], all_negative_prompts=[""], comments="",
    )  # fmt: skip
    job.write(p, processed)
    job.leave()
    written = sorted(path.name for path in (tmp_path / "outputs").rglob("*.gif"))
    assert [name.split("-")[1] for name in written] == ["5.gif", "6.gif"]
    listed = processed.extra_generation_params["AnimateDiff outputs"]
    assert [entry["format"] for entry in listed] == ["GIF"] + ["PNG"] * 4 + ["GIF"] + ["PNG"] * 4
    assert len(processed.images) == 2 + 8  # the two animations first, then the frames
    if api:
        assert all(isinstance(item, str) for item in processed.images[:2])  # base64 of each GIF
    else:
        assert [Path(item.already_saved_as).name for item in processed.images[:2]] == written
        assert processed.infotexts == ["a", "b"] + ["a"] * 4 + ["b"] * 4



class CountingInterpolator:
    name = "stand-in FILM"

    def __init__(self) -> None:
        self.calls: list[int] = []

    def interpolate(self, frames: Any, x: int, loop: bool = False) -> list:
        self.calls.append(len(frames))
        return [frame for frame in frames for _ in range(x)]


def test_film_is_found_once_per_job_and_interpolates_every_animation(unet, model_dir, tmp_path):
    film, looked_up = CountingInterpolator(), []
    host = Host(model_dir)
    host.film = lambda: looked_up.append(1) or film  # type: ignore[method-assign]
    p = Processing(host, unet, tmp_path)
    job = AnimationJob.start(host, p, args(interp="FILM", interp_x=2, format=["GIF"]))
    frames = [Image.new("RGB", (64, 64), (30 * i, 0, 0)) for i in range(8)]  # two animations of 4 frames
    processed = SimpleNamespace(
        images=frames, index_of_first_image=0, all_seeds=[5] * 4 + [6] * 4, infotexts=["a"] * 8, extra_generation_params={},
        prompt="", negative_prompt="", all_prompts=[""], all_negative_prompts=[""], comments="",
    )  # fmt: skip
    job.write(p, processed)
    job.leave()
    assert looked_up == [1] and film.calls == [4, 4]

def test_final_video_length_follows_the_shortest_source():
    params = AnimateDiffParams(video_length=0)
    assert final_video_length(params, None, []) == 0
    assert final_video_length(params, 12, [20, 9]) == 9
    assert final_video_length(dataclasses.replace(params, video_length=10), 12, []) == 10
    assert final_video_length(dataclasses.replace(params, video_length=16), 12, [0]) == 12


MODULE_COUNT = len(list(random_motion_modules(V2, SD15_CHANNELS).blocks()))


def _with_overrides(schedule: torch.Tensor) -> torch.Tensor:
    expected = schedule.clone()
    expected[-1] = 0.5  # the stand-in host's override marker
    return expected


def test_a_checkpoint_loaded_into_the_model_mid_sampling_keeps_the_motion_modules_and_the_module_schedule(unet, model_dir, tmp_path):
    """Hires. fix with another checkpoint, an SD 1.5 refiner: A1111 loads the other checkpoint's
    weights into the same model by key (its schedule back to the checkpoint's) and tells the
    model-loaded callbacks."""
    host = Host(model_dir)
    p = Processing(host, unet, tmp_path)
    AnimationJob.start(host, p, args())

    def load_weights() -> None:
        p.sd_model.alphas_cumprod_original = CHECKPOINT_SCHEDULE.clone()
        p.sd_model.alphas_cumprod = CHECKPOINT_SCHEDULE.clone()
        for callback in list(host.model_loaded_callbacks):
            callback(p.sd_model)

    p.before_step[1] = load_weights
    with torch.no_grad():
        p.sample()
    assert [seen["hooked"] for seen in p.steps] == [MODULE_COUNT] * 2
    assert all(torch.equal(seen["schedule"], _with_overrides(MODULE_SCHEDULE)) for seen in p.steps)
    assert_webui_as_before(p, host)
    assert not host.model_loaded_callbacks


@pytest.mark.parametrize("announced", [True, False], ids=["loaded", "kept-loaded"])
def test_a_second_model_switched_to_mid_sampling_runs_the_motion_modules_too(unet, model_dir, tmp_path, announced):
    """A refiner A1111 loads as a model of its own (or had kept loaded: no callback then) runs
    the motion modules, the job's model calls and the module's schedule from its first step,
    and is left as it was."""
    import copy

    host = Host(model_dir)
    p = Processing(host, unet, tmp_path)
    AnimationJob.start(host, p, args())
    refiner_unet = copy.deepcopy(unet)
    refiner = sd_model(refiner_unet)
    refiner_apply_model = refiner.apply_model

    def switch() -> None:
        p.sd_model = refiner
        for callback in list(host.model_loaded_callbacks) if announced else []:
            callback(refiner)

    p.before_step[1] = switch
    with torch.no_grad():
        p.sample()  # the refiner's hooked modules raise without the runner's frame count
    assert p.steps[1]["model"] is refiner and [seen["hooked"] for seen in p.steps] == [MODULE_COUNT] * 2
    assert p.steps[1]["lent"] == [p.steps[0]["model"], refiner]  # the memory manager loads them with either model
    assert torch.equal(p.steps[1]["schedule"], _with_overrides(MODULE_SCHEDULE))
    assert not hooked_motion_modules(refiner_unet) and torch.equal(refiner.alphas_cumprod, CHECKPOINT_SCHEDULE)
    assert refiner.apply_model is refiner_apply_model
    p.sd_model = p.steps[0]["model"]
    assert_webui_as_before(p, host)


def _checkpoint_header(path: Path, levels: int, channels: int, sdxl: bool) -> Path:
    """A checkpoint file with the keys and shapes that tell its UNet's kind (no real weights)."""
    from safetensors.torch import save_file

    tensors = {f"model.diffusion_model.input_blocks.{i}.0.bias": torch.zeros(1) for i in range(3 * levels)}
    tensors["model.diffusion_model.input_blocks.0.0.weight"] = torch.zeros(channels, 4, 3, 3)
    if sdxl:
        tensors["conditioner.embedders.0.model.ln_final.weight"] = torch.zeros(1)
    save_file(tensors, str(path))
    return path


@pytest.mark.parametrize("field, role", [("refiner_checkpoint", "refiner"), ("hr_checkpoint_name", "Hires. fix checkpoint")])
def test_a_refiner_or_hires_checkpoint_the_motion_modules_do_not_fit_is_refused_before_sampling(unet, model_dir, tmp_path, field, role):
    host = Host(model_dir)
    host.checkpoints["sd_xl_refiner_1.0"] = _checkpoint_header(tmp_path / "refiner.safetensors", levels=4, channels=384, sdxl=True)
    host.checkpoints["another_sd15"] = _checkpoint_header(tmp_path / "sd15.safetensors", levels=4, channels=SD15_CHANNELS[0], sdxl=False)
    p = Processing(host, unet, tmp_path)
    p.enable_hr = True
    setattr(p, field, "another_sd15")
    assert AnimationJob.start(host, p, args()) is not None
    getattr(p, JOB_ATTRIBUTE).leave()

    p = Processing(host, unet, tmp_path)
    p.enable_hr = True
    setattr(p, field, "sd_xl_refiner_1.0")
    assert AnimationJob.start(host, p, args()) is None
    with pytest.raises(ParameterError) as error:
        p.sample()
    assert error.value.status_code == 422
    assert f"{role} sd_xl_refiner_1.0" in error.value.detail and "384 channels" in error.value.detail
    assert not hasattr(p, JOB_ATTRIBUTE) and p.batch_size == 1


@pytest.mark.parametrize(
    "animation, refused",
    [
        ({"video_length": 8, "batch_size": 4}, True),
        ({"video_length": 8, "batch_size": 4, "context_schedule": "views"}, False),
        ({"video_length": 4, "batch_size": 4}, False),
    ],
    ids=["windows", "views", "one window"],
)
def test_an_extension_that_reads_a_calls_whole_batch_is_refused_when_calls_hold_windows(unet, model_dir, tmp_path, animation, refused):
    host = Host(model_dir)
    host.batch_readers = ["Self-Attention Guidance"]
    p = Processing(host, unet, tmp_path)
    started = AnimationJob.start(host, p, args(**animation))
    if not refused:
        assert started is not None
        started.leave()
        return
    assert started is None
    with pytest.raises(ParameterError) as error:
        p.sample()
    assert error.value.status_code == 422
    assert "Self-Attention Guidance" in error.value.detail and "8 frames in context windows of 4" in error.value.detail
    assert "'context_schedule' 'views'" in error.value.detail
    assert not hasattr(p, JOB_ATTRIBUTE) and p.batch_size == 1


@pytest.mark.parametrize("lowvram", [True, False], ids=["medvram", "normal"])
def test_under_medvram_the_motion_modules_go_to_the_cpu_once_out_of_the_unet(unet, model_dir, tmp_path, monkeypatch, lowvram):
    from lib_animatediff.model.motion_module import MotionModuleSet

    moves: list[tuple[Any, int]] = []
    original_to = MotionModuleSet.to

    def to(self: MotionModuleSet, *args: Any, **kwargs: Any) -> MotionModuleSet:
        moves.append((args[0] if args else kwargs.get("device"), len(hooked_motion_modules(unet))))
        return original_to(self, *args, **kwargs)

    monkeypatch.setattr(MotionModuleSet, "to", to)
    host = Host(model_dir)
    host.lowvram = lowvram
    p = Processing(host, unet, tmp_path)
    AnimationJob.start(host, p, args())
    with torch.no_grad():
        p.sample()
    assert (moves[-1] == ("cpu", 0)) is lowvram  # the last move: to the CPU, after the hooks are gone


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU: measures what a job leaves resident on it")
@pytest.mark.parametrize("lowvram", [True, False], ids=["medvram", "normal"])
def test_under_medvram_a_job_leaves_no_motion_module_on_the_gpu(tmp_path, lowvram):
    """At SD 1.5's own size in half precision, what a job leaves on the GPU beside the UNet:
    nothing under --medvram/--lowvram, the whole v2 module set (~0.9 GB) otherwise, kept there
    for the next job. ``-s`` prints the figures."""
    channels = (320, 640, 1280, 1280)
    unet = build_unet(BaseModel.SD15, channels, context_dim=768).half().cuda()
    folder = tmp_path / "motion_modules"
    folder.mkdir()
    module_file = save_motion_modules(random_motion_modules(V2, channels, seed=4).half(), folder / MODULE)
    module_bytes = module_file.stat().st_size
    host = Host(folder)
    host.lowvram = lowvram
    with torch.no_grad(), torch.autocast("cuda", torch.float16):  # a plain call first: cuBLAS keeps a workspace (32 MiB)
        unet(torch.zeros(8, 4, 8, 8, device="cuda"), torch.full((8,), 500, device="cuda"), context=torch.zeros(8, 5, 768, device="cuda"))
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    p = Processing(host, unet, tmp_path, context_dim=768)
    AnimationJob.start(host, p, args())
    with torch.no_grad(), torch.autocast("cuda", torch.float16):  # as A1111 samples in half precision
        p.sample()
    torch.cuda.synchronize()
    left = torch.cuda.memory_allocated() - before
    mib = 2**20
    peak = torch.cuda.max_memory_allocated() - before
    print(
        f"\n{'--medvram' if lowvram else 'normal'}: allocated before the job {before / mib:.0f} MiB; job peak +{peak / mib:.0f} MiB;"
        f" left after the job +{left / mib:.0f} MiB (the motion modules' file: {module_bytes / mib:.0f} MiB);"
        f" reserved {torch.cuda.memory_reserved() / mib:.0f} MiB"
    )
    where = {t.device.type for t in host.modules.get(module_file).parameters()}
    if lowvram:
        assert where == {"cpu"} and left < 16 * mib
    else:
        assert where == {"cuda"} and left >= 0.95 * module_bytes


def test_a_video_source_at_fps_0_saves_at_the_videos_rate_and_its_frames_are_not_saved_as_loose_images(unet, model_dir, tmp_path):
    from lib_animatediff.media.writers import Mp4Writer, VideoMeta

    frames = [Image.fromarray(np.full((64, 64, 3), 20 * i, np.uint8)) for i in range(4)]
    video = Mp4Writer().write(frames, tmp_path, "source", VideoMeta(fps=12))[0]
    host = Host(model_dir)
    for fps, expected in ((0, 12), (5, 5)):
        p = Processing(host, unet, tmp_path)
        job = AnimationJob.start(host, p, args(video_path=str(video), video_length=0, fps=fps))
        assert job.params.fps == fps and job.fps == expected and f"fps: {expected}," in p.extra_generation_params["AnimateDiff"]
        assert p.do_not_save_samples is True and p.do_not_save_grid is True
        job.leave()
    p = Processing(host, unet, tmp_path)
    assert AnimationJob.start(host, p, args(fps=0)).fps == 8  # no video source: the default


def test_sd_webui_animatediffs_frame_format_answers_the_frames_and_writes_no_files(unet, model_dir, tmp_path):
    host = Host(model_dir)
    p = Processing(host, unet, tmp_path)
    p.is_api = True
    job = AnimationJob.start(host, p, args(format=["Frame"]))
    assert job.params.format == ["FRAME"]
    frames = [Image.new("RGB", (64, 64), (30 * i, 0, 0)) for i in range(4)]
    processed = SimpleNamespace(
        images=list(frames), index_of_first_image=0, all_seeds=[5] * 4, infotexts=["a"] * 4, extra_generation_params={},
        prompt="", negative_prompt="", all_prompts=[""], all_negative_prompts=[""], comments="",
    )  # fmt: skip
    job.write(p, processed)
    job.leave()
    assert processed.images == frames and not list((tmp_path / "outputs").rglob("*.*"))
    p = Processing(host, unet, tmp_path)
    job = AnimationJob.start(host, p, args(format=["GIF", "Frame"]))
    processed.images = list(frames)
    job.write(p, processed)
    job.leave()
    assert len(processed.images) == 5 and processed.images[1:] == frames  # the GIF, then the frames
    assert [path.suffix for path in (tmp_path / "outputs").rglob("*.*")] == [".gif"]


@pytest.mark.parametrize("save_incomplete", [False, True], ids=["finished-only", "save-incomplete"])
@pytest.mark.parametrize("stop", ["interrupted", "skipped"])
def test_after_an_interrupt_or_skip_the_finished_animations_are_written(unet, model_dir, tmp_path, save_incomplete, stop):
    """Batch count 2, the second animation's sampling stopped at step 1: the first is written
    and shown; the second only with Settings → Save incomplete images."""
    host = Host(model_dir, save_incomplete_images=save_incomplete)
    p = Processing(host, unet, tmp_path)
    p.is_api = True
    job = AnimationJob.start(host, p, args(format=["GIF"]))
    with torch.no_grad():
        p.sample()
        p.seeds = [6]
        p.before_step[1] = lambda: setattr(host.state, stop, True)
        p.sample()
    if stop == "skipped":
        host.state.skipped = False  # A1111 resets it when the next iteration starts
    assert job.saver.finished == [True, False]
    frames = [Image.new("RGB", (64, 64), (30 * i, 0, 0)) for i in range(8)]
    processed = SimpleNamespace(
        images=list(frames), index_of_first_image=0, all_seeds=[5] * 4 + [6] * 4, infotexts=["a"] * 4 + ["b"] * 4,
        extra_generation_params={}, prompt="", negative_prompt="", all_prompts=[""], all_negative_prompts=[""], comments="",
    )  # fmt: skip
    job.write(p, processed)
    job.leave()
    written = sorted(path.name.split("-")[1] for path in (tmp_path / "outputs").rglob("*.gif"))
    assert written == (["5.gif", "6.gif"] if save_incomplete else ["5.gif"])
    assert len(processed.images) == len(written)  # the API answers the written animations


def test_each_animation_is_written_when_its_iteration_ends(unet, model_dir, tmp_path):
    """Batch count 2 as A1111 runs it: the first animation is on disk when the second iteration
    begins (an error in that one would lose nothing finished), from the frames as the last
    script left them; the end writes only the second, and the answer lists both once."""
    host = Host(model_dir)
    p = Processing(host, unet, tmp_path)
    job = AnimationJob.start(host, p, args(format=["GIF", "TXT"]))
    gifs = lambda: sorted((tmp_path / "outputs").rglob("*.gif"))  # noqa: E731
    frames = {seed: [Image.new("RGB", (64, 64), (30 * i, seed, 0)) for i in range(4)] for seed in (5, 6)}
    with torch.no_grad():
        for iteration, seed in enumerate((5, 6)):
            p.iteration, p.seeds = iteration, [seed] * 4
            job.iteration_begins(p)
            assert len(gifs()) == iteration, "the last iteration's animation is written as the next one begins"
            p.sample()
            for index, frame in enumerate(frames[seed]):
                p.batch_index = index
                holder = SimpleNamespace(image=Image.new("RGB", (64, 64)))
                job.frame_done(p, holder)
                holder.image = frame  # a later script's change is what gets written
    first = gifs()[0]
    assert first.name.endswith("-5.gif") and "a fox, iteration 0, seed 5" in first.with_suffix(".txt").read_text()
    assert np.array_equal(np.asarray(Image.open(first).convert("RGB")), np.asarray(frames[5][0]))
    processed = SimpleNamespace(
        images=frames[5] + frames[6], index_of_first_image=0, all_seeds=[5] * 4 + [6] * 4, infotexts=["a"] * 4 + ["b"] * 4,
        extra_generation_params={}, prompt="", negative_prompt="", all_prompts=[""], all_negative_prompts=[""], comments="",
    )  # fmt: skip
    job.write(p, processed)
    job.leave()
    assert [path.name.split("-")[1] for path in gifs()] == ["5.gif", "6.gif"]
    listed = processed.extra_generation_params[OUTPUTS_INFO_KEY]
    assert [(entry["format"], entry["seed"]) for entry in listed] == [("GIF", 5), ("TXT", 5), ("GIF", 6), ("TXT", 6)]


class ProcessingWithPrompts(Processing):
    """With A1111's order around the job's prompts: ``setup_prompts`` (one per image), the
    scripts' ``process`` hooks (where another extension may rewrite them), then ``p.init``."""

    def setup_prompts(self) -> None:
        per_image = self.batch_size * self.n_iter
        self.all_prompts = self.prompt if isinstance(self.prompt, list) else [self.prompt] * per_image
        self.all_negative_prompts = [self.negative_prompt] * len(self.all_prompts)

    def init(self, all_prompts: list[str], all_seeds: list[int], all_subseeds: list[int]) -> None:
        self.prompts_at_init = list(all_prompts)


def run_until_init(p: ProcessingWithPrompts, rewrite: Callable[[list[str]], list[str]]) -> None:
    p.setup_prompts()
    p.all_prompts = rewrite(p.all_prompts)  # another extension's process hook
    p.init(p.all_prompts, [], [])


def test_wildcards_drawn_per_frame_by_another_extension_become_one_draw_per_animation(unet, model_dir, tmp_path):
    host = Host(model_dir)
    p = ProcessingWithPrompts(host, unet, tmp_path, prompt="a __colour__ fox")
    p.n_iter = 2
    AnimationJob.start(host, p, args())
    colours = ["red", "blue", "green", "grey"] * 2

    run_until_init(p, lambda prompts: [text.replace("__colour__", colour) for text, colour in zip(prompts, colours)])

    assert p.prompts_at_init == ["a red fox"] * 4 + ["a red fox"] * 4 and p.all_prompts == p.prompts_at_init
    p.close()
    assert "setup_prompts" not in vars(p) and "init" not in vars(p)


def test_a_travel_another_extension_collapsed_to_its_first_prompt_gets_its_keyframes_back(unet, model_dir, tmp_path):
    host = Host(model_dir)
    p = ProcessingWithPrompts(host, unet, tmp_path, prompt="0: a fox sitting\n2: a fox jumping")
    AnimationJob.start(host, p, args())

    run_until_init(p, lambda prompts: [prompts[0]] * len(prompts))  # Dynamic Prompts with nothing to draw

    assert [text.endswith("jumping") for text in p.prompts_at_init] == [False, False, True, True]


def test_a_travel_with_words_drawn_by_another_extension_is_refused_before_the_batch_loop(unet, model_dir, tmp_path):
    host = Host(model_dir)
    p = ProcessingWithPrompts(host, unet, tmp_path, prompt="0: a __colour__ fox sitting\n2: a fox jumping")
    AnimationJob.start(host, p, args())

    with pytest.raises(ParameterError, match="prompt travel: another extension"):
        run_until_init(p, lambda prompts: [prompts[0].replace("__colour__", "red")] * len(prompts))
    assert not hasattr(p, "prompts_at_init")
    p.close()
    assert "init" not in vars(p) and not hasattr(p, JOB_ATTRIBUTE)
