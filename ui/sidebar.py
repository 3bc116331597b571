"""The shared sidebar: every control of the lab, mirrored to the URL.

Each widget's key is the config field name, which is also its URL query
parameter (`bind="query-params"`), so a copied link reproduces the view and the
values survive page switches. Streamlit silently drops URL values a widget cannot
take; we read the URL once per session first, clamp what can be clamped, and
show a short notice instead.

Streamlit treats a bound query parameter as belonging to the page whose widget bound it: on a page
switch it drops every such parameter, even those the page link carries, and it only writes a restored
value back into the address after the new page has had a rerun from the browser. So the first page
switch of a session left a bare address. On arriving at a page, the sidebar therefore writes the
config into the address itself (`st.query_params`, before its widgets bind the keys) and hands the
widgets the values of the page before.
"""
from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import streamlit as st

from ui import keys, teacher
from ui.charts import SVG_BUTTON_JS, TEACHER_STATE
from ui.config import (
    BIND,
    CELL_LABELS,
    FIELDS,
    GATED_ACTIVATION,
    INIT_LABELS,
    LOSS_LABELS,
    SIGNAL_LABELS,
    Config,
    coerce,
    fmt,
    reconcile,
)
from ui.presets import PRESETS, PRESETS_BY_KEY
from ui.rooms import page as rooms
from ui.rooms import views as room_views
from ui.streamlit_compat import (
    _HERE,
    _LAST,
    _PAGE,
    StreamlitAPIException,
    _heap,
    _page_id,
    _restore_after_page_switch,
    _write_link_values,
)
from ui.teacher import TeacherLink

_NOTICES = keys.URL_NOTICES    # session key: notices from the URL check
_URL_CHECKED = keys.URL_CHECKED  # session key: URL has been read once in this session
_TEACHER_QUERY = keys.TEACHER_QUERY  # session key: the teacher link's parameters, carried across pages

_ROOT = Path(__file__).resolve().parent.parent
_ICONS = {"Lesson": ":material/school:", "Unroll": ":material/linear_scale:", "Hidden state": ":material/grid_on:",
          "Gradients": ":material/trending_down:", "Spectrum": ":material/blur_circular:",
          "Phase diagram": ":material/grid_view:", "RNN vs LSTM vs GRU": ":material/compare_arrows:", "Train": ":material/model_training:"}


def pages() -> list[tuple[str, str, str]]:
    """(path, label, icon) for Home and every file in pages/, in file-name order."""
    out = [("app.py", "Home", ":material/home:")]
    for f in sorted((_ROOT / "pages").glob("[0-9]*.py")):
        label = re.sub(r"^\d+_", "", f.stem).replace("_", " ")
        out.append((f"pages/{f.name}", label, _ICONS.get(label, ":material/article:")))
    return out


def page_setup(title: str) -> None:
    """Call first on every page."""
    st.set_page_config(page_title=f"{title} · Unrolled", page_icon="🔁", layout="wide")
    st.session_state[_HERE] = title
    _heap().settle(title)


def _check_url_once() -> None:
    """Seed widget values from the URL with clamping, once per browser session."""
    if st.session_state.get(_URL_CHECKED):
        _restore_after_page_switch()
        return
    st.session_state[_URL_CHECKED] = True
    st.session_state[_PAGE] = _page_id()
    notices: list[str] = []
    params = st.query_params
    fixed: dict[str, str] = {}
    asked: dict[str, Any] = {}   # what the link asked for, each field coerced by the registry (ui/state.py)
    for name in FIELDS:
        if name in params:
            value, notice = coerce(name, params.get_all(name))
            asked[name] = value
            if notice or name == "rho":
                # Streamlit drops what the widget cannot take; we clamp it instead.
                st.session_state[name] = value
            if notice:
                notices.append(notice)
                fixed[name] = fmt(value)
            elif name == "rho" and params.get_all(name) != [fmt(value)] or len(params.get_all(name)) > 1:
                # a value the slider would not recognise as written (rho=1.1 for the option 1.10, a
                # repeated parameter): Streamlit would drop it from the address, so write it as shown
                fixed[name] = fmt(value)
    # Rules between fields (a gated cell's activation is tanh): applied to what the link asked for.
    agreed, rule_notices = reconcile(asked)
    for name, value in agreed.items():
        if value != asked[name]:
            st.session_state[name] = value
            fixed[name] = fmt(value)
    notices.extend(rule_notices)
    st.session_state[_NOTICES] = notices
    _replace_link_values(fixed)


def _replace_link_values(fixed: dict[str, str]) -> None:
    """Hand the widgets the clamped values instead of the raw link values (defaults leave the link)."""
    default = Config()
    replace_link_values({name: None if text == fmt(getattr(default, name)) else text
                         for name, text in fixed.items()})


def replace_link_values(values: dict[str, str | None]) -> None:
    """Replace link values before any widget bound to them is drawn (None: remove the parameter).

    Streamlit seeds a bound widget from the address the run started with, and its number input raises
    on values such as ``seed=inf`` before any page code can intervene. So the fixed values go into the
    address (no widget has bound them yet) and the run starts again from it, before any widget or
    chart is drawn. Call it once per session, before the widgets; it does not return if anything changed.
    """
    if values and _write_link_values(values):
        st.rerun()


def apply_config(cfg: Config) -> None:
    """Set every control to `cfg` (used by presets and reset; runs as a callback)."""
    for name in FIELDS:
        st.session_state[name] = getattr(cfg, name)
    st.session_state[_NOTICES] = []


def apply_preset(key: str) -> None:
    apply_config(PRESETS_BY_KEY[key].config)
    st.session_state[keys.PRESET_LOADED] = key


def _cell_changed() -> None:
    """A gated cell fixes its nonlinearities: switching to one sets the activation to tanh, so the
    sidebar, the URL and the run agree."""
    if st.session_state.get("cell", "rnn") != "rnn":
        st.session_state["act"] = GATED_ACTIVATION


def _widget(container: Any, name: str, **extra: Any) -> Any:
    spec = FIELDS[name]
    default = getattr(Config(), name)
    common = dict(key=name, help=spec.help, **BIND, **extra)
    if name == "seed":
        return container.number_input(spec.label, int(spec.lo), int(spec.hi), value=default,
                                      step=1, **common)
    if spec.kind == "int":
        return container.slider(spec.label, int(spec.lo), int(spec.hi), value=default, step=1,
                                **common)
    if spec.kind == "float":
        return container.slider(spec.label, float(spec.lo), float(spec.hi), value=default,
                                step=0.1, format="%.1f", **common)
    if spec.kind == "rho":
        return container.select_slider(spec.label, options=spec.options, value=default,
                                       format_func=fmt, **common)
    if name == "cell":
        # no format_func: a bound selectbox writes the formatted label into the URL, and the URL
        # vocabulary is the option itself (cell=lstm)
        common.update(on_change=_cell_changed)
    return container.selectbox(spec.label, spec.options, index=spec.options.index(default),
                               **common)


def sidebar(gate_controls: Any = None, *, network: bool = True) -> Config:
    """Draw all controls in the sidebar and return the current config.

    `gate_controls`: a container in the main area where a page wants the two gate biases drawn
    (they stay bound to the URL like every other control); by default they are in the sidebar.
    A teacher link (ui/teacher.py) hides controls, the whole sidebar or pages: a hidden control is
    not drawn and keeps the value the link (or the page before) gave it.
    `network=False`: for a page with controls of its own (Train), the network's controls, presets and
    reset are not drawn (two "Cell" controls that disagree would confuse); their values are kept, in the
    address too, for the other pages. The page links, the share box and the class-link builder stay.
    """
    _check_url_once()
    seat = rooms.arrive()      # a classroom: a following student takes the teacher's values here
    link, link_notices = teacher_link()
    drawn = link if network else replace(link, hide=link.hide | frozenset(FIELDS) | {"presets", "reset"})
    _page_styles(link)
    sb = st.sidebar
    if link.hide_sidebar:
        values = {name: _hidden_value(name) for name in FIELDS}
        if gate_controls is not None:
            with gate_controls:
                c1, c2 = st.columns(2, gap="large")
                values["fb"] = _control(c1, "fb", link)
                values["zb"] = _control(c2, "zb", link)
        cfg, _ = _to_config(values)
        st.session_state[_LAST] = cfg.as_dict()
        _keep_hidden_in_address(cfg, link)
        _notice_box(st, (st.session_state.get(_NOTICES) or []) + link_notices)
        _room(seat, cfg)
        from ui.uploads import own_data  # uploaded weights / input replace the generated ones
        return own_data(cfg)
    links = sb.container()
    sb.divider()
    _notice_box(sb, (st.session_state.get(_NOTICES) or []) + link_notices)
    if not network:
        sb.caption("This page has its own controls. The network set in this sidebar on the other pages is kept "
                   "for them.")
    if not drawn.hidden("presets"):
        with sb.expander("Presets", expanded=False, icon=":material/tune:"):
            for p in PRESETS:
                st.button(p.title, key=f"preset_{p.key}", help=p.blurb, on_click=apply_preset,
                          args=(p.key,), width="stretch")
    values = {"cell": _control(sb, "cell", drawn)}
    gated = values["cell"] != "rnn"
    if not all(drawn.hidden(n) for n in ("T", "signal", "amp")):
        sb.markdown("**Sequence**")
    values.update(T=_control(sb, "T", drawn), signal=_control(sb, "signal", drawn), amp=_control(sb, "amp", drawn))
    if not all(drawn.hidden(n) for n in ("H", "init", "rho", "act")):
        sb.markdown("**Recurrent weights**")
    values.update(H=_control(sb, "H", drawn), init=_control(sb, "init", drawn), rho=_control(sb, "rho", drawn),
                  act=_control(sb, "act", drawn, disabled=gated))
    if gated and not drawn.hidden("act"):
        sb.caption(f"The {CELL_LABELS[values['cell']]} always uses tanh; its gates are sigmoids. "
                   "ρ is the spectral radius of each gate's recurrent block.")
    if gate_controls is not None:
        with gate_controls:
            c1, c2 = st.columns(2, gap="large")
            values["fb"] = _control(c1, "fb", drawn)
            values["zb"] = _control(c2, "zb", drawn)
    elif drawn.hidden("fb") and drawn.hidden("zb"):
        values.update(fb=_hidden_value("fb"), zb=_hidden_value("zb"))
    else:
        with sb.expander("Gate biases (LSTM, GRU)", expanded=gated):
            for name, own in (("fb", "lstm"), ("zb", "gru")):
                values[name] = _control(st, name, drawn, disabled=values["cell"] != own)
    rest = ("D", "O", "out", "loss", "seed")
    if all(drawn.hidden(n) for n in rest):
        values.update({n: _hidden_value(n) for n in rest})
    else:
        with sb.expander("Sizes, output and loss", expanded=False):
            values.update({n: _control(st, n, drawn) for n in rest})
    if not drawn.hidden("reset"):
        sb.button("Reset to defaults", on_click=apply_config, args=(Config(),),
                  icon=":material/restart_alt:", width="stretch")
    share = None if link.hidden("share") else sb.expander("Share this view", icon=":material/share:")
    cfg, _ = _to_config(values)
    st.session_state[_LAST] = cfg.as_dict()
    _keep_hidden_in_address(cfg, drawn)
    with links:
        _links(pages(), cfg.to_query())
    if share is not None:
        with share:
            _share_box(cfg, link)
    _room(seat, cfg)
    from ui.uploads import own_data  # uploaded weights / input replace the generated ones
    return own_data(cfg)


def _room(seat: rooms.Seat | None, cfg: Config) -> None:
    """The classroom at the top of the page: the teacher's view goes to the store, then the box or banner."""
    if seat is not None and seat.teacher:
        rooms.publish(seat, cfg)
    room_views.show(seat)


def _notice_box(container: Any, notices: list[str]) -> None:
    """The link's adjusted values. The notices quote what the link said: plain text (st.text), never
    Markdown, so a link cannot put headings, links or images on the page."""
    if not notices:
        return
    box = container.container(border=True)
    box.warning("Some link values were adjusted. What the link said, and what is used:",
                icon=":material/link:")
    for n in notices:
        box.text(n)


def _control(container: Any, name: str, link: TeacherLink, **extra: Any) -> Any:
    """The widget of config field `name`, or its value when the teacher link hides it."""
    if link.hidden(name):
        return _hidden_value(name)
    return _widget(container, name, **extra)


def _hidden_value(name: str) -> Any:
    """A hidden control's value: what a preset, a reset or the page before set, else the link's."""
    if name in st.session_state:
        return st.session_state[name]
    raw = st.query_params.get_all(name)
    return coerce(name, raw)[0] if raw else getattr(Config(), name)


def _keep_hidden_in_address(cfg: Config, link: TeacherLink) -> None:
    """No widget binds a hidden control to the address: write its value there (or remove a default)."""
    hidden = [name for name in FIELDS if link.hidden(name)]
    if hidden:
        query = cfg.to_query()
        _write_link_values({name: query.get(name) for name in hidden})


def teacher_link() -> tuple[TeacherLink, list[str]]:
    """This session's teacher link and the notices about it.

    Read from the address when it carries any of the parameters; Streamlit may drop them on a page
    switch (they are bound to no widget), so the link is also kept in the session and written back.
    """
    labels = [label for _, label, _ in pages()]
    asked = {name: st.query_params.get_all(name) for name in teacher.PARAMS if name in st.query_params}
    if not asked:
        kept = st.session_state.get(_TEACHER_QUERY)
        if isinstance(kept, dict) and kept:
            _write_link_values(dict(kept))
            asked = {name: [value] for name, value in kept.items()}
    link, notices = teacher.parse(asked, labels)
    st.session_state[_TEACHER_QUERY] = link.to_query()
    st.session_state[TEACHER_STATE] = link
    return link, notices


# Projector mode: larger text on the page (the charts are restyled by ui/charts.py).
_PROJECTOR_CSS = """<style>
[data-testid='stMain'] [data-testid='stMarkdownContainer'] p,
[data-testid='stMain'] [data-testid='stMarkdownContainer'] li,
[data-testid='stMain'] [data-testid='stMarkdownContainer'] td,
[data-testid='stMain'] [data-testid='stMarkdownContainer'] th { font-size: 1.45rem; line-height: 1.5; }
[data-testid='stMain'] [data-testid='stCaptionContainer'],
[data-testid='stMain'] [data-testid='stCaptionContainer'] p { font-size: 1.2rem; }
[data-testid='stMain'] h1 { font-size: 3.2rem; }
[data-testid='stMain'] h2, [data-testid='stMain'] h3 { font-size: 2.2rem; }
[data-testid='stMain'] .katex { font-size: 1.45em; }
[data-testid='stMain'] [data-testid='stWidgetLabel'] p { font-size: 1.25rem; }
[data-testid='stMain'] [data-testid='stMetricValue'] { font-size: 2.6rem; }
</style>"""
# `?hide=sidebar`: nothing is drawn there; this also hides the control that would open it.
_HIDE_SIDEBAR_CSS = """<style>
[data-testid='stSidebar'], [data-testid='stSidebarCollapsedControl'], [data-testid='stExpandSidebarButton'],
[data-testid='stSidebarCollapseButton'] { display: none !important; }
</style>"""
_SCRIPT_SLOT_CSS = """<style>
.stElementContainer:has(.unrolled-script) { display: none; }
@media (max-width: 1100px) {  /* a 960-pixel frame (embedded in slides): less padding, smaller headings */
  [data-testid='stMainBlockContainer'] { padding-left: 1.5rem; padding-right: 1.5rem; padding-top: 2.5rem; }
  [data-testid='stMain'] h1 { font-size: 2.1rem; }
}
</style>"""


def _page_styles(link: TeacherLink) -> None:
    """The teacher link's CSS and the toolbar's SVG button (ui/charts.py), once per page run."""
    css = _SCRIPT_SLOT_CSS + (_PROJECTOR_CSS if link.projector else "") + \
        (_HIDE_SIDEBAR_CSS if link.hide_sidebar else "")
    st.html(css)
    (st if link.hide_sidebar else st.sidebar).html(SVG_BUTTON_JS, unsafe_allow_javascript=True)


_EXTRA_LABELS = {"presets": "Presets", "share": "Share this view", "reset": "Reset to defaults"}


def _share_box(cfg: Config, link: TeacherLink) -> None:
    """The link to this view, and a builder for a class link (hidden controls, pages, projector)."""
    st.code(share_link(cfg), language=None, wrap_lines=True)
    st.caption("Every setting is also kept in the address bar. This link opens this page with "
               "exactly these settings.")
    st.markdown("**A link for a class**")
    labels = [label for _, label, _ in pages() if label != "Home"]
    common = {"persist_state": "session"}
    hide = st.multiselect("Hide these controls", teacher.HIDEABLE, default=sorted(link.hide, key=teacher.HIDEABLE.index),
                          format_func=lambda n: FIELDS[n].label if n in FIELDS else _EXTRA_LABELS[n],
                          key=keys.SHARE_HIDE, help="A hidden control keeps the value it has now.", **common)
    hide_sidebar = st.checkbox("Hide the whole sidebar", value=link.hide_sidebar, key=keys.SHARE_SIDEBAR, **common)
    only = st.multiselect("List only these pages", labels, default=list(link.pages or ()), key=keys.SHARE_PAGES,
                          help="Home is always listed. None chosen: every page.", **common)
    projector = st.checkbox("Projector mode (large text, thick lines)", value=link.projector,
                            key=keys.SHARE_PROJECTOR, **common)
    built = teacher.build(hide, hide_sidebar=hide_sidebar, pages=only, projector=projector,
                          page_labels=[label for _, label, _ in pages()])
    st.code(share_link(cfg, built), language=None, wrap_lines=True)
    st.caption("Add `&embed=true` to show the page without Streamlit's frame, e.g. inside slides.")


def _to_config(values: dict[str, Any]) -> tuple[Config, list[str]]:
    out: dict[str, Any] = {}
    notices = []
    for name, raw in values.items():
        value, notice = coerce(name, fmt(raw) if raw is not None else "")
        out[name] = value
        if notice:
            notices.append(notice)
    out, rule_notices = reconcile(out)
    return Config(**out), notices + rule_notices


def share_link(cfg: Config, link: TeacherLink | None = None) -> str:
    """Absolute URL of the current page carrying `cfg` and a teacher link (by default this
    session's) as query parameters."""
    try:
        base = (st.context.url or "").split("?")[0]
    except Exception:  # pragma: no cover - no browser context (tests)
        base = ""
    if link is None:
        link = st.session_state.get(TEACHER_STATE) or TeacherLink()
    query = urlencode({**cfg.to_query(), **link.to_query()}, safe=",")
    return f"{base}?{query}" if query else (base or "?")


def describe(cfg: Config) -> str:
    """One line summarising the network, for captions."""
    rest = f"input: {SIGNAL_LABELS[cfg.signal]} × {cfg.amp:g}, loss on {LOSS_LABELS[cfg.loss]}"
    if cfg.cell == "lstm":
        return (f"LSTM, T = {cfg.T}, H = {cfg.H}, {INIT_LABELS[cfg.init]} gate blocks of W_hh at "
                f"ρ = {cfg.rho:.2f}, forget-gate bias {cfg.fb:g}, " + rest)
    if cfg.cell == "gru":
        return (f"GRU, T = {cfg.T}, H = {cfg.H}, {INIT_LABELS[cfg.init]} gate blocks of W_hh at "
                f"ρ = {cfg.rho:.2f}, update-gate bias {cfg.zb:g}, " + rest)
    return (f"T = {cfg.T}, H = {cfg.H}, {cfg.act}, {INIT_LABELS[cfg.init]} W_hh at ρ = {cfg.rho:.2f}, "
            + rest)


def preset_flash() -> None:
    """Confirm a preset that was just loaded, pointing at the page that shows it best."""
    key = st.session_state.pop(keys.PRESET_LOADED, None)
    if key:
        p = PRESETS_BY_KEY[key]
        st.toast(f"Loaded preset **{p.title}**: {p.look}", icon=":material/check_circle:")


def page_shown(label: str) -> bool:
    """Whether the teacher link lists the page `label` (every page without one)."""
    link = st.session_state.get(TEACHER_STATE) or TeacherLink()
    return link.shows_page(label)


def link_query(cfg: Config) -> dict[str, str]:
    """Query parameters of a link to another page: the config and the teacher link."""
    link = st.session_state.get(TEACHER_STATE) or TeacherLink()
    return {**cfg.to_query(), **link.to_query()}


def page_links(descriptions: dict[str, str] | None = None) -> None:
    """Links to every page in the main area, each with an optional line of text."""
    descriptions = descriptions or {}
    link = st.session_state.get(TEACHER_STATE) or TeacherLink()
    for page in pages()[1:]:
        if link.shows_page(page[1]) and _links([page]) and page[1] in descriptions:
            st.caption(descriptions[page[1]])


def _links(items, query: dict[str, str] | None = None) -> bool:
    """st.page_link for each item, carrying the config and the teacher link in the URL.

    Pages unknown to this run (a page script run on its own) and pages the teacher link leaves out
    are skipped.
    """
    shown = False
    if query is None:
        last = st.session_state.get(_LAST)
        query = Config(**last).to_query() if isinstance(last, dict) else {}
    link = st.session_state.get(TEACHER_STATE) or TeacherLink()
    query = {**query, **link.to_query()}
    for path, label, icon in items:
        if not link.shows_page(label):
            continue
        try:
            st.page_link(path, label=label, icon=icon, query_params=query or None)
            shown = True
        except StreamlitAPIException:
            pass
    return shown
