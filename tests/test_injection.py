"""Running motion modules inside A1111's ldm UNet from hooks on its layers, and taking them out again."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from conftest import SD15_CHANNELS, SDXL_CHANNELS

from lib_animatediff.devtools.random_weights import random_motion_modules
from lib_animatediff.devtools.tiny_unet import CONTEXT_DIM, build_unet
from lib_animatediff.errors import IncompatibleModelError
from lib_animatediff.model.families import ANIMATELCM, FAMILIES, HOTSHOTXL, SDXL, V1, V2, V3, BaseModel, GroupNormMode
from lib_animatediff.model.injection import MotionModuleInjection, hooked_motion_modules, unet_resblock_groupnorms

CHANNELS = {BaseModel.SD15: SD15_CHANNELS, BaseModel.SDXL: SDXL_CHANNELS}
FRAMES = 6


@pytest.fixture(scope="module")
def unets():
    return {base: build_unet(base, CHANNELS[base], seed=3) for base in BaseModel}


def _modules(family, seed=11):
    return random_motion_modules(family, CHANNELS[family.base], seed=seed)


def _inputs(videos: int, frames: int = FRAMES, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(videos * frames, 4, 8, 8, generator=generator)
    t = torch.full((videos * frames,), 400)
    context = torch.randn(videos, 5, CONTEXT_DIM, generator=generator).repeat_interleave(frames, dim=0)
    return x, t, context


def _snapshot(unet):
    return {
        "names": [name for name, _ in unet.named_modules()],
        "params": {name: (p, p.detach().clone()) for name, p in unet.named_parameters()},
        "buffers": {name: b.detach().clone() for name, b in unet.named_buffers()},
        "instance_attrs": {name: set(vars(m)) for name, m in unet.named_modules()},
        "hooks": {name: (len(m._forward_hooks), len(m._forward_pre_hooks)) for name, m in unet.named_modules()},
        "keys": list(unet.state_dict().keys()),
    }


def _assert_same(unet, before):
    after = _snapshot(unet)
    assert after["names"] == before["names"]
    assert after["instance_attrs"] == before["instance_attrs"]
    assert after["hooks"] == before["hooks"] and after["keys"] == before["keys"]
    assert after["params"].keys() == before["params"].keys()
    for name, (param, value) in before["params"].items():
        assert after["params"][name][0] is param
        assert torch.equal(param, value), name
    assert all(torch.equal(after["buffers"][n], b) for n, b in before["buffers"].items())


@pytest.mark.parametrize("family", FAMILIES.values(), ids=lambda f: f.name)
def test_removal_leaves_the_unet_exactly_as_before(unets, family):
    unet = unets[family.base]
    x, t, context = _inputs(videos=2)
    before = _snapshot(unet)
    with torch.no_grad():
        reference = unet(x, t, context=context)
        modules = _modules(family)
        with MotionModuleInjection(unet, modules) as injected, injected.video(FRAMES):
            hooked = hooked_motion_modules(unet)
            during = {"names": [name for name, _ in unet.named_modules()], "keys": list(unet.state_dict().keys())}
            animated = unet(x, t, context=context)
        after = unet(x, t, context=context)
    assert len(hooked) == len(list(modules.blocks()))
    assert during == {"names": before["names"], "keys": before["keys"]}, "the UNet's layers or state-dict keys changed while injected"
    assert not torch.allclose(animated, reference, atol=1e-3), "the motion modules had no effect"
    assert torch.equal(after, reference), "forward output changed after removal"
    _assert_same(unet, before)
    assert not hooked_motion_modules(unet)


@pytest.mark.parametrize("family", [V2, SDXL], ids=lambda f: f.name)
def test_modules_sit_at_the_published_positions(unets, family):
    unet = unets[family.base]
    modules = _modules(family)
    with MotionModuleInjection(unet, modules):
        placed = {id(hooked.motion_module): (layer, on_input) for layer, hooked, on_input in hooked_motion_modules(unet)}
    for level in range(family.levels):
        for j in range(2):  # after the block's resnet (+ attention)
            block = unet.input_blocks[1 + 3 * level + j]
            assert placed[id(modules.block(f"down_blocks.{level}.motion_modules.{j}"))] == (block[-1], False)
        for j in range(3):  # after resnet (+ attention), before the upsampler where there is one
            block = unet.output_blocks[3 * level + j]
            expected = (block[-1], True) if type(block[-1]).__name__ == "Upsample" else (block[-1], False)
            assert placed[id(modules.block(f"up_blocks.{level}.motion_modules.{j}"))] == expected
    if family.has_mid_block:  # resnet → attention → motion module → resnet
        assert [type(layer).__name__ for layer in unet.middle_block] == ["ResBlock", "SpatialTransformer", "ResBlock"]
        assert placed[id(modules.block("mid_block.motion_modules.0"))] == (unet.middle_block[-1], True)
    assert len(placed) == len(list(modules.blocks()))


@pytest.mark.parametrize("family", FAMILIES.values(), ids=lambda f: f.name)
def test_k_videos_in_one_batch_equal_each_video_alone(unets, family):
    """Cond and uncond batched (k=2), three AND prompts (k=3), or one at a time (k=1) give
    the same frames: the frame count, not a hard-coded 2, splits the batch."""
    unet = unets[family.base]
    x, t, context = _inputs(videos=3, seed=4)
    with torch.no_grad(), MotionModuleInjection(unet, _modules(family)) as injected, injected.video(FRAMES):
        together = unet(x, t, context=context)
        alone = torch.cat([unet(x[i : i + FRAMES], t[i : i + FRAMES], context=context[i : i + FRAMES]) for i in range(0, 3 * FRAMES, FRAMES)])
    torch.testing.assert_close(together, alone, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("family", [V1, HOTSHOTXL], ids=lambda f: f.name)
def test_v1_and_hotshot_take_resblock_groupnorm_statistics_across_frames(unets, family):
    assert family.unet_groupnorm is GroupNormMode.PER_VIDEO
    unet = unets[family.base]
    norms = unet_resblock_groupnorms(unet)
    assert unet.out[0] in norms and len(norms) > 10
    norm = norms[3]
    x = torch.randn(2 * FRAMES, norm.num_channels, 4, 4) * torch.linspace(0.5, 3, 2 * FRAMES).view(-1, 1, 1, 1)
    per_frame = norm(x)
    with MotionModuleInjection(unet, _modules(family)) as injected, injected.video(FRAMES):
        across = norm(x)
    # by hand: one group's statistics over all frames of the first video
    group = norm.num_channels // norm.num_groups
    first = x[:FRAMES, :group]
    expected = (first - first.mean()) / torch.sqrt(first.var(unbiased=False) + norm.eps)
    expected = expected * norm.weight[:group].view(1, -1, 1, 1) + norm.bias[:group].view(1, -1, 1, 1)
    torch.testing.assert_close(across[:FRAMES, :group], expected, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(across, per_frame, atol=1e-3)
    torch.testing.assert_close(norm(x), per_frame)  # back to per frame after removal


@pytest.mark.parametrize("family", [V2, V3, ANIMATELCM, SDXL], ids=lambda f: f.name)
def test_other_families_leave_unet_groupnorm_per_frame(unets, family):
    unet = unets[family.base]
    with MotionModuleInjection(unet, _modules(family)):
        assert not any("forward" in vars(norm) for norm in unet_resblock_groupnorms(unet))


@pytest.mark.parametrize("family", FAMILIES.values(), ids=lambda f: f.name)
def test_family_noise_schedule_is_in_place_only_while_injected(unets, family):
    original = torch.linspace(0.999, 0.01, 1000)
    model = SimpleNamespace(alphas_cumprod=original)
    with MotionModuleInjection(unets[family.base], _modules(family), schedule_owner=model):
        torch.testing.assert_close(model.alphas_cumprod, family.noise_schedule.alphas_cumprod())
    assert model.alphas_cumprod is original


def test_noise_schedules_are_the_documented_ones():
    sd15 = V2.noise_schedule.alphas_cumprod(torch.float64)
    assert sd15[0] == pytest.approx(1 - 0.00085)
    assert sd15[1] == pytest.approx((1 - 0.00085) * (1 - (0.00085 + (0.012 - 0.00085) / 999)))
    sdxl = SDXL.noise_schedule.alphas_cumprod(torch.float64)
    beta_last = 0.020
    assert sdxl[-1] / sdxl[-2] == pytest.approx(1 - beta_last)
    hotshot = HOTSHOTXL.noise_schedule.alphas_cumprod(torch.float64)
    assert hotshot[-1] / hotshot[-2] == pytest.approx(1 - 0.012)
    assert not torch.allclose(sd15, hotshot)


@pytest.mark.parametrize(
    "family, base", [(V2, BaseModel.SDXL), (V1, BaseModel.SDXL), (SDXL, BaseModel.SD15), (HOTSHOTXL, BaseModel.SD15)], ids=str
)
def test_wrong_base_model_is_refused_and_nothing_changes(unets, family, base):
    unet = unets[base]
    before = _snapshot(unet)
    with pytest.raises(IncompatibleModelError) as error:
        MotionModuleInjection(unet, _modules(family)).__enter__()
    message = str(error.value)
    assert family.title in message and family.base.value in message and base.value in message
    _assert_same(unet, before)


def test_channel_mismatch_is_refused(unets):
    modules = random_motion_modules(V2, (64, 128, 128, 128))
    with pytest.raises(IncompatibleModelError, match="channels"):
        MotionModuleInjection(unets[BaseModel.SD15], modules).__enter__()
    assert not hooked_motion_modules(unets[BaseModel.SD15])


def test_removal_after_an_error_inside_the_job(unets):
    unet = unets[BaseModel.SD15]
    before = _snapshot(unet)
    model = SimpleNamespace(alphas_cumprod=torch.linspace(0.99, 0.1, 1000))
    with pytest.raises(KeyboardInterrupt):
        with MotionModuleInjection(unet, _modules(V1), schedule_owner=model) as injected, injected.video(FRAMES):
            x, t, context = _inputs(videos=1)
            unet(x, t, context=context)
            raise KeyboardInterrupt  # an interrupt mid-sampling
    _assert_same(unet, before)


def test_running_without_a_frame_count_says_so(unets):
    unet = unets[BaseModel.SD15]
    x, t, context = _inputs(videos=1)
    with MotionModuleInjection(unet, _modules(V2)), pytest.raises(RuntimeError, match="no frame count"):
        unet(x, t, context=context)


def test_video_scope_nests_and_restores(unets):
    injection = MotionModuleInjection(unets[BaseModel.SD15], _modules(V2))
    with injection.video(16):
        with injection.video(8):
            assert injection.frames.count == 8
        assert injection.frames.count == 16
    assert injection.frames.count is None


def test_motion_modules_follow_the_unet_dtype(unets):
    unet = unets[BaseModel.SD15]
    modules = _modules(V2).half()
    with MotionModuleInjection(unet, modules):
        assert modules.dtype == next(unet.parameters()).dtype


def test_the_motion_modules_are_no_part_of_the_unet_and_follow_the_activations_device(unets):
    """A1111 moves and unloads its models whole (--medvram, --lowvram, a second checkpoint
    sending the first to the meta device): the motion modules are not among the UNet's
    parameters, so those moves leave the loaded set alone, and each module goes where the
    activations it is called with are."""
    unet = unets[BaseModel.SD15]
    modules = _modules(V2)
    with MotionModuleInjection(unet, modules) as injected:
        unet_parameters = {id(p) for p in unet.parameters()}
        assert not any(id(p) in unet_parameters for p in modules.parameters())
        layer, hooked, _ = hooked_motion_modules(unet)[0]
        with injected.video(2):
            out = hooked(torch.empty(2, hooked.motion_module.channels, 4, 4, device="meta"))
        assert out.device.type == "meta"
        assert all(p.device.type == "meta" for p in hooked.motion_module.parameters())
        others = [p for p in modules.parameters() if not any(p is q for q in hooked.motion_module.parameters())]
        assert others and all(p.device.type == "cpu" for p in others)


def test_a_module_a_memory_manager_moved_only_in_part_goes_whole_to_the_activations_device(unets):
    """Forge's memory manager, short of room, moves only the layers that have weights (its CPU
    swap): a positional encoding's table stays behind. The module follows the activations whole."""
    unet = unets[BaseModel.SD15]
    modules = _modules(V2)
    with MotionModuleInjection(unet, modules) as injected:
        _, hooked, _ = hooked_motion_modules(unet)[0]
        for layer in hooked.motion_module.modules():
            if hasattr(layer, "weight"):
                layer.to("meta")
        assert {t.device.type for t in hooked.motion_module.buffers()} == {"cpu"}
        with injected.video(2):
            out = hooked(torch.empty(2, hooked.motion_module.channels, 4, 4, device="meta"))
        assert out.device.type == "meta"
        assert {t.device.type for t in (*hooked.motion_module.parameters(), *hooked.motion_module.buffers())} == {"meta"}


def test_under_fp8_weight_storage_the_modules_take_the_compute_dtype_and_run(unets):
    """A1111's "FP8 weight" keeps the UNet's convolution and linear weights in float8 and runs
    the UNet under autocast (bfloat16 on a CPU): the motion modules stay in the dtype of the
    layers left unconverted and the injected UNet gives a finite video."""
    import copy

    unet = copy.deepcopy(unets[BaseModel.SD15])
    for module in unet.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            module.to(torch.float8_e4m3fn)
    modules = _modules(V2)
    x = torch.randn(8, 4, 8, 8)
    t = torch.full((8,), 500)
    context = torch.randn(8, 7, CONTEXT_DIM)
    with MotionModuleInjection(unet, modules) as injection, injection.video(frames=8):
        assert modules.dtype == torch.float32
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            out = unet(x, t, context=context)
    assert out.shape == x.shape and torch.isfinite(out).all()
