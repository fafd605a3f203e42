"""Test-only extension (copied into each test WebUI by tests/webui/conftest.py), standing in for ADetailer.

When a job's prompt contains EXTRA_PASS_AFTER_JOB, after the job has decoded its frames it
runs a separate one-image img2img job on the first frame (as ADetailer inpaints a face), and
logs the outcome. That nested job must run without the motion module and without errors.
"""

from modules import processing, scripts

MARKER = "EXTRA_PASS_AFTER_JOB"


class ExtraPass(scripts.Script):
    def title(self):
        return "extra pass (test)"

    def show(self, is_img2img):
        return scripts.AlwaysVisible

    def postprocess_image(self, p, pp, *args):
        if MARKER not in str(p.prompt) or getattr(p, "_extra_pass_done", False):
            return
        p._extra_pass_done = True
        nested = processing.StableDiffusionProcessingImg2Img(
            sd_model=p.sd_model, init_images=[pp.image], prompt="a face", steps=2, width=pp.image.width,
            height=pp.image.height, denoising_strength=0.4, seed=1, batch_size=1, n_iter=1, do_not_save_samples=True,
            do_not_save_grid=True, sampler_name="Euler",
        )
        result = processing.process_images(nested)
        pp.image = result.images[0]
        print(f"extra pass done: {len(result.images)} image(s) of {pp.image.size}", flush=True)
