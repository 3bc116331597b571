"""Text from a visitor, quoted inside the app's own Markdown so that it shows as the characters typed.

Streamlit renders the body of st.markdown, st.caption, st.info, st.warning, st.error, st.success and
st.toast as Markdown (CommonMark with GitHub's extensions), with LaTeX between dollar signs, its own
directives (``:red[...]``, ``:small[...]``) and icons (``:material/name:``, emoji shortcodes). A value
from the address bar, an uploaded file or its name that lands in such a body unescaped can put a link,
a remote image (which the browser fetches) or a heading inside the app's own notice. ``plain`` is the
one helper that quotes such a value: every character that can open a Markdown, HTML, LaTeX or directive
construct gets a backslash (CommonMark's escape for ASCII punctuation, also honoured by Streamlit's math
and directive plugins), and line breaks become spaces, so the value stays on the line it is quoted in.
Where a whole line is a quote, ``st.text`` or ``st.code`` is the alternative (the sidebar's link notices).

Guarded by tests/test_ui_plain.py (the helper) and its AppTest cases (every address parameter of every
page, an uploaded file's name and an .npz member name).
"""
from __future__ import annotations

import re

# Characters that can start an inline construct anywhere on a line: code spans, emphasis, strikethrough,
# links, images, footnotes, autolinks and raw HTML, entities, math, directives / icons / emoji (`:`, `/`
# because Streamlit rewrites ":material/" before parsing), tables, and the escape character itself.
_ANYWHERE = re.compile(r"([\\`*_~\[\]()!<>&$:/|#{}@^\"])")
# GitHub's literal autolinks: "www." needs no other punctuation, so its dot is escaped.
_WWW = re.compile(r"(?i)(?<![\w.])(www)\.")
# What opens a block at the start of a line (list items, headings, quotes, rules, setext underlines).
_LINE_START = re.compile(r"^(\s*)([-+=]|\d+(?=[.)]))")
# Line breaks, other control characters and the invisible bidirectional controls (which can make a
# file name read backwards): shown as a space.
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def plain(value: object, limit: int | None = None) -> str:
    """`value` as Markdown source that Streamlit renders as exactly its characters (line breaks and
    other control characters as spaces). `limit`: keep at most this many characters, before escaping."""
    text = str(value)
    if limit is not None:
        text = text[:limit]
    text = _INVISIBLE.sub(" ", text)
    text = _ANYWHERE.sub(r"\\\1", text)
    text = _WWW.sub(r"\1\\.", text)
    m = _LINE_START.match(text)
    if m:
        lead, mark = m.group(1), m.group(2)
        # leading spaces would start an indented code block: no-break spaces look the same
        text = "\u00a0" * len(lead) + (mark + "\\" if mark[0].isdigit() else "\\" + mark) + text[m.end():]
    elif text[:1].isspace():
        stripped = text.lstrip()
        text = "\u00a0" * (len(text) - len(stripped)) + stripped
    return text


__all__ = ["plain"]
