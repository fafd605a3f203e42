"""AnimateDiff axes in A1111's X/Y/Z plot, run through the API."""

from __future__ import annotations

from webui_api import WebUIServer, animatediff, describe, mean_abs_diff, read_gif, run_job, txt2img_payload


def _axis_index(server: WebUIServer, label: str) -> int:
    """The position of ``label`` among the plot's txt2img axis types (its API takes an index)."""
    scripts = server.get("/sdapi/v1/script-info").body
    plot = next(s for s in scripts if s["name"] == "x/y/z plot" and not s["is_img2img"])
    choices = plot["args"][0]["choices"]
    assert label in choices, choices
    return choices.index(label)


def test_frames_axis_makes_one_animation_per_cell_and_draws_their_first_frames(server: WebUIServer) -> None:
    frames_axis = _axis_index(server, "[AnimateDiff] Frames")
    # x: frames 4 and 8; no y or z; no legend or margin, so the grid is the two cells side by side
    plot_args = [frames_axis, "4,8", [], 0, "", [], 0, "", [], False, False, False, False, False, False, False, 0, False]
    payload = txt2img_payload(script_name="x/y/z plot", script_args=plot_args, alwayson_scripts=animatediff(video_length=16))
    job = run_job(server, "txt2img", payload)
    assert job.response.ok and len(job.gifs) == 2, describe(job, server)
    videos = sorted((read_gif(path) for path in job.gifs), key=len)
    assert [len(video) for video in videos] == [4, 8]
    grid = job.frames[0]
    assert grid.shape == (64, 128, 3), grid.shape
    for cell, video in zip((grid[:, :64], grid[:, 64:]), videos):
        # the cell is the animation's first frame (the GIF palette costs a few grey levels)
        assert mean_abs_diff(cell, video[0]) < 10 and mean_abs_diff(cell, video[0]) < mean_abs_diff(cell, video[-1]), describe(job, server)
