"""AnimateDiff for the AUTOMATIC1111 WebUI: the core, importable without the WebUI.

The public API (see README's developer section)::

    from lib_animatediff import load_motion_module, MotionModuleInjection
    modules = load_motion_module("model/mm_sd_v15_v2.ckpt")   # family detected from keys
    block = modules.block("down_blocks.0.motion_modules.0")
    y = block(x, frames=16)                                    # x: (B·F, C, H, W)
    with MotionModuleInjection(unet, modules) as injected, injected.video(frames=16):
        eps = unet(x, t, context=cond)
"""

from .errors import AnimateDiffError, IncompatibleModelError, MotionModuleFileError, MotionModuleLayoutError
from .model.families import FAMILIES, BaseModel, GroupNormMode, MotionModuleFamily, NoiseSchedule, family_by_name
from .model.hashing import HashCache
from .model.injection import MotionModuleInjection
from .model.loader import load_motion_module
from .model.motion_lora import load_motion_lora, merge_motion_lora
from .model.motion_module import MotionModule, MotionModuleSet

__version__ = "0.2.0"
# Bumped when the documented API changes incompatibly; other extensions may check it.
# 2: the modules moved into packages (model/, sampling/, media/, webui/); what other code
# uses is importable from here.
API_VERSION = 2

__all__ = [
    "API_VERSION",
    "FAMILIES",
    "AnimateDiffError",
    "BaseModel",
    "GroupNormMode",
    "HashCache",
    "IncompatibleModelError",
    "MotionModule",
    "MotionModuleFamily",
    "MotionModuleFileError",
    "MotionModuleInjection",
    "MotionModuleLayoutError",
    "MotionModuleSet",
    "NoiseSchedule",
    "family_by_name",
    "load_motion_lora",
    "load_motion_module",
    "merge_motion_lora",
]
