"""The accordion's "Download a motion module" panel (gradio); the words come from
:class:`DownloadService`, so the panel and the API say the same."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from ..errors import AnimateDiffError
from .downloads import DownloadService


def download_panel(service: DownloadService, tab: str, model: Any, refreshed_models: Callable[[str | None], Any]) -> None:
    """The panel, inside the accordion; a finished download refreshes ``model``'s choices."""
    with gr.Accordion("Download a motion module", open=False, elem_id=f"{tab}_animatediff_download"):
        try:
            choices = service.choices()
            text = service.description(choices[0] if choices else None)
        except AnimateDiffError as error:  # a broken catalog file (Settings) must not break the accordion
            choices, text = [], f"❌ {error}"
        with gr.Row():
            file = gr.Dropdown(choices, value=choices[0] if choices else None, label="File", elem_id=f"{tab}_animatediff_download_file")
            start = gr.Button("Download", elem_id=f"{tab}_animatediff_download_start")
        about = gr.Markdown(text, elem_id=f"{tab}_animatediff_download_about")
        outcome = gr.Markdown("", elem_id=f"{tab}_animatediff_download_outcome")

    def run(label: str, current_model: str | None, progress: Any = gr.Progress()) -> tuple:
        try:
            for status in service.follow(service.name_of(label)):
                progress((status.downloaded, status.total), desc=f"Downloading {status.name}", unit="bytes")
        except Exception as error:  # noqa: BLE001 - shown in the panel; the WebUI keeps serving
            return f"❌ {error}", gr.update(), gr.update()
        name = service.name_of(label)
        labels = service.choices()
        chosen = next((choice for choice in labels if service.name_of(choice) == name), label)
        return service.outcome(status), refreshed_models(current_model), gr.update(choices=labels, value=chosen)

    file.change(fn=lambda label: service.description(label), inputs=[file], outputs=[about])
    start.click(fn=run, inputs=[file, model], outputs=[outcome, model, file])
