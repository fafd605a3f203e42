"""Loading motion modules: family detection, strict layout checks, file formats, unsafe files.

Full-size layouts are built from the reference key lists on the meta device only; real
files on disk hold small random modules.
"""

from __future__ import annotations

import os
import re
import shlex

import pytest
import torch
from conftest import REFERENCE, SD15_CHANNELS, SDXL_CHANNELS, layout_state_dict, reference_json
from safetensors.torch import save_file

from lib_animatediff.devtools.random_weights import published_state_dict, random_motion_modules, save_motion_modules
from lib_animatediff.errors import MotionModuleFileError, MotionModuleLayoutError
from lib_animatediff.model.detection import detect_layout
from lib_animatediff.model.families import FAMILIES, family_by_name
from lib_animatediff.model.loader import load_motion_module
from lib_animatediff.model.motion_module import sinusoidal_positions
from lib_animatediff.model.state_dict_io import read_state_dict, unwrap_state_dict

LAYOUT_FILES = ["v1", "v2", "v3", "sdxl", "hotshotxl", "animatelcm"]
PE = "pos_encoder.pe"
HOTSHOT_PE = "pos_encoder.positional_encoding"
TITLES = {name: family.title for name, family in FAMILIES.items()}


def meta(*shape: int, dtype: torch.dtype = torch.float16) -> torch.Tensor:
    return torch.empty(shape, device="meta", dtype=dtype)


def with_pe_len(state_dict: dict, length: int, suffix: str = PE) -> dict:
    """The same keys with every positional encoding resized to ``length`` frames."""
    return {k: (meta(1, length, v.shape[2]) if k.endswith(suffix) else v) for k, v in state_dict.items()}


def hotshot_to_animatediff_names(state_dict: dict) -> dict:
    """HotShot-XL's native names rewritten to AnimateDiff naming (independent of the library)."""
    renamed = {}
    for key, value in state_dict.items():
        key = re.sub(r"\.temporal_attentions\.(\d+)\.", r".motion_modules.\1.temporal_transformer.", key)
        if key.endswith(HOTSHOT_PE):
            key = key[: -len(HOTSHOT_PE)] + PE
        renamed[key] = value
    return renamed


def element_count(modules, include_pe: bool) -> int:
    params = sum(p.numel() for p in modules.parameters())
    buffers = sum(b.numel() for n, b in modules.named_buffers() if include_pe or not n.endswith(PE))
    return params + buffers


def block_prefixes(keys) -> set[str]:
    return {key.split(".temporal_transformer.")[0] for key in keys}


# --------------------------------------------------------------------------------------
# 1. Every published layout loads strictly and is detected as its family.


def test_every_reference_layout_is_covered():
    with_elements = {p.stem for p in (REFERENCE / "layouts").glob("*.json") if "num_elements" in reference_json(f"layouts/{p.name}")}
    assert with_elements == set(LAYOUT_FILES)


@pytest.mark.parametrize("family_file", LAYOUT_FILES)
def test_published_layout_loads_and_is_detected(family_file):
    ref = reference_json(f"layouts/{family_file}.json")
    state_dict = layout_state_dict(family_file)
    assert len(state_dict) == ref["num_keys"]

    modules = load_motion_module(state_dict, name=f"{family_file}.safetensors")

    assert modules.family.name == ref["family"]
    assert modules.family is family_by_name(ref["family"])
    assert modules.pe_len == ref["pe_max_len"]
    assert list(modules.level_channels) == ref["down_channels"]
    assert [grp.motion_modules[0].channels for grp in modules.up_blocks] == ref["up_channels"]
    assert len(list(modules.blocks())) == ref["total_motion_modules"]
    assert (modules.mid_block is not None) == ref["has_mid_block"]
    assert modules.family.default_context == (8 if ref["family"] == "hotshotxl" else 16)  # the frames it was trained on
    assert element_count(modules, include_pe=modules.family.pe_stored) == ref["num_elements"]
    # Nothing was allocated, the file's dtype is kept and the module is frozen for inference.
    assert modules.device.type == "meta"
    assert modules.dtype == torch.float16
    assert not modules.training
    assert not any(p.requires_grad for p in modules.parameters())
    # Every positional encoding has the family's length, stored or computed.
    pes = [b for n, b in modules.named_buffers() if n.endswith(PE)]
    assert len(pes) == 2 * ref["total_motion_modules"]
    assert all(pe.shape[1] == ref["pe_max_len"] for pe in pes)
    # The module's block prefixes are exactly the file's.
    keys = hotshot_to_animatediff_names(state_dict) if family_file == "hotshotxl" else state_dict
    assert {prefix for prefix, _ in modules.blocks()} == block_prefixes(keys)


@pytest.mark.parametrize("family_file", LAYOUT_FILES)
def test_detect_layout_matches_reference(family_file):
    ref = reference_json(f"layouts/{family_file}.json")
    layout = detect_layout(layout_state_dict(family_file), f"{family_file}.ckpt")
    assert layout.family.name == ref["family"]
    assert list(layout.level_channels) == ref["down_channels"]
    assert layout.pe_len == ref["pe_max_len"]
    assert layout.naming == ("hotshot" if family_file == "hotshotxl" else "animatediff")


# --------------------------------------------------------------------------------------
# 2. HotShot-XL in both namings; SDXL told apart from HotShot-XL by pe length.


def test_hotshot_native_naming_loads():
    state_dict = layout_state_dict("hotshotxl")
    assert all(".temporal_attentions." in k and ".motion_modules." not in k for k in state_dict)
    modules = load_motion_module(state_dict, name="hsxl_temporal_layers.safetensors")
    assert modules.family.name == "hotshotxl"
    assert modules.pe_len == 24
    assert modules.level_channels == (320, 640, 1280)


def test_hotshot_renamed_to_animatediff_naming_loads():
    renamed = hotshot_to_animatediff_names(layout_state_dict("hotshotxl"))
    # The conversion gives the SDXL key set, with 24-frame encodings.
    sdxl_keys = reference_json("layouts/sdxl.json")["keys"]
    assert set(renamed) == {key for key, _ in sdxl_keys}
    assert {tuple(v.shape) for k, v in renamed.items() if k.endswith(PE)} == {(1, 24, c) for c in (320, 640, 1280)}
    assert detect_layout(renamed).naming == "animatediff"

    modules = load_motion_module(renamed, name="mm_sdxl_hs.safetensors")
    assert modules.family.name == "hotshotxl"
    assert modules.pe_len == 24
    assert len(list(modules.blocks())) == 15


@pytest.mark.parametrize(("pe_len", "family"), [(24, "hotshotxl"), (32, "sdxl")])
def test_sdxl_layout_family_follows_pe_length(pe_len, family):
    modules = load_motion_module(with_pe_len(layout_state_dict("sdxl"), pe_len), name="sdxl-like.safetensors")
    assert modules.family.name == family
    assert modules.pe_len == pe_len


# --------------------------------------------------------------------------------------
# 3. Fine-tunes share a family's keys: pe length and pe presence decide.


@pytest.mark.parametrize(
    ("layout", "pe_len", "family"),
    [("v1", 24, "v1"), ("v1", 32, "v3"), ("v3", 32, "v3"), ("v3", 24, "v1"), ("v2", 32, "v2")],
)
def test_sd15_family_from_pe_length(layout, pe_len, family):
    modules = load_motion_module(with_pe_len(layout_state_dict(layout), pe_len), name="finetune.safetensors")
    assert modules.family.name == family
    assert modules.pe_len == pe_len


def test_v2_without_positional_encoding_is_animatelcm():
    state_dict = {k: v for k, v in layout_state_dict("v2").items() if "pos_encoder" not in k}
    assert len(state_dict) == reference_json("layouts/animatelcm.json")["num_keys"]
    modules = load_motion_module(state_dict, name="AnimateLCM_sd15_t2v.ckpt")
    assert modules.family.name == "animatelcm"
    assert modules.pe_len == 64
    assert modules.mid_block is not None


# --------------------------------------------------------------------------------------
# 4. Strict layout: a missing, extra or misshapen tensor is an error naming it.

MISSING_CASES = [
    ("v1", "up_blocks.3.motion_modules.2.temporal_transformer.proj_out.bias"),
    ("v1", "down_blocks.1.motion_modules.1.temporal_transformer.transformer_blocks.0.attention_blocks.1.pos_encoder.pe"),
    ("v2", "mid_block.motion_modules.0.temporal_transformer.transformer_blocks.0.ff.net.2.weight"),
    ("v3", "down_blocks.2.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.0.to_k.weight"),
    ("sdxl", "up_blocks.0.motion_modules.1.temporal_transformer.transformer_blocks.0.norms.1.bias"),
    ("animatelcm", "up_blocks.1.motion_modules.0.temporal_transformer.transformer_blocks.0.ff_norm.weight"),
]


@pytest.mark.parametrize(("family_file", "key"), MISSING_CASES)
def test_missing_key_is_named(family_file, key):
    state_dict = layout_state_dict(family_file)
    del state_dict[key]
    with pytest.raises(MotionModuleLayoutError) as error:
        load_motion_module(state_dict, name="broken.safetensors")
    message = str(error.value)
    assert key in message
    assert TITLES[family_file] in message
    assert "broken.safetensors" in message


def test_missing_hotshot_key_is_named_in_published_naming_or_converted():
    state_dict = layout_state_dict("hotshotxl")
    key = "up_blocks.2.temporal_attentions.1.transformer_blocks.0.attention_blocks.0.to_v.weight"
    del state_dict[key]
    with pytest.raises(MotionModuleLayoutError) as error:
        load_motion_module(state_dict, name="hsxl.safetensors")
    message = str(error.value)
    assert "HotShot-XL" in message
    assert key in message or "up_blocks.2.motion_modules.1.temporal_transformer.transformer_blocks.0.attention_blocks.0.to_v.weight" in message


def test_missing_channel_key_is_a_layout_error():
    # The key the level's channels are read from: detection itself reports it.
    key = "down_blocks.1.motion_modules.0.temporal_transformer.norm.weight"
    state_dict = layout_state_dict("v2")
    del state_dict[key]
    with pytest.raises(MotionModuleLayoutError, match=re.escape(key)):
        load_motion_module(state_dict, name="broken.safetensors")


@pytest.mark.parametrize(
    "extra",
    [
        "down_blocks.0.motion_modules.0.temporal_transformer.extra.weight",
        "up_blocks.0.motion_modules.3.temporal_transformer.proj_out.bias",  # a 4th module on an up level
        "mid_block.motion_modules.1.temporal_transformer.norm.bias",
    ],
)
def test_extra_key_is_named(extra):
    state_dict = layout_state_dict("v2")
    state_dict[extra] = meta(1280)
    with pytest.raises(MotionModuleLayoutError) as error:
        load_motion_module(state_dict, name="extra.ckpt")
    assert extra in str(error.value)
    assert "AnimateDiff v2" in str(error.value)


def test_unexpected_mid_block_key_in_v1_layout_changes_nothing_silently():
    # One stray mid-block key makes it look like v2; it must still fail, not load partially.
    state_dict = layout_state_dict("v1")
    state_dict["mid_block.motion_modules.0.temporal_transformer.norm.weight"] = meta(1280)
    with pytest.raises(MotionModuleLayoutError):
        load_motion_module(state_dict, name="odd.safetensors")


@pytest.mark.parametrize(
    ("family_file", "key", "shape"),
    [
        ("v1", "down_blocks.0.motion_modules.0.temporal_transformer.proj_in.weight", (320, 321)),
        ("v2", "mid_block.motion_modules.0.temporal_transformer.transformer_blocks.0.ff.net.0.proj.weight", (10240, 640)),
        ("v3", "up_blocks.3.motion_modules.2.temporal_transformer.transformer_blocks.0.attention_blocks.1.pos_encoder.pe", (32, 320)),
        ("sdxl", "down_blocks.2.motion_modules.1.temporal_transformer.proj_out.bias", (1281,)),
    ],
)
def test_wrong_shape_is_named_with_both_shapes(family_file, key, shape):
    state_dict = layout_state_dict(family_file)
    expected = tuple(state_dict[key].shape)
    state_dict[key] = meta(*shape)
    with pytest.raises(MotionModuleLayoutError) as error:
        load_motion_module(state_dict, name="reshaped.safetensors")
    message = str(error.value)
    assert key in message
    assert str(list(shape)) in message
    assert str(list(expected)) in message
    assert TITLES[family_file] in message


def test_positional_encodings_of_mixed_lengths_are_rejected():
    state_dict = layout_state_dict("v1")
    key = "up_blocks.1.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.0.pos_encoder.pe"
    state_dict[key] = meta(1, 32, 1280)
    with pytest.raises(MotionModuleLayoutError, match="24, 32"):
        load_motion_module(state_dict, name="mixed.safetensors")



def test_wrong_shape_of_channel_key_is_named():
    state_dict = layout_state_dict("v1")
    key = "down_blocks.0.motion_modules.0.temporal_transformer.norm.weight"
    state_dict[key] = meta(352)
    with pytest.raises(MotionModuleLayoutError) as error:
        load_motion_module(state_dict, name="reshaped.safetensors")
    assert key in str(error.value)



def test_channels_not_divisible_by_norm_groups_is_a_layout_error():
    state_dict = layout_state_dict("v1")
    state_dict["down_blocks.0.motion_modules.0.temporal_transformer.norm.weight"] = meta(330)
    with pytest.raises(MotionModuleLayoutError):
        load_motion_module(state_dict, name="odd-channels.safetensors")


# --------------------------------------------------------------------------------------
# 5. Files that are not motion modules.


def test_stable_diffusion_checkpoint_is_not_a_motion_module():
    state_dict = {
        "model.diffusion_model.input_blocks.0.0.weight": meta(320, 4, 3, 3),
        "model.diffusion_model.input_blocks.0.0.bias": meta(320),
        "first_stage_model.decoder.conv_in.weight": meta(512, 4, 3, 3),
    }
    with pytest.raises(MotionModuleFileError) as error:
        load_motion_module(state_dict, name="v1-5-pruned.safetensors")
    message = str(error.value)
    assert "not an AnimateDiff motion module" in message
    assert "v1-5-pruned.safetensors" in message
    assert "Stable Diffusion checkpoint" in message


def motion_lora_state_dict(rank: int = 4) -> dict:
    keys = reference_json("layouts/motion_lora.json")["keys"]
    return {key: meta(*(rank if d == "r" else d for d in shape)) for key, shape in keys}


def test_motion_lora_is_not_a_motion_module():
    state_dict = motion_lora_state_dict()
    assert any(k.endswith("attention_blocks.0.processor.to_q_lora.down.weight") for k in state_dict)
    with pytest.raises(MotionModuleFileError) as error:
        load_motion_module(state_dict, name="v2_lora_ZoomIn.ckpt")
    assert "motion LoRA" in str(error.value)
    assert "v2_lora_ZoomIn.ckpt" in str(error.value)


def test_motion_lora_file_wrapped_with_config_is_not_a_motion_module(tmp_path):
    lora = {key: torch.zeros(t.shape) for key, t in list(motion_lora_state_dict(rank=2).items())[:8] if t.shape[-1] <= 320}
    path = tmp_path / "v2_lora_PanLeft.ckpt"
    torch.save({"state_dict": lora, "animatediff_config": "motion lora"}, path)
    with pytest.raises(MotionModuleFileError, match="motion LoRA") as error:
        load_motion_module(path)
    assert path.name in str(error.value)


@pytest.mark.parametrize("levels", [5, 2])
def test_wrong_number_of_down_levels(levels):
    state_dict = layout_state_dict("v1")
    if levels == 5:
        for key, value in list(state_dict.items()):
            if key.startswith("down_blocks.3."):
                state_dict["down_blocks.4." + key[len("down_blocks.3.") :]] = value
    else:
        state_dict = {k: v for k, v in state_dict.items() if not k.startswith(("down_blocks.2.", "down_blocks.3."))}
    with pytest.raises(MotionModuleLayoutError, match=f"{levels} down levels"):
        load_motion_module(state_dict, name="levels.safetensors")


def test_sdxl_shaped_module_with_mid_block_is_rejected():
    state_dict = layout_state_dict("sdxl")
    for key, value in layout_state_dict("v2").items():
        if key.startswith("mid_block."):
            state_dict[key] = value
    with pytest.raises(MotionModuleLayoutError, match="mid block"):
        load_motion_module(state_dict, name="sdxl-mid.safetensors")


def test_sd15_module_without_mid_block_or_pe_is_rejected():
    state_dict = {k: v for k, v in layout_state_dict("v1").items() if not k.endswith(PE)}
    with pytest.raises(MotionModuleLayoutError):
        load_motion_module(state_dict, name="v1-no-pe.safetensors")



def test_empty_state_dict_is_a_file_error():
    with pytest.raises(MotionModuleFileError):
        load_motion_module({}, name="empty")


# --------------------------------------------------------------------------------------
# 6. Real files: small random modules saved and loaded back exactly.

ROUND_TRIPS = [
    ("v1", "mm.safetensors", "animatediff"),
    ("v2", "mm.ckpt", "animatediff"),
    ("v3", "mm.pth", "animatediff"),
    ("animatelcm", "mm.ckpt", "animatediff"),
    ("sdxl", "mm.safetensors", "animatediff"),
    ("hotshotxl", "mm.safetensors", "hotshot"),
    ("hotshotxl", "mm.pth", "hotshot"),
    ("hotshotxl", "mm.ckpt", "animatediff"),
]


def random_modules(family_name: str, seed: int = 0, pe_len: int | None = None):
    family = family_by_name(family_name)
    channels = SD15_CHANNELS if family.base.name == "SD15" else SDXL_CHANNELS
    return random_motion_modules(family, channels, seed, pe_len=pe_len)


def assert_same_weights(loaded, original):
    want = original.state_dict()
    got = loaded.state_dict()
    assert got.keys() == want.keys()
    for key, tensor in want.items():
        assert got[key].dtype == tensor.dtype, key
        assert torch.equal(got[key], tensor), key


@pytest.mark.parametrize(("family_name", "file_name", "naming"), ROUND_TRIPS)
def test_round_trip(tmp_path, family_name, file_name, naming):
    original = random_modules(family_name, seed=3)
    path = save_motion_modules(original, tmp_path / file_name, naming=naming)

    raw = read_state_dict(path)
    if naming == "hotshot":
        assert all(".temporal_attentions." in k for k in raw)
        assert any(k.endswith(HOTSHOT_PE) for k in raw)
    else:
        assert all(".motion_modules." in k for k in raw)
    if family_name == "animatelcm":
        assert not any("pos_encoder" in k for k in raw)

    loaded = load_motion_module(path)
    assert loaded.name == file_name
    assert loaded.family is original.family
    assert loaded.level_channels == original.level_channels
    assert loaded.pe_len == original.pe_len
    assert loaded.dtype == torch.float32
    assert loaded.device.type == "cpu"
    assert_same_weights(loaded, original)
    if family_name == "animatelcm":
        pe = loaded.block("up_blocks.0.motion_modules.0").temporal_transformer.transformer_blocks[0].attention_blocks[1].pos_encoder.pe
        assert torch.equal(pe, sinusoidal_positions(64, SD15_CHANNELS[-1]))


def test_round_trip_check_is_not_vacuous(tmp_path):
    first, second = random_modules("v2", seed=1), random_modules("v2", seed=2)
    path = save_motion_modules(first, tmp_path / "first.safetensors")
    loaded = load_motion_module(path)
    assert_same_weights(loaded, first)
    with pytest.raises(AssertionError):
        assert_same_weights(loaded, second)
    # proj_out is not left at zero (a zero proj_out would make every module the identity).
    assert loaded.block("mid_block.motion_modules.0").temporal_transformer.proj_out.weight.abs().min() > 0


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("suffix", [".safetensors", ".ckpt"])
def test_half_precision_is_kept(tmp_path, dtype, suffix):
    original = random_modules("v3", seed=5).to(dtype)
    path = save_motion_modules(original, tmp_path / f"mm_fp16{suffix}")
    loaded = load_motion_module(path)
    assert loaded.dtype == dtype
    assert all(t.dtype == dtype for t in loaded.state_dict().values())
    assert_same_weights(loaded, original)


def test_half_precision_animatelcm_computes_pe_in_file_dtype(tmp_path):
    original = random_modules("animatelcm", seed=6).half()
    path = save_motion_modules(original, tmp_path / "AnimateLCM_fp16.safetensors")
    loaded = load_motion_module(path)
    assert loaded.dtype == torch.float16
    assert all(b.dtype == torch.float16 for _, b in loaded.named_buffers())


def test_wrapped_checkpoint_with_config(tmp_path):
    original = random_modules("v2", seed=7)
    path = tmp_path / "mm_sd_v15_v2.ckpt"
    torch.save({"state_dict": published_state_dict(original), "animatediff_config": "model: v2\n"}, path)
    loaded = load_motion_module(path)
    assert loaded.family.name == "v2"
    assert_same_weights(loaded, original)


def test_pe_length_of_a_file_is_used(tmp_path):
    original = random_modules("sdxl", seed=8, pe_len=24)
    path = save_motion_modules(original, tmp_path / "mm_sdxl_hs.safetensors")
    loaded = load_motion_module(path)
    assert loaded.family.name == "hotshotxl"
    assert loaded.pe_len == 24
    assert_same_weights(loaded, original)


def test_name_argument_overrides_file_name(tmp_path):
    path = save_motion_modules(random_modules("v1"), tmp_path / "x.safetensors")
    assert load_motion_module(path, name="My Module").name == "My Module"
    assert load_motion_module(str(path)).name == "x.safetensors"


# --------------------------------------------------------------------------------------
# 7. Unsafe and broken files.


class RunsCode:
    """Unpickling this runs a (harmless) shell command that writes a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"echo ran > {shlex.quote(str(self.marker))}",))


class Opaque:
    def __init__(self):
        self.value = 1


def test_pickle_that_runs_code_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "evil_mm.ckpt"
    state_dict = published_state_dict(random_modules("v1"))
    torch.save({**state_dict, "payload": RunsCode(marker)}, path)

    with pytest.raises(MotionModuleFileError) as error:
        load_motion_module(path)
    assert path.name in str(error.value)
    assert "refused" in str(error.value)
    assert not marker.exists()

    with pytest.raises(MotionModuleFileError, match="refused"):
        read_state_dict(path)
    assert not marker.exists()

    # The payload does work when unpickled without the guard: the check above is real.
    torch.load(path, weights_only=False)
    assert marker.read_text().strip() == "ran"


def test_the_webuis_checked_torch_load_does_not_hide_why_a_file_is_refused(tmp_path, monkeypatch):
    """Inside the WebUI, ``torch.load`` is A1111's checked loader, which prints and returns None
    for a file it refuses ("holds a NoneType" was all a user saw); the reason must come through."""
    marker = tmp_path / "marker"
    path = tmp_path / "evil_mm.ckpt"
    torch.save({**published_state_dict(random_modules("v1")), "payload": RunsCode(marker)}, path)
    monkeypatch.setattr(torch, "load", lambda *args, **kwargs: None)
    with pytest.raises(MotionModuleFileError, match="refused: unpickling it would run code"):
        load_motion_module(path)
    assert not marker.exists()


def test_pickle_with_arbitrary_class_is_refused(tmp_path):
    path = tmp_path / "opaque.pth"
    torch.save({"a": torch.ones(2), "obj": Opaque()}, path)
    with pytest.raises(MotionModuleFileError) as error:
        read_state_dict(path)
    assert "opaque.pth" in str(error.value)
    assert "refused" in str(error.value)


@pytest.mark.parametrize("suffix", [".safetensors", ".ckpt"])
def test_truncated_file(tmp_path, suffix):
    path = save_motion_modules(random_modules("v1"), tmp_path / f"truncated{suffix}")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(MotionModuleFileError) as error:
        load_motion_module(path)
    assert path.name in str(error.value)


@pytest.mark.parametrize("suffix", [".safetensors", ".ckpt"])
def test_every_truncation_is_a_file_error(tmp_path, suffix):
    source = tmp_path / f"small{suffix}"
    tensors = {"a": torch.arange(64.0).reshape(8, 8), "b": torch.ones(3, dtype=torch.float16)}
    if suffix == ".safetensors":
        save_file(tensors, str(source))
    else:
        torch.save(tensors, source)
    data = source.read_bytes()
    path = tmp_path / f"cut{suffix}"
    cuts = sorted(set(range(0, min(len(data), 160))) | set(range(0, len(data), max(1, len(data) // 50))))
    for cut in cuts:
        path.write_bytes(data[:cut])
        with pytest.raises(MotionModuleFileError, match=re.escape(path.name)):
            read_state_dict(path)



def test_every_truncation_of_legacy_checkpoint_is_a_file_error(tmp_path):
    source = tmp_path / "legacy.ckpt"
    torch.save({"a": torch.arange(64.0).reshape(8, 8)}, source, _use_new_zipfile_serialization=False)
    data = source.read_bytes()
    path = tmp_path / "cut.ckpt"
    for cut in range(len(data)):
        path.write_bytes(data[:cut])
        with pytest.raises(MotionModuleFileError, match="cut.ckpt"):
            read_state_dict(path)



def test_garbage_checkpoint_is_a_file_error(tmp_path):
    path = tmp_path / "garbage.ckpt"
    # Text where a download went wrong; b"h" is the BINGET opcode, whose memo lookup fails.
    path.write_bytes(b"https://huggingface.co/guoyww/animatediff/resolve/main/mm_sd_v15_v2.ckpt\n")
    with pytest.raises(MotionModuleFileError, match="garbage.ckpt"):
        read_state_dict(path)


def test_missing_path(tmp_path):
    path = tmp_path / "not_there.safetensors"
    with pytest.raises(MotionModuleFileError, match="not_there.safetensors"):
        load_motion_module(path)
    with pytest.raises(MotionModuleFileError, match="not_there.safetensors"):
        load_motion_module(str(path))


def test_directory_is_not_a_file(tmp_path):
    path = tmp_path / "folder.ckpt"
    path.mkdir()
    with pytest.raises(MotionModuleFileError, match="folder.ckpt"):
        load_motion_module(path)


def test_unsupported_file_type(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("motion module")
    with pytest.raises(MotionModuleFileError) as error:
        load_motion_module(path)
    assert "notes.txt" in str(error.value)
    assert "unsupported" in str(error.value)
    assert ".safetensors" in str(error.value)


def test_suffix_is_case_insensitive(tmp_path):
    original = random_modules("v1")
    path = save_motion_modules(original, tmp_path / "a.safetensors").rename(tmp_path / "MM.SAFETENSORS")
    assert_same_weights(load_motion_module(path), original)


@pytest.mark.parametrize("suffix", [".safetensors", ".ckpt", ".pth"])
def test_zero_byte_file(tmp_path, suffix):
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(b"")
    with pytest.raises(MotionModuleFileError, match=re.escape(path.name)):
        load_motion_module(path)


def test_pickle_of_a_list(tmp_path):
    path = tmp_path / "list.ckpt"
    torch.save([torch.ones(2), torch.zeros(3)], path)
    with pytest.raises(MotionModuleFileError) as error:
        load_motion_module(path)
    assert "list.ckpt" in str(error.value)
    assert "list" in str(error.value).replace("list.ckpt", "")


@pytest.mark.parametrize("content", [{}, {"epoch": 3, "animatediff_config": "x"}, {"state_dict": {}}])
def test_checkpoint_without_tensors(tmp_path, content):
    path = tmp_path / "no_tensors.ckpt"
    torch.save(content, path)
    with pytest.raises(MotionModuleFileError, match="no_tensors.ckpt: holds no tensors"):
        read_state_dict(path)


# --------------------------------------------------------------------------------------
# 8. read_state_dict unwraps ``state_dict`` and keeps only tensors.


def test_read_state_dict_unwraps_and_drops_non_tensors(tmp_path):
    a, b = torch.randn(4, 4), torch.arange(5, dtype=torch.int64)
    path = tmp_path / "wrapped.ckpt"
    torch.save(
        {
            "state_dict": {"a": a, "b": b, "global_step": 10, "note": "text", "nested": {"c": torch.ones(1)}, 7: torch.ones(1)},
            "animatediff_config": "config text",
            "top_level": torch.zeros(2),
        },
        path,
    )
    state_dict = read_state_dict(path)
    assert set(state_dict) == {"a", "b"}
    assert torch.equal(state_dict["a"], a)
    assert torch.equal(state_dict["b"], b)
    assert state_dict["b"].dtype == torch.int64


def test_read_state_dict_unwrapped_file_drops_non_tensors(tmp_path):
    a = torch.randn(3)
    path = tmp_path / "plain.pth"
    torch.save({"a": a, "animatediff_config": "cfg", "step": 1}, path)
    state_dict = read_state_dict(path)
    assert set(state_dict) == {"a"}
    assert torch.equal(state_dict["a"], a)


def test_read_state_dict_safetensors(tmp_path):
    tensors = {"x": torch.randn(2, 3), "y": torch.ones(4, dtype=torch.bfloat16)}
    path = tmp_path / "t.safetensors"
    save_file(tensors, str(path), metadata={"format": "pt"})
    state_dict = read_state_dict(path)
    assert set(state_dict) == {"x", "y"}
    assert all(torch.equal(state_dict[k], tensors[k]) and state_dict[k].dtype == tensors[k].dtype for k in tensors)


def test_unwrap_state_dict_directly():
    t = torch.ones(2)
    assert unwrap_state_dict({"state_dict": {"w": t, "n": 1}, "animatediff_config": "c"}, "f")["w"] is t
    assert set(unwrap_state_dict({"w": t, "n": 1}, "f")) == {"w"}
    # A "state_dict" entry that is not a dict is not unwrapped.
    assert set(unwrap_state_dict({"state_dict": "x", "w": t}, "f")) == {"w"}
    with pytest.raises(MotionModuleFileError, match="f: holds a list"):
        unwrap_state_dict([t], "f")
