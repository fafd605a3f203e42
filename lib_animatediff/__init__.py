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
from .families import FAMILIES, BaseModel, GroupNormMode, MotionModuleFamily, NoiseSchedule, family_by_name
from .injection import MotionModuleInjection
from .loader import load_motion_module
from .motion_module import MotionModule, MotionModuleSet

__version__ = "0.2.0"
# Bumped when the documented API changes incompatibly; other extensions may check it.
API_VERSION = 1

__all__ = [
    "API_VERSION",
    "FAMILIES",
    "AnimateDiffError",
    "BaseModel",
    "GroupNormMode",
    "IncompatibleModelError",
    "MotionModule",
    "MotionModuleFamily",
    "MotionModuleFileError",
    "MotionModuleInjection",
    "MotionModuleLayoutError",
    "MotionModuleSet",
    "NoiseSchedule",
    "family_by_name",
    "load_motion_module",
]
