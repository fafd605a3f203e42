// Hover hints for the AnimateDiff accordion; A1111's hints.js shows `titles[label]`.
(function () {
    if (typeof titles === "undefined") {
        return;
    }
    Object.assign(titles, {
        "Motion module": "AnimateDiff motion module from the extension's model folder; its family (v1, v2, v3, AnimateLCM, SDXL, HotShot-XL) is recognised from the file.",
        "Number of frames": "Frames of the animation. 0 = one context window. More frames than the context are denoised in sliding windows.",
        "FPS": "Frames per second of the saved animation.",
        "Display loop number": "How many times a GIF or WEBP plays; 0 = forever.",
        "Context batch size (0 = 16 for SD 1.5, 8 for SDXL)": "Frames the motion module sees at once. Keep it at the module's training length (16 for SD 1.5 modules, 8 for SDXL).",
        "Stride": "Longest frame spacing of extra, dilated context windows (1, 2, 4, ...): larger values link distant frames for smoother long motion, at more windows per step.",
        "Overlap (-1 = context / 4)": "Frames shared by neighbouring context windows; more overlap blends windows more smoothly, at more windows per step.",
        "Closed loop": "N: no loop. R-P: windows wrap around so the end flows into the start (prompt travel not looped). R+P: the same, prompt travel looped. A: always keep the seam inside a window, for the strongest loop.",
        "Save format": "What to write besides the frames: GIF animation, PNG frames, TXT infotext.",
    });
})();
