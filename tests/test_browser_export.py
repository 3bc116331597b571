"""Export and your own data in a real browser: upload weights and see the page change, upload malformed
files and see the message, download the run (.npz) and the animated GIF and open them.

One server, one page (Unroll, small network); the GIF is rendered on the server by Kaleido.
Run: .venv/bin/python -m pytest tests/test_browser_export.py -q -m browser
"""
from __future__ import annotations

import io
import json
import time

import numpy as np
import pytest
from browser_support import SIDEBAR, goto_ready, running_app, wait_ready, wait_rerun, wait_until
from test_browser import Tab, check_healthy

import engine

pytestmark = [pytest.mark.browser, pytest.mark.slow]

QUERY = "T=12&H=6"
UPLOADER = "[data-testid='stFileUploader']"


@pytest.fixture(scope="module")
def app(browser):
    """The app on a free port; GIFs of 4 frames keep the render short on a loaded CI machine."""
    with running_app(env={"UNROLLED_GIF_FRAMES": "4"}) as server:
        yield server


def npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def upload(page, index: int, name: str, data: bytes, mime: str, shows: str) -> None:
    """Choose a file in the index-th uploader of “Your own data”, wait for the rerun and then until the page
    shows `shows` (what the upload must lead to: the tests assert on the rendered page)."""
    box = page.locator(f"{SIDEBAR} {UPLOADER}").nth(index)
    wait_rerun(page, lambda: box.locator("input[type='file']").set_input_files(
        {"name": name, "mimeType": mime, "buffer": data}))
    wait_until(page, lambda: shows in text_of(page), f"{shows!r} on the page after uploading {name}")
    wait_ready(page, 1)


def open_expander(page, title: str, within: str = "body") -> None:
    summary = page.locator(f"{within} [data-testid='stExpander'] summary", has_text=title).first
    summary.scroll_into_view_if_needed()
    if summary.locator("xpath=..").get_attribute("open") is None:
        summary.click()
    wait_until(page, lambda: summary.locator("xpath=..").get_attribute("open") is not None, f"{title!r} opened")
    summary.locator("xpath=..").locator("[data-testid='stExpanderDetails']").first.wait_for(state="visible")


def text_of(page) -> str:
    return page.locator("[data-testid='stApp']").inner_text()


def test_upload_weights_then_bad_files_then_download_the_run_and_the_gif(app, browser, tmp_path):  # noqa: F811
    from PIL import Image

    tab = Tab(browser)
    page = tab.page
    try:
        goto_ready(page, app.page_url("Unroll", QUERY), 1)
        open_expander(page, "Your own data", SIDEBAR)
        assert page.locator(f"{SIDEBAR} {UPLOADER}").count() == 3

        # good weights (PyTorch key names): the page now draws an LSTM with the file's sizes
        p = engine.init_params(2, 5, 3, seed=4, cell="lstm")
        upload(page, 0, "lstm.npz", npz_bytes(**engine.params_to_state_dict(p)), "application/octet-stream",
               shows="LSTM, H = 5, D = 2, O = 3")
        body = text_of(page)
        assert "LSTM, H = 5, D = 2, O = 3" in body and "H 6 → 5" in body
        assert "the same LSTM cell" in body  # the page's own text follows the uploaded cell
        check_healthy(page, "after a good upload", 1, tab.js_errors)

        # malformed files: a message each, the view unchanged
        upload(page, 0, "cut.npz", npz_bytes(**engine.params_to_state_dict(p))[:300], "application/octet-stream",
               shows="cut.npz: This is not a readable .npz file")
        upload(page, 1, "image.csv", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "text/csv",
               shows="image.csv: The CSV file contains binary data")
        upload(page, 2, "latin.txt", "déjà vu, encore ".encode("latin-1") * 200, "text/plain",
               shows="latin.txt: The text file is not UTF-8")
        body = text_of(page)
        assert "cut.npz: This is not a readable .npz file" in body
        assert "image.csv: The CSV file contains binary data" in body
        assert "latin.txt: The text file is not UTF-8" in body
        assert body.count("Nothing was changed") == 3
        assert "LSTM, H = 5, D = 2, O = 3" in body and "the same LSTM cell" in body

        # the run as .npz holds the uploaded weights
        open_expander(page, "Export this view")
        with page.expect_download(timeout=60_000) as dl:
            page.get_by_role("button", name="Run (.npz)").click()
        path = tmp_path / "run.npz"
        dl.value.save_as(path)
        with np.load(path, allow_pickle=False) as z:
            config = json.loads(str(z["config"]))
            assert (config["cell"], config["H"], config["T"]) == ("lstm", 5, 12)
            assert config["weights"] == "uploaded: lstm.npz"
            assert np.array_equal(z["W_hh"], p.W_hh) and np.array_equal(z["weight_hh_l0"], p.W_hh)
            assert z["h"].shape == (12, 5) and z["grad_h_norm"].shape == (12,)

        # the animation as a GIF, rendered on request
        t0 = time.perf_counter()
        page.get_by_role("button", name="Render GIF").click()
        gif_button = page.get_by_role("button", name="Animation (.gif)")
        gif_button.wait_for(timeout=300_000)
        print(f"GIF of 4 frames rendered in {time.perf_counter() - t0:.1f} s (Chromium start included)")
        with page.expect_download(timeout=60_000) as dl:
            gif_button.click()
        path = tmp_path / "unroll.gif"
        dl.value.save_as(path)
        im = Image.open(path)
        assert im.format == "GIF" and im.n_frames == 4 and im.size[0] == 960
        check_healthy(page, "after the downloads", 1, tab.js_errors)
    finally:
        tab.close()
