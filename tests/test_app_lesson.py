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
import ui.lesson_steps as ls
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

def test_the_article_in_seven_steps_then_four_on_training_in_practice():
    assert N_STEPS == 11
    # the first seven keep their numbers: lecturers' links (?step=N) are in circulation
    assert [s.key for s in STEPS] == ["recurrence", "unrolling", "bptt", "vanishing", "arrangements",
                                      "gated", "uses", "teacher", "lengths", "cliff", "truncation"]
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
    assert s.try_config is not None or s.try_widgets                  # "Try this" always changes something
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

    before = at.get("plotly_chart")[0].proto.spec
    at.button(key=f"lesson_try_{s.key}").click().run()
    assert_step(at, n)
    want = Config() if s.try_config is None else s.try_config       # None: the sidebar stays as it was
    assert current(at) == want
    for name in want.to_query():                          # the address follows the sidebar
        assert coerce(name, param(at, name))[0] == getattr(want, name), (name, dict(at.query_params))
    for key, value in s.try_widgets:                      # the step's own controls show the experiment
        assert at.session_state[key] == value, key
    loaded = [m.value for m in at.success if m.value.startswith("Loaded.")]
    assert loaded and s.look_for in loaded[0]
    if s.key not in ("unrolling", "arrangements"):        # the figure changed with the experiment
        assert at.get("plotly_chart")[0].proto.spec != before


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
    """Gated cells and a garbage link: every step still draws, one session walking through all of them."""
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


# --------------------------------------------------------------------------- steps 8-11: widgets and numbers

def chart_spec(at) -> dict:
    return json.loads(at.get("plotly_chart")[0].proto.spec)


def test_teacher_step_counts_symbols_or_whole_sequences():
    at = open_lesson(8)
    assert_step(at, 8)
    assert [t["name"].split(":")[0] for t in chart_spec(at)["data"]] == ["teacher-forced", "free-running (greedy)"]
    at.segmented_control(key="lesson_tf_view").set_value("sequences").run()
    assert_step(at, 8)
    assert chart_spec(at)["data"][0]["type"] == "bar"


def test_lengths_step_switches_task_and_reads_the_padding_out():
    at = open_lesson(9)
    assert_step(at, 9)
    assert chart_spec(at)["layout"]["title"]["text"].startswith("Japanese Vowels")
    assert any("to the last bit" in i.value for i in at.info)
    at.segmented_control(key="lesson_len_task").set_value("longrange").run()
    assert_step(at, 9)
    assert chart_spec(at)["layout"]["title"]["text"].startswith("long-range label")
    assert any("to the last bit" in i.value for i in at.info)


def test_cliff_step_widgets_redraw_the_paths():
    at = open_lesson(10)
    assert_step(at, 10)
    first = at.get("plotly_chart")[0].proto.spec
    readout = next(i.value for i in at.info if i.value.startswith("Plain:"))
    assert f"longest step is {ls.CLIFF_WALL_JUMP}" in readout
    for key, value in (("lesson_cliff_lr", 0.02), ("lesson_cliff_clip", 5.0), ("lesson_cliff_w0", 6.0),
                       ("lesson_cliff_b0", 0.0)):
        w = at.slider(key=key) if key.endswith(("w0", "b0")) else at.select_slider(key=key)
        w.set_value(value).run()
        assert_step(at, 10)
        now = at.get("plotly_chart")[0].proto.spec
        assert now != first, key
        first = now
    assert any("lr·θ = 0.1" in i.value for i in at.info)


def test_truncation_step_k2_moves_the_cut():
    at = open_lesson(11)
    assert_step(at, 11)
    assert any("steps 1–30 get exactly 0" in i.value for i in at.info)
    at.select_slider(key="lesson_trunc_k2").set_value(50).run()
    assert_step(at, 11)
    assert any("every step gets a gradient" in i.value for i in at.info)


def test_engine_teacher_whole_sequences_are_the_same_either_way():
    """Greedy decoding: a sequence right under teacher forcing is fed the truth when it runs free too."""
    assert "fewer right" in answer("teacher")
    tf, fr = np.array(ls.TEACHER_FORCED), np.array(ls.FREE_RUNNING)
    assert tf[0] == fr[0] and np.all(fr[1:] < tf[1:])
    for v in (f"{fr.mean():.2f}", f"{fr[8]:.2f}", f"{tf[9]:.2f}"):
        assert v in why("teacher")


@pytest.mark.slow
def test_engine_teacher_forcing_measured_again():
    """The constants the teacher step draws: 600 LSTM updates on reversal (the command line's defaults)."""
    from engine.models import EncoderDecoder, make_seq2seq_dataset
    from engine.tasks import make_task
    from engine.train import _initial_state, _parser
    from engine.trainer import Trainer

    task = make_task("reverse", seed=0)
    train = make_seq2seq_dataset(task.x_train, task.y_train, task.len_train, n_out=task.n_out)
    test = make_seq2seq_dataset(task.x_test, task.y_test, task.len_test, n_out=task.n_out)
    args = _parser().parse_args(["--task", "reverse", "--cell", "lstm"])
    model = EncoderDecoder(_initial_state(args, train.x.shape[2], train.n_out, encoder_decoder=True), cell="lstm")
    trainer = Trainer(model, train, seed=0)
    for _ in range(ls.REVERSAL_UPDATES):
        trainer.step()
    tf = trainer.evaluate(test).y.argmax(-1) == test.y
    fr = model.free_running(test.x, test.lengths, test.y.shape[1]).argmax(-1) == test.y
    assert len(test.y) == 500
    assert np.round(tf.mean(0), 3).tolist() == list(ls.TEACHER_FORCED)
    assert np.round(fr.mean(0), 3).tolist() == list(ls.FREE_RUNNING)
    assert tf.all(1).mean() == fr.all(1).mean() == ls.WHOLE_SEQUENCES
    assert np.array_equal(tf.all(1), fr.all(1))


def test_engine_temperature_near_zero_is_greedy():
    from engine.models import SequenceModel, generate

    sd = engine.params_to_state_dict(engine.init_params(5, 8, 5, output="softmax", seed=3))
    m = SequenceModel(sd, cell="rnn", output="softmax", loss="all")
    prime = np.eye(5)[[0, 1]]
    assert np.array_equal(generate(m, prime, 30, temperature=1e-3, seed=1), generate(m, prime, 30, temperature=None))


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_engine_padding_passes_the_gradient_untouched(cell):
    """A padded step copies the state and the gradient; the weights' gradients are those without padding."""
    from engine.batch import batch_gradients
    from engine.tasks import make_task

    cfg = Config(cell=cell)
    task = make_task("vowels", seed=0)
    assert task.x_train.shape[1] == ls.LENGTHS_T and task.len_train.min() == ls.LENGTHS_SHORTEST
    assert (task.len_train.min(), max(task.len_train.max(), task.len_test.max())) == (7, 29)   # "7 to 29 frames"
    sd = ls._net_state(cfg, task.n_in, task.n_out)
    kw = dict(cell=cell, output="softmax", loss="last")
    for i in ls.shown_sequences(task):
        n = int(task.len_train[i])
        x, y = task.x_train[i:i + 1], task.y_train[i:i + 1]
        padded = batch_gradients(sd, x, y, np.array([n]), **kw)
        own = batch_gradients(sd, x[:, :n], y, np.array([n]), **kw)
        g = padded.grad_h_norm
        assert np.all(g[n - 1:] == g[n - 1])                               # flat over the padding, exactly
        assert np.array_equal(g[:n], own.grad_h_norm)
        assert padded.seq_loss[0] == own.seq_loss[0]                       # the loss at its own last step
        assert np.array_equal(padded.h_last, own.h_last)                   # the state at its own last step
        for k, v in own.grads.items():
            np.testing.assert_allclose(padded.grads[k], v, rtol=1e-12, atol=1e-300)
    run = ls.run_padded("vowels", ls.params_config(cfg))
    assert run.lengths[0] == ls.LENGTHS_SHORTEST


def test_engine_without_the_mask_the_state_keeps_moving_on_the_zeros():
    from engine.batch import batch_gradients
    from engine.tasks import make_task

    task = make_task("vowels", seed=0)
    sd = ls._net_state(Config(), task.n_in, task.n_out)
    i = ls.shown_sequences(task)[0]
    x, y, n = task.x_train[i:i + 1], task.y_train[i:i + 1], int(task.len_train[i])
    masked = batch_gradients(sd, x, y, np.array([n]), output="softmax", loss="last")
    unmasked = batch_gradients(sd, x, y, None, output="softmax", loss="last")      # zeros read as input
    assert np.linalg.norm(unmasked.h_last - masked.h_last) > 0.1 and unmasked.seq_loss[0] != masked.seq_loss[0]
    assert "Without the mask" in BY_KEY["lengths"].text


def test_engine_a_loss_at_every_step_ignores_the_padded_targets():
    from engine.batch import batch_gradients

    sd = engine.params_to_state_dict(engine.init_params(2, 4, 3, output="softmax", seed=0))
    x = np.random.default_rng(0).normal(size=(2, 6, 2))
    y = np.zeros((2, 6), dtype=np.int64)
    y2 = y.copy()
    y2[0, 3:] = 2                                                          # targets in the padding of row 0
    n = np.array([3, 6])
    a = batch_gradients(sd, x, y, n, output="softmax", loss="all")
    b = batch_gradients(sd, x, y2, n, output="softmax", loss="all")
    assert a.loss == b.loss and all(np.array_equal(a.grads[k], b.grads[k]) for k in a.grads)


def test_engine_lengths_longer_sequences_bring_the_label_less():
    """The look-for of the lengths step on the long-range task, at the defaults."""
    run = ls.run_padded("longrange", ls.params_config(Config()))
    assert list(run.lengths) == sorted(run.lengths) and run.lengths[0] >= 25 and run.lengths[-1] <= 50
    reach = [g[0] / g[n - 1] for n, g in zip(run.lengths, run.grad_h_norm)]
    assert all(a > b for a, b in zip(reach, reach[1:]))
    assert all(np.all(g[n - 1:] == g[n - 1]) for n, g in zip(run.lengths, run.grad_h_norm))


def test_engine_cliff_numbers():
    from engine import cliff

    d = ls.CLIFF_DEFAULTS
    plain, clipped = ls.cliff_paths(d["lr"], d["clip"], d["w0"], d["b0"])
    k = int(np.argmax(plain.step_lengths))
    assert k + 1 == ls.CLIFF_WALL_UPDATE and not clipped.clipped[:k].any() and clipped.clipped[k]
    assert np.array_equal(plain.points[:k + 1], clipped.points[:k + 1])
    assert f"{plain.grad_norm[k]:,.0f}" == ls.CLIFF_WALL_NORM
    assert f"{plain.step_lengths[k]:.1f}" == ls.CLIFF_WALL_JUMP
    landing = "(" + ", ".join(f"{v:.1f}".replace("-", "−") for v in plain.points[k + 1]) + ")"
    assert landing == ls.CLIFF_WALL_LANDING
    assert f"{plain.loss[0]:.1f}" == ls.CLIFF_START_LOSS
    assert f"{plain.loss[-1]:.3g}" == ls.CLIFF_PLAIN_LOSS and f"{clipped.loss[-1]:.2g}" == ls.CLIFF_CLIPPED_LOSS
    assert clipped.step_lengths.max() <= d["lr"] * d["clip"] * (1 + 1e-9)
    for v in (ls.CLIFF_WALL_NORM, ls.CLIFF_WALL_JUMP, ls.CLIFF_WALL_LANDING, ls.CLIFF_PLAIN_LOSS, ls.CLIFF_CLIPPED_LOSS):
        assert v in why("cliff")
    assert "At most lr·θ = 0.2" in answer("cliff")
    # the vanishing start of the experiment: the two paths are one
    tw = dict(BY_KEY["cliff"].try_widgets)
    start = (tw["lesson_cliff_w0"], tw["lesson_cliff_b0"])
    sg = cliff.state_gradients(*start)
    assert power(float(np.log10(abs(sg.delta[0] / sg.delta[-1])))).replace("+", "") == ls.CLIFF_VANISHED
    p, q = ls.cliff_paths(tw["lesson_cliff_lr"], tw["lesson_cliff_clip"], *start)
    assert not q.clipped.any() and np.array_equal(p.points, q.points)
    # "for w > 4 and b in a band, two stable states": w = 8, b = -4.2 has two attracting fixed points
    h = np.linspace(-10, 10, 200_001)
    s = 1 / (1 + np.exp(-h))
    roots = h[np.flatnonzero(np.diff(np.sign(8 * s - 4.2 - h)))]
    slopes = 8 * (1 / (1 + np.exp(-roots))) * (1 - 1 / (1 + np.exp(-roots)))
    assert len(roots) == 3 and np.sum(slopes < 1) == 2


def test_engine_truncation_cuts_exactly_and_keeps_the_window():
    from engine.batch import batch_gradients
    from engine.tasks import make_task

    for cfg, quoted in ((Config(), ls.TRUNC_FULL_RNN), (BY_KEY["truncation"].try_config, ls.TRUNC_FULL_LSTM)):
        run = ls.run_truncated(ls.params_config(cfg), 20)
        T = ls.TRUNC_T
        assert np.all(run.cut[:T - 20] == 0) and np.all(run.cut[T - 20:] > 0)
        np.testing.assert_allclose(run.cut[T - 20:], run.full[T - 20:], rtol=1e-12)
        assert f"${power(float(np.log10(run.full[0] / run.full[-1])))}$" == quoted
        assert quoted in why("truncation")
    for k2 in ls.TRUNC_K2:                                      # "with k2 < 50 it brings nothing"
        cut = ls.run_truncated(ls.params_config(Config()), k2).cut
        assert (cut[0] == 0) == (k2 < ls.TRUNC_T) and np.all(cut[ls.TRUNC_T - k2:] > 0)
    assert "$k_2 < 50$" in BY_KEY["truncation"].text
    lstm = ls.run_truncated(ls.params_config(BY_KEY["truncation"].try_config), 20)
    assert lstm.full[0] / lstm.full[-1] > 0.3                   # "nearly as much gradient as the last step"
    task = make_task("longrange", seq_len=ls.TRUNC_T, min_len=ls.TRUNC_T, seed=0)
    assert np.all(task.len_test == ls.TRUNC_T) and task.info["label_step"] == 0
    assert "Exactly none" in answer("truncation")
    # k2 >= T reaches step 1: the cut is the only thing that stops it
    sd = ls._net_state(Config(), task.n_in, task.n_out)
    a = batch_gradients(sd, task.x_test[:4], task.y_test[:4], task.len_test[:4], output="softmax", loss="last")
    b = batch_gradients(sd, task.x_test[:4], task.y_test[:4], task.len_test[:4], output="softmax", loss="last",
                        truncate=(ls.TRUNC_T, ls.TRUNC_T))
    assert np.array_equal(a.grad_h_norm, b.grad_h_norm)


@pytest.mark.slow
def test_engine_truncation_measured_training():
    """The why of the truncation step: full BPTT learns the long-range label, k1 = k2 = 10 stays at a guess."""
    from engine.models import SequenceModel, make_dataset
    from engine.tasks import make_task
    from engine.trainer import Trainer

    task = make_task("longrange", seq_len=ls.TRUNC_T, min_len=ls.TRUNC_T, seed=0)
    train = make_dataset(task.x_train, task.y_train, task.len_train, output="softmax", loss="last", n_out=task.n_out)
    test = make_dataset(task.x_test, task.y_test, task.len_test, output="softmax", loss="last", n_out=task.n_out)
    acc = {}
    for trunc in (None, (10, 10)):
        sd = engine.params_to_state_dict(engine.init_params(task.n_in, 32, task.n_out, cell="lstm", output="softmax",
                                                            seed=0))
        model = SequenceModel(sd, cell="lstm", output="softmax", loss="last")
        trainer = Trainer(model, train, truncate=trunc, seed=0, clip_norm=1.0)
        for _ in range(ls.TRUNC_UPDATES):
            trainer.step()
        acc[trunc] = float(np.mean(trainer.evaluate(test).y[:, -1].argmax(-1) == test.y))
    assert f"{acc[None]:.2f}" == ls.TRUNC_ACC_FULL and f"{acc[(10, 10)]:.2f}" == ls.TRUNC_ACC_CUT


def test_the_new_steps_figures_are_valid_plotly_specs():
    from specs import validated

    cfg = Config()
    for view in ls.TF_VIEWS:
        assert validated(ls._teacher_fig.__wrapped__(view)).layout.title.text
    for task in ls.LENGTH_TASKS:
        fig = validated(ls._lengths_fig(ls.run_padded(task, ls.params_config(cfg))))
        assert fig.layout.yaxis2.type == "log"
    fig = validated(ls._cliff_fig.__wrapped__(0.01, 20.0, 8.0, -2.0))
    assert fig.data[0].type == "contour" and {t.name for t in fig.data[1:]} >= {"plain gradient descent"}
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text
    for k2 in (20, 50):
        fig = validated(ls._trunc_fig(ls.run_truncated(ls.params_config(cfg), k2)))
        assert fig.layout.yaxis.type == "log"
