"""The accordion's hover hints, from the fields' facts (``params.py``).

A1111 shows ``titles[label]`` when the pointer rests on a control; the extension's
``javascript/animatediff_hints.js`` adds ours to that table. That file is generated from the
fields, so a hint is written once::

    python -m lib_animatediff.webui.hints > javascript/animatediff_hints.js
"""

from __future__ import annotations

import json

from .params import PARAMS

HEADER = "// Generated from lib_animatediff/webui/params.py by `python -m lib_animatediff.webui.hints`; do not edit.\n"


def hints() -> dict[str, str]:
    """Label → hint of every field the accordion shows."""
    return {param.label: param.hint for param in PARAMS.values() if param.widget.kind != "hidden"}


def hints_js() -> str:
    table = json.dumps(hints(), indent=8, ensure_ascii=False)[:-1] + "    }"
    return (
        HEADER
        + "// Hover hints for the AnimateDiff accordion; A1111's hints.js shows `titles[label]`.\n"
        + "(function () {\n"
        + '    if (typeof titles === "undefined") {\n'
        + "        return;\n"
        + "    }\n"
        + f"    Object.assign(titles, {table});\n"
        + "})();\n"
    )


if __name__ == "__main__":
    print(hints_js(), end="")
