"""The Lesson page through Streamlit's AppTest, and the engine behind every claim the lesson makes.

The page: each step renders its one figure, Back and Next move and write ``?step=N``, bad step values
are clamped with a notice, every "Try this" loads its config into the sidebar, every reveal shows the
answer. The engine: each step's answer, and each number its explanation quotes, is what the engine
gives for the settings that step loads.
"""
import json

import numpy as np
import pytest
from test_app_pages import current, open_page

import engine
from ui.config import FIELDS, Config, coerce
from ui.lesson import N_STEPS, STEPS, n_parameters, parse_step
from ui.runs import build, cell_config, compare_config

LESSON = "pages/0_Lesson.py"
BY_KEY = {s.key: s for s in STEPS}


def open_lesson(step=None, query: dict | None = None):
    q = dict(query or {})
    if step is not None:
        q["step"] = str(step)
    return open_page(LESSON, q)


def shown_step(at) -> int:
    """The step on screen: the number its heading starts with (and the progress bar agrees)."""
    heading = at.title[0].value
    n = int(heading.split(".", 1)[0])
    assert at.get("progress")[0].text == f"Lesson: step {n} of {N_STEPS}"
    assert at.get("progress")[0].value == int(100 * n / N_STEPS)
    return n


def assert_step(at, n: int) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert shown_step(at) == n
    assert at.title[0].value == f"{n}. {STEPS[n - 1].title}"
    assert at.query_params.get("step") in (str(n), [str(n)]), dict(at.query_params)
    charts = at.get("plotly_chart")
    assert len(charts) == 1, f"step {n}: {len(charts)} charts"
    spec = json.loads(charts[0].proto.spec)
    assert spec.get("layout", {}).get("title"), f"step {n}: a chart without a title"
    assert len(charts[0].proto.spec) > 100


def param(at, name: str):
    v = at.query_params.get(name)
    return v[-1] if isinstance(v, list) else v


# --------------------------------------------------------------------------- the page

def test_seven_steps_in_the_article_order():
    assert N_STEPS == 7
    assert [s.key for s in STEPS] == ["recurrence", "unrolling", "bptt", "vanishing", "arrangements",
                                      "gated", "uses"]
    assert "step" not in FIELDS and "step" not in Config().as_dict()   # lesson-only, never a config field
    for s in STEPS:
        q = s.question
        assert 0 <= q.answer < len(q.options) and len(set(q.options)) == len(q.options)
        assert q.why and s.look_for and s.try_title and s.text


@pytest.mark.parametrize("n", range(1, N_STEPS + 1))
def test_each_step_renders_its_figure_reveals_its_answer_and_loads_its_experiment(n):
    """One session per step, opened from a lecturer's link (?step=n)."""
    s = STEPS[n - 1]
    q = s.question
    at = open_lesson(n)
    assert_step(at, n)
    assert not any(i.value.startswith("step=") for i in at.info)      # no clamping notice
    assert current(at) == Config() != s.try_config
    assert not at.success
    # the answer stays hidden until asked for
    assert at.radio(key=f"lesson_q_{s.key}").value is None
    assert not any(m.value == q.why for m in at.markdown)

    wrong = next(i for i in range(len(q.options)) if i != q.answer)
    at.radio(key=f"lesson_q_{s.key}").set_value(wrong).run()
    at.button(key=f"lesson_reveal_{s.key}").click().run()
    assert_step(at, n)
    assert any(w.value == f"Not quite. The answer: **{q.options[q.answer]}**" for w in at.warning)
    assert any(m.value == q.why for m in at.markdown)
    at.radio(key=f"lesson_q_{s.key}").set_value(q.answer).run()
    assert any(m.value == f"Right: **{q.options[q.answer]}**" for m in at.success)
    assert any(m.value == q.why for m in at.markdown)

    at.button(key=f"lesson_try_{s.key}").click().run()
    assert_step(at, n)
    assert current(at) == s.try_config
    for name in s.try_config.to_query():                  # the address follows the sidebar
        assert coerce(name, param(at, name))[0] == getattr(s.try_config, name), (name, dict(at.query_params))
    loaded = [m.value for m in at.success if m.value.startswith("Loaded.")]
    assert loaded and s.look_for in loaded[0]


def test_back_and_next_move_and_write_the_step_into_the_address():
    at = open_lesson(1)
    assert_step(at, 1)
    assert at.button(key="lesson_back_top").disabled and at.button(key="lesson_back_bottom").disabled
    for n in range(2, N_STEPS + 1):
        at.button(key="lesson_next_top" if n % 2 else "lesson_next_bottom").click().run()
        assert_step(at, n)
    assert at.button(key="lesson_next_top").disabled and at.button(key="lesson_next_bottom").disabled
    at.button(key="lesson_back_bottom").click().run()
    assert_step(at, N_STEPS - 1)
    at.button(key="lesson_back_top").click().run()
    assert_step(at, N_STEPS - 2)


@pytest.mark.parametrize("raw,expected", [("0", 1), ("99", N_STEPS), ("abc", 1), ("2.5", 2), ("inf", 1)])
def test_bad_step_values_are_clamped_with_a_notice(raw, expected):
    at = open_lesson(raw)
    assert_step(at, expected)
    notices = [i.value for i in at.info if i.value.startswith("step=")]
    assert len(notices) == 1 and f"showing step {expected}" in notices[0], notices
    assert param(at, "step") == str(expected)          # the address now names the step on screen
    at.run()                                           # and the notice was about the link only
    assert not [i.value for i in at.info if i.value.startswith("step=")]
    assert_step(at, expected)


def test_parse_step_never_raises():
    assert parse_step(None) == (None, None)
    assert parse_step([]) == (None, None)
    assert parse_step(["2", "5"]) == (5, None)
    for raw in ("3", " 3 ", "3.0"):
        assert parse_step(raw) == (3, None)
    for raw, expected in (("-2", 1), ("nan", 1), ("", 1), ("1e99", N_STEPS), ("-inf", 1), ("0x10", 1),
                          ("<b>x</b>", 1), ("[x](javascript:1)", 1), ("1" * 500, 1), ("¾", 1)):
        step, notice = parse_step(raw)
        assert step == expected and notice and len(notice) < 120, (raw, step, notice)


def test_the_step_survives_sidebar_changes_and_presets():
    at = open_lesson(4)
    at.slider(key="T").set_value(50).run()
    assert_step(at, 4)
    assert param(at, "T") == "50"
    at.button(key="preset_saturation").click().run()
    assert_step(at, 4)
    assert float(param(at, "amp")) == 5.0
    next(b for b in at.sidebar.button if b.label == "Reset to defaults").click().run()
    assert_step(at, 4)
    assert current(at) == Config()


def test_without_a_step_the_lesson_resumes_where_this_session_left_it():
    at = open_lesson()
    assert_step(at, 1)
    at.button(key="lesson_next_top").click().run()
    at.button(key="lesson_next_top").click().run()
    assert_step(at, 3)
    at.switch_page("pages/3_Gradients.py").run()
    assert not at.exception
    del at.query_params["step"]         # a page switch drops it in a browser
    at.switch_page(LESSON).run()
    assert_step(at, 3)


def test_reveal_without_a_prediction_still_answers():
    at = open_lesson(6)
    at.button(key="lesson_reveal_gated").click().run()
    q = BY_KEY["gated"].question
    assert any(i.value == f"The answer: **{q.options[q.answer]}**" for i in at.info)


def test_arrangement_step_follows_the_loss_and_draws_the_other_three():
    at = open_lesson(5)

    def title(at) -> str:
        return json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["title"]["text"]

    assert title(at).startswith("many-to-one")
    at.button(key="lesson_try_arrangements").click().run()
    assert title(at).startswith("many-to-many")
    for pick, start in (("one-to-many", "one-to-many"), ("encoder-decoder", "encoder")):
        at.segmented_control(key="lesson_arrangement").set_value(pick).run()
        assert not at.exception and title(at).startswith(start)


@pytest.mark.parametrize("query", [{"cell": "lstm"}, {"cell": "gru", "T": "20"},
                                   {"T": "abc", "H": "99999", "rho": "-5", "act": "softplus"}])
def test_every_step_with_other_networks(query):
    """Gated cells and a garbage link: every step still draws, one session walking through all seven."""
    at = open_lesson(1, query)
    for n in range(1, N_STEPS + 1):
        assert_step(at, n)
        if n < N_STEPS:
            at.button(key="lesson_next_top").click().run()


@pytest.mark.slow
def test_every_step_at_the_worst_settings():
    at = open_lesson(1, {"T": "1000", "H": "256", "rho": "3", "act": "linear"})
    for n in range(1, N_STEPS + 1):
        assert_step(at, n)
        if n < N_STEPS:
            at.button(key="lesson_next_top").click().run()


def test_home_links_to_the_lesson():
    at = open_page("app.py")
    links = [p for p in at.get("page_link") if "guided lesson" in p.proto.label]
    assert links and links[0].proto.page == "Lesson"
    assert "Lesson" in [p.proto.label for p in at.sidebar.get("page_link")]


# --------------------------------------------------------------------------- the engine behind each answer

def trace(cfg: Config, **kw):
    params, x, target = build(cfg)
    return engine.bptt(params, x, target, loss=cfg.loss, **kw)


def log_ratio(g) -> float:
    """log10(‖∂L/∂h_1‖ / ‖∂L/∂h_T‖)."""
    return float(np.log10(g[0]) - np.log10(g[-1]))


def power(k: float) -> str:
    """How the explanations write 10^k: $10^{+6.5}$, $10^{-22.8}$."""
    return f"10^{{{k:+.1f}}}"


def why(key: str) -> str:
    return BY_KEY[key].question.why


def answer(key: str) -> str:
    q = BY_KEY[key].question
    return q.options[q.answer]


def test_engine_recurrence_a_pulse_fades_gradually():
    cfg = BY_KEY["recurrence"].try_config
    assert (cfg.signal, cfg.T, cfg.rho, cfg.act) == ("pulse", 40, 0.9, "tanh")
    h = np.linalg.norm(trace(cfg).h, axis=1)
    assert np.all(np.diff(h) < 0) and h[-1] > 0                        # fades, never reaches zero
    assert h[9] / h[0] == pytest.approx(0.10, abs=0.01)                # "about 10 %"
    assert h[39] / h[0] == pytest.approx(0.004, abs=0.0006)            # "still about 0.4 %"
    assert "gradually" in answer("recurrence")
    no_loop = np.linalg.norm(trace(Config(T=40, signal="pulse", rho=0.0)).h, axis=1)
    assert no_loop[0] > 0 and np.all(no_loop[1:] == 0)                  # ρ = 0: zero from t = 2
    irnn = trace(Config(T=40, signal="pulse", init="identity", rho=1.0, act="relu")).h
    assert np.linalg.norm(irnn[0]) > 0 and np.array_equal(irnn[-1], irnn[0])   # identity + ReLU: kept


def test_engine_unrolling_parameters_do_not_grow_with_T():
    cfg = BY_KEY["unrolling"].try_config
    assert (cfg.T, cfg.H, cfg.D, cfg.O) == (8, 8, 1, 1)
    sizes = {k: v.size for k, v in build(cfg)[0].arrays().items()}
    assert sizes == {"W_hx": 8, "W_hh": 64, "b_h": 8, "W_hy": 8, "b_y": 1}
    long = Config(T=80, H=8)
    assert {k: v.size for k, v in build(long)[0].arrays().items()} == sizes
    assert n_parameters(cfg) == n_parameters(long) == n_parameters(Config(T=800, H=8)) == 89
    assert "89 in all" in why("unrolling") and "Exactly as many" in answer("unrolling")
    for cell in ("lstm", "gru"):   # the readout counts every gate block too
        c = Config(cell=cell, T=8, H=8)
        assert n_parameters(c) == sum(a.size for a in build(replace_T(c, 500))[0].arrays().values())


def replace_T(cfg: Config, T: int) -> Config:
    from dataclasses import replace
    return replace(cfg, T=T)


def test_engine_bptt_the_last_step_dominates_dW_hh():
    cfg = BY_KEY["bptt"].try_config
    assert (cfg.T, cfg.loss) == (30, "last")
    d = trace(cfg).dW_hh_step_norm
    assert int(np.argmax(d)) == cfg.T - 1                              # the last step, next to the loss
    assert d[0] == 0                                                   # step 1 multiplies h_0 = 0
    k = float(np.log10(d[1] / d.max()))
    assert power(k) in why("bptt") and k < -6                          # step 2: about 10^-6.9 of it
    assert np.mean(np.diff(d[1:]) > 0) >= 0.9                          # almost every bar below the next
    assert "last step" in answer("bptt")


def test_engine_vanishing_and_exploding():
    cfg = BY_KEY["vanishing"].try_config
    assert (cfg.rho, cfg.act, cfg.T) == (1.2, "linear", 100)
    tr = trace(cfg)
    assert tr.overflow_step is None
    g = tr.grad_h_norm
    k = log_ratio(g)
    assert k > 6 and power(k) in why("vanishing")                      # more than a million times larger
    assert "million times larger" in answer("vanishing")
    assert np.mean(np.diff(g) < 0) >= 0.85                              # climbs from right to left
    assert f"{99 * np.log10(1.2):.1f}" == "7.8" and "1.2^{99} \\approx 10^{7.8}" in why("vanishing")
    default = log_ratio(trace(Config()).grad_h_norm)
    assert default < -10 and power(default) in why("vanishing")         # the defaults: 10^-22.8
    spec = np.abs(np.linalg.eigvals(build(cfg)[0].W_hh))
    assert spec.max() == pytest.approx(1.2)


def test_engine_arrangements_a_loss_at_every_step():
    cfg = BY_KEY["arrangements"].try_config
    assert (cfg.loss, cfg.T) == ("all", 100)
    every, last = trace(cfg), trace(Config())
    k = log_ratio(every.grad_h_norm)
    assert abs(k) < 1 and power(k) in why("arrangements")               # about the same size
    assert "same size" in answer("arrangements")
    assert log_ratio(last.grad_h_norm) == pytest.approx(-22.8, abs=0.5)  # "about 10^-23" with one loss
    # the long-range part travels through the same 99 Jacobians as before
    j_every, j_last = engine.jacobian_norms(every, [0])[0], engine.jacobian_norms(last, [0])[0]
    assert j_every == pytest.approx(j_last, rel=1e-12)
    assert power(float(np.log10(j_every))).replace("+", "") in why("arrangements").replace("+", "")


def test_engine_gated_cells_keep_the_gradient():
    cfg = BY_KEY["gated"].try_config
    assert (cfg.cell, cfg.fb, cfg.zb, cfg.T, cfg.rho) == ("lstm", 5.0, 6.0, 100, 0.9)
    key = compare_config(cfg)
    ratios = {c: log_ratio(trace(cell_config(key, c)).grad_h_norm) for c in ("rnn", "lstm", "gru")}
    assert ratios["rnn"] < -20 and abs(ratios["lstm"]) < 1 and abs(ratios["gru"]) < 1
    for c in ("rnn", "lstm", "gru"):
        assert power(ratios[c]) in why("gated"), (c, ratios)
    assert "within a factor of 10" in answer("gated")
    f = trace(cell_config(key, "lstm")).gates["f"]
    assert float(np.mean(f)) == pytest.approx(0.99, abs=0.01)          # f_t ≈ 0.99
    leaky = log_ratio(trace(cell_config(Config(cell="lstm", fb=0.0), "lstm")).grad_h_norm)
    assert leaky < -10 and power(leaky) in why("gated")


def test_engine_uses_the_state_forgets_its_start_and_follows_the_input():
    cfg = BY_KEY["uses"].try_config
    assert (cfg.signal, cfg.T) == ("sine", 120)
    params, x, target = build(cfg)
    h0 = np.random.default_rng(1).uniform(-1, 1, cfg.H)
    a = engine.bptt(params, x, target).h
    b = engine.bptt(params, x, target, h0=h0).h
    assert np.linalg.norm(a[0] - b[0]) == pytest.approx(2, abs=0.5)     # "about 2 after the first step"
    assert np.linalg.norm(a[-1] - b[-1]) < 1e-15                        # "less than 10^-15 after the last"
    assert "practically identical" in answer("uses")
    # period 20 from step 60 on, to within 10^-5
    assert np.max(np.linalg.norm(a[59:] - a[39:-20], axis=1)) < 1e-5
