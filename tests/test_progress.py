"""Progress of passes × steps × windows in the WebUI's state, and stopping between windows."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from lib_animatediff.sampling.progress import SamplingProgress


def state(**values):
    return SimpleNamespace(**{"interrupted": False, "skipped": False, "sampling_step": 0, "sampling_steps": 0, "textinfo": None, **values})


def test_windows_and_passes_count_in_the_progress_bar():
    progress = SamplingProgress(state(), KeyboardInterrupt, passes=2)
    progress.total_steps = 4
    progress.pass_number = 1
    progress.window(step=2, window=1, windows=3)
    assert progress.state.sampling_steps == 4 * 3 * 2
    assert progress.state.sampling_step == (1 * 4 + 2) * 3 + 1
    assert progress.state.textinfo == "AnimateDiff: FreeInit pass 2 of 2, step 3, context window 2 of 3"


def test_one_window_one_pass_leaves_the_webuis_own_count():
    progress = SamplingProgress(state(sampling_step=7), KeyboardInterrupt)
    progress.total_steps = 4
    progress.window(step=2, window=0, windows=1)
    assert progress.state.sampling_step == 7 and progress.state.textinfo is None


@pytest.mark.parametrize("flag", ["interrupted", "skipped"])
def test_an_interrupt_stops_before_the_next_window(flag):
    progress = SamplingProgress(state(**{flag: True}), lambda: RuntimeError("stop"))
    assert progress.stopped
    with pytest.raises(RuntimeError, match="stop"):
        progress.window(0, 0, 2)


def test_the_live_preview_shows_the_frames_of_the_window_being_denoised():
    every = torch.arange(8).view(8, 1).float()  # the last step's prediction, as the WebUI stored it
    progress = SamplingProgress(state(current_latent=every), KeyboardInterrupt, frames=8)
    progress.total_steps = 2
    progress.window(1, 0, 2, [0, 1, 2, 3])
    assert progress.state.current_latent.flatten().tolist() == [0, 1, 2, 3]
    progress.window(1, 1, 2, [4, 5, 6, 7])
    assert progress.state.current_latent.flatten().tolist() == [4, 5, 6, 7]  # still from the whole video's prediction
    alone = SamplingProgress(state(current_latent=every), KeyboardInterrupt, frames=8)
    alone.window(0, 0, 1, list(range(8)))
    assert alone.state.current_latent is every  # one window: the WebUI's own preview of every frame
