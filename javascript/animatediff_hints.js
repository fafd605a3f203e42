// Generated from lib_animatediff/webui/params.py by `python -m lib_animatediff.webui.hints`; do not edit.
// Hover hints for the AnimateDiff accordion; A1111's hints.js shows `titles[label]`.
(function () {
    if (typeof titles === "undefined") {
        return;
    }
    Object.assign(titles, {
        "Motion module": "AnimateDiff motion module from the extension's model folder; its family (v1, v2, v3, AnimateLCM, SDXL, HotShot-XL) is recognised from the file.",
        "Enable AnimateDiff": "Animate this job.",
        "Number of frames": "Frames of the animation. 0 = one context window. More frames than the context are denoised in sliding windows.",
        "FPS": "Frames per second of the saved animation; 0: the video source's own rate (8 without a video source).",
        "Display loop number": "How many times a GIF or WEBP plays; 0 = forever.",
        "Closed loop": "N: no loop. R-P: windows wrap around so the end flows into the start (prompt travel not looped). R+P: the same, prompt travel looped. A: always keep the seam inside a window, for the strongest loop.",
        "Context batch size (0 = what the module was trained on: 16, HotShot-XL 8)": "Frames the motion module sees at once. Keep it at the module's training length (16; 8 for HotShot-XL).",
        "Stride": "Levels of context windows: 1 = contiguous windows only; 2 adds windows of every 2nd frame, 3 also every 4th, ... Links distant frames for smoother long motion, at more windows per step.",
        "Overlap (-1 = context / 4)": "Frames shared by neighbouring context windows; more overlap blends windows more smoothly, at more windows per step.",
        "Save format": "Files to write for each animation: GIF, MP4 (H.264), WEBM (VP9), WEBP, PNG frames with their parameters, TXT infotext; FRAME: the frames come back (gallery, API answer) without files of their own.",
        "Frame interpolation": "Insert frames between the generated ones: FILM, Deforum's network (needs the sd-webui-deforum extension and its FILM model), or Optical flow, built in (OpenCV).",
        "Interp X": "Frames per original frame after interpolation; the frame rate is multiplied too, so the animation keeps its length.",
        "Video source": "A video whose frames guide the animation (img2img: each frame's init image; ControlNet units without an image of their own).",
        "Video path (a video file or a folder of frames)": "Same as the video source, given as a path on the server (the API also takes a base64 video or a list of base64 images); an uploaded video wins.",
        "Mask path (a folder of masks)": "A folder of per-frame masks, in name order (the API also takes a list of base64 images).",
        "Enable FreeInit": "Sample several times; each pass restarts from the previous result's low frequencies and fresh fine noise, for steadier motion at N times the time.",
        "FreeInit filter": "Low-pass filter that decides which frequencies of the previous pass are kept: butterworth (smooth), gaussian, box or ideal (sharp).",
        "Spatial cut-off d_s": "FreeInit's spatial cut-off, as a fraction of the highest frequency.",
        "Temporal cut-off d_t": "FreeInit's temporal cut-off, as a fraction of the highest frequency.",
        "FreeInit passes": "Sampling passes in all; 1 = plain sampling.",
        "Latent power": "Shape of the first frame's fade (img2img): frame i keeps 1 - i^power / scale of it; a larger power holds it longer, then drops faster.",
        "Latent scale": "Size of the first frame's fade (img2img): it is gone at frame scale^(1/power); larger is slower.",
        "Last frame (optional)": "An image the animation should end on (img2img).",
        "Latent power (last frame)": "Shape of the last frame's fade towards the start, as latent power.",
        "Latent scale (last frame)": "Size of the last frame's fade towards the start, as latent scale.",
        "Overlapping windows blend": "How overlapping context windows are averaged: flat, or pyramid (a window's middle frames count more).",
        "Prompt travel blend": "How frames between keyframe prompts blend the keyframes' conditioning: slerp (keeps its scale) or lerp.",
        "FreeNoise": "Long videos: every window starts from the first window's noise, shuffled in local stretches (FreeNoise), so far-apart windows stay alike.",
        "Context schedule": "uniform: overlapping windows that shift every step; static: the same windows every step; batched: windows that do not overlap (no stride, overlap or closed loop); views: the model sees every frame at once, the motion module attends in windows (more memory).",
        "Stretch positions over (frames; 0 = off)": "Lets windows grow past what the module supports: a window of this many frames is laid over the positions of the frames the module was trained on (16; HotShot-XL 8). 0 = as trained.",
        "Motion scale": "How strongly the motion module acts: 0 = not at all, 1 = as trained, more = exaggerated; one number, or frame keys ('0-7: 1.0, 8-15: 0.6'), interpolated between keys.",
        "Motion from (fraction of the steps)": "The motion module acts from this point of sampling on (0 = from the first step).",
        "Motion until (fraction of the steps)": "The motion module acts until this point of sampling (1 = to the last step).",
        "Motion attention scale": "Temperature of the motion module's attention across frames (multiplies its 1/sqrt(d)): above 1 frames follow their most similar frames more sharply (often more motion), below 1 they blend more evenly (less); 1 = as trained."
    });
})();
