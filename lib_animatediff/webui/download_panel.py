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
        labels, chosen, text = _listing(service, None)
        with gr.Row():
            file = gr.Dropdown(labels, value=chosen, label="File", elem_id=f"{tab}_animatediff_download_file")
            refresh = gr.Button("\U0001f504", elem_classes=["tool"], elem_id=f"{tab}_animatediff_download_refresh")
            start = gr.Button("Download", elem_id=f"{tab}_animatediff_download_start")
        about = gr.Markdown(text, elem_id=f"{tab}_animatediff_download_about")
        outcome = gr.Markdown("", elem_id=f"{tab}_animatediff_download_outcome")

    def refreshed(label: str | None) -> tuple:
        labels, chosen, text = _listing(service, label)
        return gr.update(choices=labels, value=chosen), text

    def run(label: str, current_model: str | None, progress: Any = gr.Progress()) -> tuple:
        try:
            for status in service.follow(service.name_of(label)):
                progress((status.downloaded, status.total), desc=f"Downloading {status.name}", unit="bytes")
        except AnimateDiffError as error:  # shown in the panel; the WebUI keeps serving
            return f"❌ {error}", gr.update(), gr.update()
        return service.outcome(status), refreshed_models(current_model), refreshed(label)[0]

    file.change(fn=lambda label: _listing(service, label)[2], inputs=[file], outputs=[about])
    refresh.click(fn=refreshed, inputs=[file], outputs=[file, about])
    start.click(fn=run, inputs=[file, model], outputs=[outcome, model, file])


def _listing(service: DownloadService, label: str | None) -> tuple[list[str], str | None, str]:
    """The dropdown's labels, the one to show (``label``'s file, else the first) and its
    description; a broken catalog (Settings → catalog file) is said, never raised."""
    try:
        labels = service.choices()
        name = label and service.name_of(label)
        chosen = next((choice for choice in labels if service.name_of(choice) == name), labels[0] if labels else None)
        return labels, chosen, service.description(chosen)
    except AnimateDiffError as error:
        return [], None, f"❌ {error}"
