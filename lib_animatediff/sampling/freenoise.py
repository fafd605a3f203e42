"""FreeNoise (Qiu et al. 2023, "FreeNoise: Tuning-Free Longer Video Diffusion via Noise
Rescheduling"): the initial noise of a long video, rescheduled so that every window starts
from noise correlated with the first window's.

Fresh noise for every frame makes windows far apart start from unrelated noise, and the
video drifts. FreeNoise draws noise for the first window only and fills every later stretch
of ``hop`` frames (the step between neighbouring windows) with the noise of the frames one
window earlier, shuffled within that stretch: the video's noise is the first window's, in
local permutations, so any window's frames hold the first window's noise in nearly its order.
"""

from __future__ import annotations

import torch


def freenoise_order(frames: int, window: int, hop: int, generator: torch.Generator) -> list[int]:
    """For every frame, the first-window frame whose noise it starts from.

    Frames ``0 .. window - 1`` keep their own. Each later stretch ``[start, start + hop)`` (the
    last one shorter) takes the frames one window earlier, ``[start - window, start - window +
    hop)``, in a random order drawn from ``generator``: a shuffle that stays inside the stretch.
    """
    if window < 1 or hop < 1 or frames < 1:
        raise ValueError(f"frames, window and hop must be >= 1, got {frames}, {window}, {hop}")
    order = list(range(frames))
    for start in range(window, frames, hop):
        length = min(hop, frames - start)
        earlier = order[start - window : start - window + length]
        permutation = torch.randperm(length, generator=generator).tolist()
        order[start : start + length] = [earlier[i] for i in permutation]
    return order


def freenoise(noise: torch.Tensor, window: int, hop: int, seed: int) -> torch.Tensor:
    """``noise`` (``(frames, ...)``) rescheduled by :func:`freenoise_order` (shuffles from ``seed``)."""
    order = freenoise_order(noise.shape[0], window, hop, torch.Generator().manual_seed(seed))
    return noise[torch.tensor(order, device=noise.device)]
