"""AppTest of the Train page with the one-to-many task (waves) and the encoder-decoder whose output length
differs from its input (addition): the link picks them, the diagram draws their arrangement, a short run
completes with both metrics, each view shows what the engine computes, and the race runs them.

Small sizes (T <= 12, H <= 8, budgets of tens of updates) so a test takes seconds."""
from __future__ import annotations

import numpy as np
import pytest
from test_app_train import button, chart, charts, ok, page, reset, status, the_lab, wait_until_ended

from engine.tasks import TASKS, addition_question, decode_symbols, exact_match, task_metric
from ui import training as tr

WAVES = {"tr_task": "waves", "tr_T": "12", "tr_H": "8", "tr_batch": "16", "tr_steps": "10", "tr_cell": "gru"}
ADDITION = {"tr_task": "add_digits", "tr_T": "2", "tr_H": "8", "tr_batch": "16", "tr_steps": "10", "tr_cell": "gru"}


@pytest.fixture(autouse=True)
def _stop_runs(stop_runs):
    """Every run a test here starts is stopped and joined after it (conftest.stop_runs)."""
    return stop_runs


def _eval(job, cell):
    """The held-out sequences the page scored, and the lane that scored them."""
    t = tr.load_task(job.settings.task, job.settings.T, job.settings.seed)
    return t, np.arange(min(tr.N_EVAL, t.x_test.shape[0])), job.lanes[cell]


@pytest.mark.parametrize("name", ["waves", "add_digits"])
def test_the_link_picks_the_new_tasks(name):
    at = page(tr_task=name)
    ok(at)
    assert at.selectbox(key="tr_task").value == name
    assert name in at.selectbox(key="tr_task").options
    assert not any("not possible here" in w.value for w in at.warning)
    assert any(m.value.startswith(f"**{TASKS[name].title}**") for m in at.markdown)


def test_a_misspelt_task_falls_back_with_a_notice():
    at = page(tr_task="wave")
    ok(at)
    assert at.selectbox(key="tr_task").value == "adding"
    assert any("task = “wave”" in w.value for w in at.warning)


def test_addition_clamps_the_number_of_digits_and_says_so():
    at = page(tr_task="add_digits", tr_T="50")
    ok(at)
    assert any("needs T in [1, 9]: T = 50 became T = 9" in i.value for i in at.info)
    assert chart(at, "encoder–decoder: up to 19 steps in, 11 out")


def test_waves_runs_and_shows_target_teacher_forced_and_free_running():
    at = page(**WAVES)
    ok(at)
    arr = chart(at, "one-to-many")
    texts = [a.get("text") for a in arr["layout"]["annotations"]]
    assert "x: condition" in texts and "y<sub>1</sub>" in texts and "y<sub>T−1</sub>" in texts
    assert any("Teacher forcing." in c.value and "its own previous output" in c.value for c in at.caption)
    button(at, "Start").click().run()
    job = the_lab(at).run
    wait_until_ended(at)
    assert job.state == "done" and status(at) == "Run: 10 of 10 updates · done"
    metric = chart(at, "MSE on held-out sequences")
    names = [d["name"] for d in metric["data"]]
    assert names[:2] == ["MSE, teacher-forced", "MSE, free-running (own outputs fed back)"]
    t, idx, lane = _eval(job, "gru")
    free_y = lane.model.free_running(t.x_test[idx], t.len_test[idx], t.info["feedback"])
    free = task_metric(t, free_y, t.y_test[idx], t.len_test[idx])
    assert lane.eval_free_metric[-1] == pytest.approx(free, rel=1e-12)
    assert metric["data"][1]["y"][-1] == pytest.approx(free, rel=1e-6)
    teacher = lane.model.evaluate(t.x_test[idx], t.y_test[idx], t.len_test[idx]).y
    assert metric["data"][0]["y"][-1] == pytest.approx(task_metric(t, teacher, t.y_test[idx], t.len_test[idx]),
                                                       rel=1e-6)
    view = chart(at, "Sine waves: target, teacher-forced and free-running (update 10)")
    assert len(view["data"]) == 9                  # three held-out sequences, three lines each
    for i in range(3):
        target, tf, fr = view["data"][3 * i:3 * i + 3]
        assert (target["name"], fr["name"]) == ("target", "free-running (reads its own previous output)")
        np.testing.assert_allclose(target["y"], t.y_test[i, :, 0], atol=1e-6)
        np.testing.assert_allclose(tf["y"], teacher[i, :, 0], atol=1e-6)
        np.testing.assert_allclose(fr["y"], free_y[i, :, 0], atol=1e-6)
    periods = [a["text"] for a in view["layout"]["annotations"] if a["text"].startswith("period")]
    omega, phase = t.info["condition_test"][0]
    assert periods[0] == f"period {2 * np.pi / omega:.1f} steps, φ = {phase:.2f} rad"
    reset(at)


def test_addition_runs_and_shows_questions_targets_and_free_running_answers():
    at = page(**ADDITION)
    ok(at)
    assert chart(at, "encoder–decoder: up to 5 steps in, 4 out")
    assert any("Teacher forcing." in c.value for c in at.caption)
    button(at, "Start").click().run()
    job = the_lab(at).run
    wait_until_ended(at)
    assert job.state == "done"
    metric = chart(at, "accuracy on held-out sequences")
    assert [d["name"] for d in metric["data"]][:2] == ["accuracy, teacher-forced",
                                                        "accuracy, free-running (own outputs fed back)"]
    t, idx, lane = _eval(job, "gru")
    free_y = lane.model.free_running(t.x_test[idx], t.len_test[idx], t.info["decoder_len"])
    teacher = lane.model.evaluate(t.x_test[idx], t.y_test[idx], t.len_test[idx]).y
    assert lane.eval_free_metric[-1] == pytest.approx(task_metric(t, free_y, t.y_test[idx], t.len_test[idx]))
    grid = chart(at, "Addition: the sum and the decoder's own answer (update 10)")
    rows = grid["data"][0]["y"][::-1]
    z = grid["data"][0]["z"][::-1]           # green where the answer's symbol is right, red where wrong
    for i in range(4):
        assert z[2 * i] == [0.5] * 4 and z[2 * i + 1] == (free_y[i].argmax(-1) == t.y_test[i]).astype(float).tolist()
    questions = [addition_question(t.x_test[i], t.len_test[i]) for i in range(4)]
    assert rows[:2] == [f"{questions[0]} target", f"{questions[0]} free-running"]
    free_right, tf_right = (int(exact_match(y, t.y_test[idx]).sum()) for y in (free_y, teacher))
    assert any(m.value.startswith("**Whole answers right**") and f"**{free_right} free-running**" in m.value
               and f"{tf_right} teacher-forced" in m.value and f"{len(idx)} held-out" in m.value for m in at.markdown)
    table = at.dataframe[0].value
    assert list(table.columns) == ["question", "target", "free-running answer", "right?", "teacher-forced answer"]
    assert list(table["question"][:4]) == questions
    symbols = t.info["output_symbols"]
    for i in range(len(table)):
        assert table["target"][i] == decode_symbols(t.y_test[i], symbols)
        assert table["free-running answer"][i] == decode_symbols(free_y[i].argmax(-1), symbols)
        assert table["right?"][i] == ("yes" if table["target"][i] == table["free-running answer"][i] else "no")
    reset(at)


def test_reverse_reads_as_many_steps_as_it_writes():
    at = page(tr_task="reverse", tr_T="6")
    ok(at)
    assert chart(at, "encoder–decoder: 6 steps in, 6 out")


def test_the_reversal_view_shows_the_decoders_own_answer():
    at = page(tr_task="reverse", tr_T="6", tr_H="8", tr_batch="16", tr_steps="10", tr_cell="gru")
    button(at, "Step").click().run()
    job = the_lab(at).run
    wait_until_ended(at)
    grid = chart(at, "Reversal: target and the decoder's own answer (update 1)")
    assert grid["data"][0]["y"][::-1][:2] == ["#1 target", "#1 free-running"]
    t, idx, lane = _eval(job, "gru")
    free_y = lane.model.free_running(t.x_test[idx], t.len_test[idx], t.info["decoder_len"])
    symbols = [str(k) for k in range(t.n_out)]
    assert grid["data"][0]["text"][::-1][1] == [symbols[k] for k in free_y[0].argmax(-1)]
    reset(at)


def test_an_addition_run_stays_within_its_announced_memory():
    """The addition task's T is its digits per number: the caps count its 2T + 1 input steps (one update and
    the scoring of the held-out sequences allocate at most what the page announces)."""
    import tracemalloc

    s, notes = tr.fit_settings(tr.TrainSettings(task="add_digits", cell="lstm", T=9, H=256, batch=256, steps=3))
    assert s.steps_per_sequence == 19 and s.numbers == 19 * s.batch * 4 * 256 <= tr.MAX_RUN_NUMBERS
    assert s.batch == 128 and any("Batch reduced" in n and "19 steps" in n for n in notes)
    job = tr.Job(s, "run", None)
    job._prepare()
    tracemalloc.start()
    try:
        job._advance(1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert job.state == "paused" and job.lanes["lstm"].eval_step == [1], (job.state, job.message)
    assert peak <= s.numbers * tr.RUN_BYTES_PER_NUMBER, f"{peak / 1e6:.0f} MB"


@pytest.mark.parametrize("query", [WAVES, ADDITION], ids=["waves", "add_digits"])
def test_the_race_runs_the_new_tasks(query):
    at = page(**{**query})
    button(at, "Race").click().run()
    race = the_lab(at).race
    wait_until_ended(at)
    assert race.state == "done" and status(at, "Race") == "Race: 30 of 30 updates · done"
    spec = chart(at, "Smoothed training loss of the three cells")
    assert [d["name"] for d in spec["data"]][:3] == ["RNN", "LSTM", "GRU"]
    for d in spec["data"][:3]:
        assert len(d["x"]) == 10 and all(np.isfinite(v) for v in d["y"])
    for lane in race.lanes.values():
        assert lane.n == 10 and lane.stopped is None and len(lane.eval_free_metric) == len(lane.eval_metric) >= 1
    assert sum("loss of the last 20 updates" in m.label for m in at.metric) == 3
    assert len(charts(at)) >= 6
    reset(at)
