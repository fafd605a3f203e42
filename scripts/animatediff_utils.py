"""For sd-webui-controlnet, which reads an AnimateDiff job's settings from here by this name
(see lib_animatediff/webui/controlnet_compat.py)."""

from lib_animatediff.webui.controlnet_compat import get_animatediff_arg

__all__ = ["get_animatediff_arg"]
