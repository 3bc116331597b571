"""Text from a visitor is never interpreted: ui.plain.plain, and every place a value from the address bar,
an uploaded file or a file name reaches a Markdown body (notices, errors, captions).

Each hostile value below goes through every address parameter of every page at once, and through an
uploaded file's name, an .npz member's name and a CSV cell; no rendered Markdown body may then contain
it in a form Streamlit would turn into a link, an image, HTML, LaTeX, a directive or an icon.
"""
from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import engine
from ui import teacher
from ui.config import FIELDS
from ui.lesson import STEP_PARAM
from ui.plain import plain
from ui.train_lab import LIVE_PARAM

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["app.py", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "pages").glob("*.py"))]

# value -> what it would look like in a Markdown body if it were interpreted (checked with escapes removed)
HOSTILE = {
    "![](//127.0.0.1:1/)": ["](//127.0.0.1"],
    "[Log in](//e.io)": ["](//e.io", "[Log in]"],
    "<img src=x onerror=alert(1)>": ["<img"],
    "<script>alert(1)</script>": ["<script"],
    "**b**": ["*b*"],
    "$x$": ["$x$"],
    ":red[x]": [":red["],
    ":material/home:": [":material/home", ":material_home"],
    "http://e.io/x": ["http://e.io"],
    "www.e.io": ["www.e.io"],
    "a\n\n# h": ["# h"],
}
# Every body Streamlit renders as Markdown, as AppTest names the element kinds.
MARKDOWN_KINDS = ("markdown", "caption", "info", "warning", "error", "success", "toast", "title", "header",
                  "subheader", "latex")
ESCAPE = re.compile(r"\\[!-/:-@\[-`{-~]")   # CommonMark: a backslash before ASCII punctuation


def unescape(body: str) -> str:
    """What CommonMark shows for a body made of escapes and plain characters."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", body).replace("\u00a0", " ")


def bodies(at: AppTest) -> list[str]:
    return [str(e.value) for kind in MARKDOWN_KINDS for e in at.get(kind)]


def assert_never_interpreted(at: AppTest, value: str, where: str) -> None:
    for body in bodies(at):
        bare = ESCAPE.sub("", body)     # escaped characters are literal; look at what is left
        for sign in HOSTILE[value]:
            assert sign not in bare, (where, value, body)


# ---------------------------------------------------------------- the helper

@pytest.mark.parametrize("value", [*HOSTILE, "`code`", "~~s~~", "a_b_c", "\\", "1. item", "- item", "+ x", "> q",
                                   "=== ", "    indented", "&lt;b&gt;", "&#60;", "x@e.io", "|a|b|", "[^1]",
                                   ":smile:", "\u202eevil.npz", "plain text 1.5", ""])
def test_plain_shows_exactly_the_characters(value):
    out = plain(value)
    shown = re.sub(r"[\n\r\u202e]", " ", value)
    assert unescape(out) == shown
    bare = ESCAPE.sub("", out)
    # nothing left that opens a construct: code, emphasis, links, HTML, entities, math, directives, tables
    assert not set(bare) & set("\\`*_~[]()!<>&$:/|#{}@"), (value, out)
    assert "\n" not in out and "\r" not in out
    assert not re.match(r"\s*([-+=>]|\d+[.)])", out), out  # nothing opens a block at the start of a line
    assert "www." not in bare.lower()


def test_plain_limit_counts_the_characters_before_escaping():
    assert plain("[Log in](//e.io)", 4) == "\\[Log"
    assert plain(12345, 3) == "123"


# ---------------------------------------------------------------- every parameter of every page

def _source_keys(prefix: str) -> set[str]:
    keys = set()
    for path in [*(ROOT / "ui").glob("*.py"), *(ROOT / "pages").glob("*.py")]:
        keys |= set(re.findall(rf'key="({prefix}_\w+)"', path.read_text()))
    return keys


PARAMS = sorted({*FIELDS, *teacher.PARAMS, STEP_PARAM, LIVE_PARAM, *_source_keys("tr"), *_source_keys("ph"),
                 "tr_text"})


def test_the_parameter_list_covers_every_page_control():
    assert {"T", "seed", "hide", "pages", "projector", "step", "tr_task", "tr_lr", "ph_rho", "ph_T"} <= set(PARAMS)


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("value", list(HOSTILE))
def test_every_url_parameter_of_every_page_is_quoted_as_plain_text(page, value):
    """A shared link opens the page itself with every parameter set to the hostile value."""
    at = AppTest.from_file(str(ROOT / page), default_timeout=180)
    for name in PARAMS:
        at.query_params[name] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert_never_interpreted(at, value, page)
    quoted = plain(value, 20)
    if page.endswith("0_Lesson.py"):        # the step notice quotes the link, escaped
        notices = [i.value for i in at.info if i.value.startswith("step=")]
        assert notices and quoted in notices[0], notices
    if page.endswith("7_Train.py"):         # each parameter the page had to change is quoted, escaped
        notices = [w.value for w in at.warning if "from the link is not possible here" in w.value]
        assert any(n.startswith("task = ") and quoted in n for n in notices), notices
        assert any(n.startswith("lr = ") and quoted in n for n in notices), notices


def test_lesson_and_train_notices_of_the_issue():
    at = AppTest.from_file(str(ROOT / "pages/0_Lesson.py"), default_timeout=180)
    at.query_params["step"] = "![](//127.0.0.1:1/)"
    at.run()
    notice = next(i.value for i in at.info if i.value.startswith("step="))
    assert notice.startswith("step=\\!\\[\\]\\(\\/\\/127.0.0.1\\:1\\/\\) is not a step number")
    at = AppTest.from_file(str(ROOT / "pages/7_Train.py"), default_timeout=180)
    at.query_params["tr_task"] = "[Log in](//e.io)"
    at.run()
    notice = next(w.value for w in at.warning if w.value.startswith("task = "))
    assert "\\[Log in\\]\\(\\/\\/e.io\\)" in notice and "[Log in](" not in notice


# ---------------------------------------------------------------- file names, member names, file content

def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _weights(**extra) -> bytes:
    return _npz(**engine.init_params(1, 4, 1, seed=0).arrays(), **extra)


def _upload(at: AppTest, index: int, name: str, data: bytes, mime: str) -> AppTest:
    at = at.file_uploader[index].set_value((name, data, mime)).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize("value", list(HOSTILE))
def test_file_names_member_names_and_cells_are_quoted_as_plain_text(value):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
    name = value.replace("\n", " ")  # a browser sends a file name on one line
    # a good file: its name is in the sidebar's caption
    at = _upload(at, 0, f"{name}.npz", _weights(), "application/zip")
    assert not at.error
    assert any(plain(name) in c.value for c in at.caption), [c.value for c in at.caption]
    assert_never_interpreted(at, value, "weights file name")
    # a file whose member names are quoted in the error (it has none of the arrays needed)
    member = value
    at = _upload(at, 0, f"{name}.npz", _npz(**{member: np.zeros(2)}), "application/zip")
    assert len(at.error) == 1 and plain(member, 40) in at.error[0].value, at.error[0].value
    assert at.error[0].value.startswith(plain(name) + ".npz: ")
    assert_never_interpreted(at, value, "member name")
    # a damaged member: its name is quoted from the zip directory
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(f"{value}.npy", b"\x93NUMPY garbage")
    at = _upload(at, 0, "x.npz", buf.getvalue(), "application/zip")
    assert len(at.error) == 1
    assert_never_interpreted(at, value, "member of a damaged file")
    # a CSV whose cell is quoted, and a text file's name
    at = _upload(at, 1, f"{name}.csv", f"1;2\n{value.splitlines()[0]};2\n".encode(), "text/csv")
    assert any("not a number" in e.value for e in at.error), [e.value for e in at.error]
    assert_never_interpreted(at, value, "CSV cell")
    at = _upload(at, 2, f"{name}.txt", b"some text. " * 200, "text/plain")
    assert any(plain(name) in c.value for c in at.caption)
    assert_never_interpreted(at, value, "text file name")
