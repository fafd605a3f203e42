"""When a job's animations are written: each as soon as its batch-count iteration ends.

A1111 hands the decoded frames to scripts one iteration at a time, and the whole batch count
only at the end (``postprocess``). Writing each animation when the next iteration begins means
an error, a crash or an interrupt later in the batch count loses none of the finished ones;
whatever is left is written from A1111's results at the end. An animation whose sampling was
interrupted or skipped is written only with Settings → Save incomplete images, as A1111 does
for images.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from PIL import Image

from ..log import logger
from ..media.interpolation import FrameInterpolator
from ..media.output_folder import safe_output_folder
from ..media.outputs import WrittenFile, write_video
from ..media.writers import OutputSettings
from ..sampling.plan import JobPlan
from .params import AnimateDiffParams


class SavingHost(Protocol):
    state: Any  # interrupted, skipped

    def option(self, key: str) -> Any: ...
    def output_settings(self) -> OutputSettings: ...
    def infotext(self, p: Any, index: int) -> str: ...  # what A1111 writes into the batch's image ``index``


class AnimationSaver:
    """A job's animations, each written once, where the formats say."""

    def __init__(
        self, host: SavingHost, params: AnimateDiffParams, plan: JobPlan, fps: int, film: FrameInterpolator | None = None
    ) -> None:
        self.host = host
        self.film = film  # Deforum's FILM where the request asks for it (found once, when the job was checked)
        self.params = params
        self.plan = plan
        self.fps = fps
        self.finished: list[bool] = []  # per iteration sampled: whether its sampling ran to the end
        self.outputs: list[WrittenFile] = []
        self.saved: list[int] = []  # the iterations whose animation was written (or had nothing to write)
        self._settled: set[int] = set()  # the iterations written or passed over
        self._iteration = -1
        self._holders: list[Any] = []  # the iteration's frames, each as A1111's scripts leave it in ``.image``
        self._first: tuple[str, int] = ("", 0)  # the infotext and seed of the iteration's first frame

    def sampled(self, finished: bool) -> None:
        """An iteration's sampling ended, ``finished`` or stopped by an interrupt or a skip."""
        self.finished.append(finished)

    def frame_done(self, p: Any, holder: Any) -> None:
        """A decoded frame of the running iteration, in the holder A1111's later scripts may
        still give another image (read when written)."""
        if p.batch_index == 0:
            self._iteration, self._holders = p.iteration, []
            self._first = (self.host.infotext(p, 0), int(p.seeds[0]))
        self._holders.append(holder)

    def iteration_began(self, p: Any) -> None:
        """A new iteration begins, so the last one's frames are final: its animation is written."""
        ended = self._iteration
        if ended in self._settled or ended != p.iteration - 1 or len(self._holders) != self.plan.frames:
            return
        frames = [holder.image for holder in self._holders]
        self._holders = []
        self._write(p, ended, frames, *self._first)

    def write_rest(self, p: Any, frames: Sequence[Image.Image], infotexts: Sequence[str], seeds: Sequence[int]) -> None:
        """The animations not written yet, from the whole batch count's frames."""
        count = self.plan.frames
        for video, first in enumerate(range(0, len(frames) - count + 1, count)):
            if video not in self._settled:
                self._write(p, video, frames[first : first + count], infotexts[first], int(seeds[first]))

    def _write(self, p: Any, video: int, frames: Sequence[Image.Image], infotext: str, seed: int) -> None:
        self._settled.add(video)
        if not self._wanted(video):
            return
        folder = output_folder(p, self.host.option("animatediff_outdir"))
        request = self.params.output_request(self.plan, self.fps)
        written = write_video(frames, infotext, seed, video, request, folder, self.host.output_settings(), self.film, self.params.request_id)
        for file in written:
            logger.info("saved %s", file.path)
        self.outputs += written
        self.saved.append(video)

    def _wanted(self, video: int) -> bool:
        if self.host.option("save_incomplete_images"):
            return True
        stopped_now = bool(self.host.state.interrupted or self.host.state.skipped)
        finished = self.finished[video] if video < len(self.finished) else not stopped_now  # sampled without the job's wrapper
        if not finished:
            logger.info("not saving animation %d: its sampling was interrupted or skipped (Settings: save incomplete images)", video + 1)
        return finished


def output_folder(p: Any, requested: str | None) -> Path:
    """Where a job's animations go: the folder asked for in Settings (inside the outputs
    folder), else ``<txt2img|img2img>-images/AnimateDiff/<date>``."""
    outputs_root = Path(p.outpath_samples).parent
    default = Path(Path(p.outpath_samples).name, "AnimateDiff", datetime.date.today().isoformat())
    return safe_output_folder(outputs_root, requested, default)
