"""For sd-webui-controlnet, which imports SparseCtrl's motion modules from here by this name
(see lib_animatediff/webui/controlnet_compat.py)."""

from lib_animatediff.webui.controlnet_compat import MotionModuleType, MotionWrapper

__all__ = ["MotionModuleType", "MotionWrapper"]
