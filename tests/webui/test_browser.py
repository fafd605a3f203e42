"""The AnimateDiff accordion in a real browser, as a person uses it (see conftest.py for the set-up).

The API tests send the script's arguments themselves; this one goes through what they skip:
the gradio UI, A1111's InputAccordion (the header tick is what enables the script), the
order of the accordion's inputs as the UI sends them, and the gallery showing the frames.
Headless Chromium (Debian's, not Playwright's download) driven by Playwright; without either
the test is skipped with the reason. The WebUI serves the UI and the API on one port.
"""

from __future__ import annotations

import base64
import io
import os
import re
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from PIL import Image, ImageSequence
from webui_api import (
    ANIMATELCM_MOTION_MODULE,
    BASE_PAYLOAD,
    DATE_FOLDER,
    GIF_NAME,
    HOTSHOT_MOTION_MODULE,
    MOTION_MODULE,
    SDXL_MOTION_MODULE,
    WebUIServer,
    download_settings,
    flat_frames,
    mean_abs_diff,
    read_gif,
    write_test_catalog,
)

from lib_animatediff.devtools.file_server import ServerBehaviour, serving

try:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import Page, expect, sync_playwright
except ImportError as error:  # reported by the browser_requirements fixture, as a skip
    PLAYWRIGHT_IMPORT_ERROR: ImportError | None = error
else:
    PLAYWRIGHT_IMPORT_ERROR = None

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
PROMPT = "a red ball bouncing on a wooden floor"
SEED = 1234
FRAMES = 8
SIZE = 64
PAGE_TIMEOUT_S = 180  # the first page load builds the whole UI on 2 cores
GENERATION_TIMEOUT_S = 900  # 8 frames of 64x64 in 2 steps: ~40 s on 2 idle cores; more when they are shared
EVENT_TIMEOUT_S = 60  # one gradio event (a button's server function) on shared cores
LOG_TIMEOUT_S = 20  # for a line in the server log after a button press
# the dropdown marks each file with its family's title (lib_animatediff/families.py), and lists
# only the modules that fit the loaded checkpoint: SD 1.5 ones here
SD15_LABELS = (f"{ANIMATELCM_MOTION_MODULE} [AnimateLCM]", f"{MOTION_MODULE} [AnimateDiff v2]")
SD15_TITLES = ("AnimateDiff v1", "AnimateDiff v2", "AnimateDiff v3", "AnimateLCM")
SDXL_FILES = (SDXL_MOTION_MODULE, HOTSHOT_MOTION_MODULE)
# an image's infotext as A1111 writes it, every AnimateDiff and FreeInit value off its default
PASTED_INFOTEXT = (
    f"{PROMPT}\n"
    "Negative prompt: blurry\n"
    "Steps: 2, Sampler: Euler, Schedule type: Automatic, CFG scale: 7, Seed: 1234, Size: 64x64, Model: random_sd15, "
    f'AnimateDiff: "model: {MOTION_MODULE}, model hash: 0123456789, frames: 12, fps: 10, context: 8, stride: 1, '
    'overlap: 2, closed loop: N, freenoise: True, schedule: static, pe stretch: 24, motion scale: 0-3: 1, 7: 0.5, '
    'motion start: 0.25, motion attention scale: 1.5, version: 1", '
    'FreeInit: "gaussian d_s=0.5 d_t=0.125 iterations=2", Version: v1.10.1'
)



def _chromium() -> str | None:
    configured = os.environ.get("CHROMIUM_PATH")
    for candidate in ((configured,) if configured else ()) + CHROMIUM_CANDIDATES:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="module", autouse=True)
def browser_requirements() -> str:
    """Chromium's path. Autouse, so it runs before ui_server: without a browser, no WebUI start."""
    if PLAYWRIGHT_IMPORT_ERROR is not None:
        pytest.skip(f"playwright not importable ({PLAYWRIGHT_IMPORT_ERROR}): browser test skipped (pip install playwright)")
    chromium = _chromium()
    if chromium is None:
        configured = [f"CHROMIUM_PATH={os.environ['CHROMIUM_PATH']}"] if os.environ.get("CHROMIUM_PATH") else []
        tried = ", ".join(configured + list(CHROMIUM_CANDIDATES))
        pytest.skip(f"no Chromium executable (tried {tried}): browser test skipped (apt-get install chromium, or set CHROMIUM_PATH)")
    return chromium


@pytest.fixture
def page(browser_requirements: str, ui_server: WebUIServer) -> Iterator[Page]:
    # Chromium will not sandbox itself as root; a container's small /dev/shm crashes its tabs
    args = ["--disable-dev-shm-usage", *(["--no-sandbox"] if os.geteuid() == 0 else [])]
    expect.set_options(timeout=EVENT_TIMEOUT_S * 1000)  # an event's effect, on shared cores
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browser_requirements, headless=True, args=args)
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 1000})
        finally:
            browser.close()


# --------------------------------------------------------------------------- what a person does


def _open_txt2img(page: Page, url: str) -> None:
    page.goto(url, timeout=PAGE_TIMEOUT_S * 1000)
    # A1111 adds the accordion's visible checkbox once its scripts have run over the UI
    page.locator("#txt2img_animatediff-visible-checkbox").wait_for(state="attached", timeout=PAGE_TIMEOUT_S * 1000)
    page.locator("#tabs > .tab-nav button", has_text="txt2img").first.click()
    expect(page.locator("#txt2img_generate")).to_be_visible()


def _enable_animatediff(page: Page, tab: str = "txt2img") -> None:
    """Expand the accordion by its header (A1111 ticks it on opening), tick it if not."""
    page.locator(f"#{tab}_animatediff > .label-wrap").click()
    expect(page.locator(f"#{tab}_animatediff_model")).to_be_visible()
    ticked = page.locator(f"#{tab}_animatediff-visible-checkbox")
    if not ticked.is_checked():
        ticked.check()
    expect(page.locator(f"#{tab}_animatediff-checkbox input")).to_be_checked()  # what the UI sends


def _choose_motion_module(page: Page, name: str, tab: str = "txt2img") -> str:
    """Pick the file ``name`` (listed as "<name> [<family>]"); the label it shows."""
    field = page.locator(f"#{tab}_animatediff_model input")
    if not field.input_value().startswith(f"{name} ["):  # the first module (by name) is preselected
        field.click()
        page.locator(_option(f"#{tab}_animatediff_model", f'^="{name} ["')).click()
    expect(field).to_have_value(re.compile(rf"^{re.escape(name)} \[[^\]]+\]$"))
    return field.input_value()


def _option(dropdown: str, match: str) -> str:
    """The entries of a gradio dropdown whose value matches ``match`` (a CSS attribute operator
    and a quoted value): gradio 3 (A1111) keeps the value in ``data-value``, gradio 4 (Forge) in
    ``aria-label``."""
    return f"{dropdown} li[data-value{match}], {dropdown} li[aria-label{match}]"


def _dropdown_labels(page: Page, selector: str) -> list[str]:
    """The entries of a gradio dropdown, as a person sees them: open it, read, close it."""
    field = page.locator(f"{selector} input")
    field.click()
    options = page.locator(f"{selector} ul.options li")
    expect(options.first).to_be_visible()
    labels = options.evaluate_all("items => items.map(item => item.getAttribute('data-value') ?? item.getAttribute('aria-label'))")
    field.press("Escape")
    expect(options).to_have_count(0)
    return labels


def _click_and_wait(page: Page, selector: str) -> None:
    """Click a button whose server function runs through gradio's queue, and wait for it: gradio
    3 (A1111) opens one websocket per queued event and closes it when the event is done; gradio 4
    (Forge) streams every event of the page over one server-sent-events request that stays open
    while any is pending, so there the wait ends when the event is queued (its join answered)
    and the assertions after it, which retry, wait for its effect."""
    if _gradio_major(page) >= 4:
        with page.expect_response(lambda response: "/queue/join" in response.url, timeout=EVENT_TIMEOUT_S * 1000):
            page.locator(selector).click()
        return
    with page.expect_websocket(timeout=EVENT_TIMEOUT_S * 1000) as opened:
        page.locator(selector).click()
    socket = opened.value
    if not socket.is_closed():
        socket.wait_for_event("close", timeout=EVENT_TIMEOUT_S * 1000)


def _gradio_major(page: Page) -> int:
    version = page.evaluate("() => window.gradio_config?.version || '3'")
    return int(str(version).split(".")[0])


def _wait_for_log(server: WebUIServer, after: int, line: str) -> None:
    """Until the server log, past its first ``after`` characters, holds ``line``."""
    deadline = time.monotonic() + LOG_TIMEOUT_S
    while line not in server.log_text()[after:]:
        if time.monotonic() > deadline:
            pytest.fail(f"no {line!r} in the server log after {LOG_TIMEOUT_S}s\n--- WebUI log (tail) ---\n{server.log_tail(20)}")
        time.sleep(0.25)


def _set_number(page: Page, selector: str, value: int) -> None:
    field = page.locator(selector)
    field.fill(str(value))
    field.press("Tab")  # gradio's sliders clamp on blur
    expect(field).to_have_value(str(value))


def _generate(page: Page, server: WebUIServer, tab: str = "txt2img") -> float:
    """Press Generate and wait until A1111 reports the job done; the seconds it took."""
    start = time.monotonic()
    page.locator(f"#{tab}_generate").click()
    try:  # "Time taken" is written when the job ends, with or without an error
        page.wait_for_function(
            f"""() => (document.querySelector('#html_log_{tab}')?.innerText || '').includes('Time taken')
                     && !document.querySelector('#{tab}_results .progressDiv')""",
            timeout=GENERATION_TIMEOUT_S * 1000,
            polling=1000,
        )
    except PlaywrightError as error:
        pytest.fail(f"no result after {time.monotonic() - start:.0f}s: {error}\n--- WebUI log (tail) ---\n{server.log_tail(40)}")
    return time.monotonic() - start


def _gallery_files(page: Page, tab: str = "txt2img") -> list[bytes]:
    """The files the gallery shows, in order, once the browser has loaded them, fetched as the browser did."""
    thumbnails = f"#{tab}_gallery .thumbnail-item img"
    page.wait_for_function(
        f"() => [...document.querySelectorAll('{thumbnails}')].every(img => img.complete && img.naturalWidth > 0)",
        timeout=60_000,
    )
    sources = list(dict.fromkeys(page.locator(thumbnails).evaluate_all("images => images.map(img => img.src)")))
    files = []
    for source in sources:  # the preview strip and the hidden grid show the same files
        answer = page.request.get(source)
        assert answer.ok, f"GET {source}: HTTP {answer.status}"
        files.append(answer.body())
    return files


def _fetch(page: Page, source: str) -> bytes:
    """An image's bytes, from its URL or its data URL (gradio shows images sent between tabs inline)."""
    if source.startswith("data:"):
        return base64.b64decode(source.split(",", 1)[1])
    answer = page.request.get(source)
    assert answer.ok, f"GET {source}: HTTP {answer.status}"
    return answer.body()


def _frames_of(data: bytes) -> list[np.ndarray]:
    """Every frame of an image file (one for a still image)."""
    with Image.open(io.BytesIO(data)) as image:
        return [np.asarray(frame.convert("RGB")).copy() for frame in ImageSequence.Iterator(image)]


def _set_format(page: Page, tab: str, name: str, on: bool) -> None:
    box = page.locator(f"#{tab}_animatediff_format label", has_text=name).locator("input")
    if box.is_checked() != on:
        box.click()
    expect(box).to_be_checked(checked=on)


# --------------------------------------------------------------------------- the tests


def test_animatediff_from_the_txt2img_tab(page: Page, ui_server: WebUIServer, tmp_path: Path) -> None:
    before = ui_server.gifs("txt2img")
    screenshot = tmp_path / "txt2img_animatediff.png"
    try:
        _open_txt2img(page, ui_server.url)
        _enable_animatediff(page)
        _choose_motion_module(page, MOTION_MODULE)
        _set_number(page, "#txt2img_animatediff_video_length input", FRAMES)
        _set_number(page, "#txt2img_animatediff_batch_size input", FRAMES)
        _set_number(page, "#txt2img_steps input[type=number]", 2)
        _set_number(page, "#txt2img_width input[type=number]", SIZE)
        _set_number(page, "#txt2img_height input[type=number]", SIZE)
        _set_number(page, "#txt2img_seed input", SEED)
        page.locator("#txt2img_prompt textarea").fill(PROMPT)
        seconds = _generate(page, ui_server)
        print(f"\ngenerated in the browser in {seconds:.1f}s")
    finally:
        page.screenshot(path=str(screenshot), full_page=True)
        print(f"\nscreenshot: {screenshot}")

    log = page.locator("#html_log_txt2img").first  # gradio gives the block and its content the elem_id
    assert log.locator(".error").count() == 0, f"the UI shows an error: {log.inner_text()}\n{ui_server.log_tail(40)}"
    info = page.locator("#html_info_txt2img").first.inner_text()
    assert "AnimateDiff:" in info and MOTION_MODULE in info and f"frames: {FRAMES}" in info, f"no AnimateDiff in the infotext: {info}"

    files = _gallery_files(page)
    assert len(files) == 1 + FRAMES, (
        f"the gallery shows {len(files)} items, expected the animation and the {FRAMES} frames\n{ui_server.log_tail(40)}"
    )
    animation, shown = _frames_of(files[0]), [_frames_of(data)[0] for data in files[1:]]
    assert len(animation) == FRAMES, f"the gallery's first item has {len(animation)} frames: it is not the animation"
    assert all(image.shape == (SIZE, SIZE, 3) for image in shown), [image.shape for image in shown]
    assert any(not np.array_equal(shown[0], image) for image in shown[1:]), "all frames in the gallery are identical"

    gifs = sorted(ui_server.gifs("txt2img") - before)
    assert len(gifs) == 1, f"new GIFs {gifs}, expected one\n{ui_server.log_tail(40)}"
    gif = gifs[0]
    assert files[0] == gif.read_bytes(), "the gallery's animation is not the GIF that was written"
    match = GIF_NAME.match(gif.name)
    assert match and int(match.group(1)) == SEED, f"unexpected GIF name {gif.name} (seed {SEED})"
    assert DATE_FOLDER.match(gif.parent.name), gif
    assert gif.parent.parent == ui_server.data_dir / "outputs" / "txt2img-images" / "AnimateDiff", gif
    video = read_gif(gif)
    assert len(video) == FRAMES, f"{gif.name} has {len(video)} frames, expected {FRAMES}"
    # the frames that follow are the GIF's frames, in order (the GIF palette costs ~7 grey levels)
    errors = [mean_abs_diff(frame, image) for frame, image in zip(video, shown)]
    assert max(errors) < 20, f"the gallery does not show the GIF's frames: mean |diff| per frame {errors}"

    # the infotext under the gallery is the job's, for the animation and for a frame
    for item in (0, 3):
        page.locator("#txt2img_gallery .thumbnail-item:visible").nth(item).click()
        expect(page.locator("#html_info_txt2img").first).to_contain_text(f"frames: {FRAMES}")
    # Send to img2img from the frame selected (frame 2, after the animation) puts that frame in img2img
    page.locator("#txt2img_send_to_img2img").click()
    sent = page.locator("#img2img_image img")
    expect(sent).to_be_visible(timeout=EVENT_TIMEOUT_S * 1000)
    received = _fetch(page, sent.get_attribute("src"))
    assert mean_abs_diff(_frames_of(received)[0], shown[2]) < 3, "img2img did not get the frame that was sent"
    page.screenshot(path=str(tmp_path / "sent_to_img2img.png"), full_page=True)

    # the animation's own infotext pastes back: PNG Info → Send to txt2img restores the accordion
    page.locator("#tabs > .tab-nav button", has_text="PNG Info").first.click()
    page.locator("#pnginfo_image input[type=file]").set_input_files(str(gif))
    expect(page.locator("#tab_pnginfo")).to_contain_text("AnimateDiff", timeout=EVENT_TIMEOUT_S * 1000)
    page.locator("#tab_pnginfo #txt2img_tab").click()  # "Send to txt2img"
    expect(page.locator("#txt2img_animatediff_video_length input")).to_have_value(str(FRAMES), timeout=EVENT_TIMEOUT_S * 1000)
    expect(page.locator("#txt2img_animatediff-visible-checkbox")).to_be_checked()


def test_without_png_the_gallery_shows_each_animation_of_a_batch_count(page: Page, ui_server: WebUIServer, tmp_path: Path) -> None:
    """Batch count 2 with PNG off: the gallery shows the two animations, and only them."""
    before = ui_server.gifs("txt2img")
    try:
        _open_txt2img(page, ui_server.url)
        _enable_animatediff(page)
        _choose_motion_module(page, MOTION_MODULE)
        _set_format(page, "txt2img", "PNG", False)
        _set_number(page, "#txt2img_animatediff_video_length input", FRAMES)
        _set_number(page, "#txt2img_animatediff_batch_size input", FRAMES)
        _set_number(page, "#txt2img_batch_count input[type=number]", 2)
        for field, value in (("steps", 2), ("width", SIZE), ("height", SIZE)):
            _set_number(page, f"#txt2img_{field} input[type=number]", value)
        _set_number(page, "#txt2img_seed input", SEED)
        page.locator("#txt2img_prompt textarea").fill(PROMPT)
        _generate(page, ui_server)
    finally:
        page.screenshot(path=str(tmp_path / "batch_count_two.png"), full_page=True)
    files = _gallery_files(page)
    gifs = sorted(ui_server.gifs("txt2img") - before)
    assert len(gifs) == 2 and files == [gif.read_bytes() for gif in gifs], f"gallery {len(files)} items, new GIFs {gifs}"
    assert all(len(_frames_of(data)) == FRAMES for data in files) and files[0] != files[1]


@pytest.mark.parametrize("source", ["From directory", "Upload"])
def test_the_img2img_batch_tab_is_one_animation(page: Page, ui_server: WebUIServer, tmp_path: Path, source: str) -> None:
    """img2img → Batch with AnimateDiff on: the folder's images, or the uploaded ones, are one
    animation's frames (frames 0: as many as there are), as the tab's Generate sends them."""
    folder = flat_frames(tmp_path / "frames", [30 * index for index in range(FRAMES)])  # 64×64, the job's SIZE
    before, log_start = ui_server.gifs("img2img"), len(ui_server.log_text())
    try:
        _open_txt2img(page, ui_server.url)
        page.locator("#tabs > .tab-nav button", has_text="img2img").first.click()
        page.locator("#mode_img2img .tab-nav button", has_text="Batch").first.click()
        page.locator("#img2img_batch_source .tab-nav button", has_text=source).first.click()
        if source == "Upload":
            page.locator("#img2img_batch_upload input[type=file]").set_input_files([str(folder / f"frame{index}.png") for index in range(FRAMES)])
            expect(page.locator("#img2img_batch_upload")).to_contain_text(f"frame{FRAMES - 1}")  # gradio 4 shows "frame7 .png"
        else:
            page.locator("#img2img_batch_input_dir textarea").fill(str(folder))
        _enable_animatediff(page, "img2img")
        _choose_motion_module(page, MOTION_MODULE, "img2img")
        _set_number(page, "#img2img_animatediff_video_length input", 0)
        _set_number(page, "#img2img_animatediff_batch_size input", FRAMES)
        for field, value in (("steps", 2), ("width", SIZE), ("height", SIZE)):
            _set_number(page, f"#img2img_{field} input[type=number]", value)
        _set_number(page, "#img2img_seed input", SEED)
        page.locator("#img2img_prompt textarea").fill(PROMPT)
        _generate(page, ui_server, "img2img")
    finally:
        page.screenshot(path=str(tmp_path / "img2img_batch_tab.png"), full_page=True)
    _wait_for_log(ui_server, log_start, f"img2img batch: {FRAMES} frames from {folder if source != 'Upload' else ''}")
    gifs = sorted(ui_server.gifs("img2img") - before)
    assert len(gifs) == 1 and len(read_gif(gifs[0])) == FRAMES, f"new GIFs {gifs}\n{ui_server.log_tail(40)}"
    assert GIF_NAME.match(gifs[0].name) and int(GIF_NAME.match(gifs[0].name).group(1)) == SEED, gifs[0].name


def test_motion_module_list_and_its_buttons(page: Page, ui_server: WebUIServer) -> None:
    """The dropdown offers only what fits the loaded SD 1.5 checkpoint, each file marked with
    its family; refresh re-reads the folder without losing the choice; the two memory buttons
    reach the server (they log) and leave the WebUI working."""
    _open_txt2img(page, ui_server.url)
    _enable_animatediff(page)
    chosen = _choose_motion_module(page, MOTION_MODULE)  # not the first entry, so refresh has a choice to keep
    listed = _dropdown_labels(page, "#txt2img_animatediff_model")
    assert set(SD15_LABELS) <= set(listed), f"listed {listed}, expected {SD15_LABELS} among them"
    assert not [label for label in listed if label.startswith(SDXL_FILES)], f"SDXL modules listed for an SD 1.5 checkpoint: {listed}"
    unmarked = [label for label in listed if not label.endswith(tuple(f" [{title}]" for title in SD15_TITLES))]
    assert not unmarked, f"entries without an SD 1.5 family mark: {unmarked}"

    _click_and_wait(page, "#txt2img_animatediff_refresh_models")
    expect(page.locator("#txt2img_animatediff_model input")).to_have_value(chosen)
    assert _dropdown_labels(page, "#txt2img_animatediff_model") == listed, "refresh changed the list of an unchanged folder"

    for button, line in (("to_cpu", "motion modules moved to the CPU"), ("free", "motion modules freed")):
        before = len(ui_server.log_text())
        page.locator(f"#txt2img_animatediff_{button}").click()
        _wait_for_log(ui_server, before, f"[AnimateDiff] INFO: {line}")

    assert ui_server.alive(), f"the WebUI exited\n{ui_server.log_tail(40)}"
    assert page.locator(".toast-body.error").count() == 0, f"the UI shows an error: {page.locator('.toast-body').all_inner_texts()}"
    answer = ui_server.post("/sdapi/v1/txt2img", dict(BASE_PAYLOAD, steps=1), timeout=GENERATION_TIMEOUT_S)
    assert answer.ok and len(answer.body.get("images") or []) == 1, f"a plain job after freeing: HTTP {answer.status} {answer.text[:500]}"
    expect(page.locator("#txt2img_animatediff_model input")).to_have_value(chosen)


def test_a_motion_module_downloaded_from_the_accordion(page: Page, ui_server: WebUIServer, tmp_path: Path) -> None:
    """Settings point the catalog and the mirror at a local server; in the accordion's download
    panel a person refreshes the catalog, picks a module, reads what it is, presses Download,
    sees the progress while the (slowed) server sends it, then the outcome, the module in the
    motion-module dropdown with its family, and the file marked installed."""
    entries = write_test_catalog(tmp_path / "files", tmp_path / "catalog.json")
    name = "mm_test_v2.safetensors"
    behaviour = ServerBehaviour(tmp_path / "files", bytes_per_s=entries[name]["size"] / 4)  # about 4 s
    downloaded = ui_server.data_dir / "motion_modules" / name
    with serving(behaviour) as base_url, download_settings(ui_server, tmp_path / "catalog.json", base_url):
        try:
            _open_txt2img(page, ui_server.url)
            _enable_animatediff(page)
            page.locator("#txt2img_animatediff_download > .label-wrap").click()
            _click_and_wait(page, "#txt2img_animatediff_download_refresh")
            field = page.locator("#txt2img_animatediff_download_file input")
            field.click()
            page.locator(_option("#txt2img_animatediff_download_file", f'*=" · {name} ("')).click()
            listed = _dropdown_labels(page, "#txt2img_animatediff_download_file")
            assert [label.split(" · ")[0] for label in listed] == ["SD 1.5"] * 5 + ["SDXL"], listed
            expect(page.locator("#txt2img_animatediff_download_about").first).to_contain_text("random v2 weights for the download tests")
            page.locator("#txt2img_animatediff_download_start").click()
            expect(page.locator("#txt2img_animatediff_download_outcome").first).to_contain_text(f"Downloading {name}", timeout=EVENT_TIMEOUT_S * 1000)
            expect(page.locator("#txt2img_animatediff_download_outcome").first).to_contain_text("✅ saved as", timeout=EVENT_TIMEOUT_S * 1000)
            assert downloaded.is_file() and downloaded.stat().st_size == entries[name]["size"]
            assert f"{name} [AnimateDiff v2]" in _dropdown_labels(page, "#txt2img_animatediff_model")
            expect(field).to_have_value(re.compile(rf" · {re.escape(name)} \(.*✓ installed$"))
        finally:
            downloaded.unlink(missing_ok=True)
    assert page.locator(".toast-body.error").count() == 0, f"the UI shows an error: {page.locator('.toast-body').all_inner_texts()}"


def test_pasted_parameters_fill_the_accordion(page: Page, ui_server: WebUIServer) -> None:
    """A1111's paste button (↙ beside the prompt) reads an image's infotext typed into the prompt
    box back into the UI: the AnimateDiff and FreeInit entries must set the accordion, every
    value differing from the defaults, the model by its file name onto its dropdown label."""
    _open_txt2img(page, ui_server.url)
    page.locator("#txt2img_prompt textarea").fill(PASTED_INFOTEXT)
    _click_and_wait(page, "#txt2img_tools #paste")

    # A1111's own fields first: if these fail, the paste itself did not happen
    expect(page.locator("#txt2img_prompt textarea")).to_have_value(PROMPT)
    expect(page.locator("#txt2img_steps input[type=number]")).to_have_value("2")
    accordion = "#txt2img_animatediff"
    expect(page.locator(f"{accordion}-checkbox input")).to_be_checked()  # what the UI sends as enable
    expect(page.locator(f"{accordion}-visible-checkbox")).to_be_checked()
    for field, value in (("video_length", "12"), ("fps", "10"), ("batch_size", "8"), ("overlap", "2")):
        expect(page.locator(f"{accordion}_{field} input"), f"{field}").to_have_value(value)
    expect(page.locator(f'{accordion}_closed_loop input[value="N"]')).to_be_checked()
    expect(page.locator(f"{accordion}_model input")).to_have_value(f"{MOTION_MODULE} [AnimateDiff v2]")
    expect(page.locator(f'{accordion}_context_schedule input[value="static"]')).to_be_checked()
    expect(page.locator(f"{accordion}_freenoise input")).to_be_checked()
    expect(page.locator(f"{accordion}_pe_stretch input")).to_have_value("24")
    expect(page.locator(f"{accordion}_motion_scale").locator("textarea, input").first).to_have_value("0-3: 1, 7: 0.5")
    expect(page.locator(f"{accordion}_motion_start input[type=number]")).to_have_value("0.25")
    expect(page.locator(f"{accordion}_motion_attention_scale input")).to_have_value("1.5")
    expect(page.locator(f"{accordion}_freeinit_enable input")).to_be_checked()
    expect(page.locator(f"{accordion}_freeinit_filter input")).to_have_value("gaussian")
    for field, value in (("iters", "2"), ("ds", "0.5"), ("dt", "0.125")):
        expect(page.locator(f"{accordion}_freeinit_{field} input[type=number]"), f"freeinit_{field}").to_have_value(value)
