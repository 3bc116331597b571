"""AppTest for the Train page: loads, every control, Start -> Pause -> Step -> Reset, a race, exports,
garbage links, the work cap; and the runner underneath (queue, heartbeat, divergence) without a page.

Small sizes throughout (T <= 20, H <= 8, budgets of tens of updates) so a test takes seconds."""
from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
from specs import validated
from streamlit.testing.v1 import AppTest

from engine.tasks import TASKS
from ui import training as tr
from viz.style import CELL_NAMES
from viz.train import thin

ROOT = Path(__file__).resolve().parent.parent
HOME = str(ROOT / "app.py")
PAGE = "pages/7_Train.py"
SMALL = {"tr_T": "12", "tr_H": "6", "tr_batch": "8", "tr_steps": "50"}


def page(direct: bool = True, **query) -> AppTest:
    at = AppTest.from_file(str(ROOT / PAGE) if direct else HOME, default_timeout=180)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    if not direct:
        at.switch_page(PAGE).run()
    return at


def ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def charts(at: AppTest) -> dict[str, dict]:
    out = {}
    for c in at.get("plotly_chart"):
        spec = json.loads(c.proto.spec)
        out[spec["layout"].get("title", {}).get("text", "")] = spec
    return out


def chart(at: AppTest, prefix: str) -> dict:
    found = [v for k, v in charts(at).items() if k.startswith(prefix)]
    assert found, (prefix, list(charts(at)))
    return found[0]


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def status(at: AppTest, what: str = "Run") -> str | None:
    """The text of the rendered progress bar: "Run: 3 of 10 updates · about 2 s left", "… · done"."""
    return next((p.proto.text for p in at.get("progress") if p.proto.text.startswith(f"{what}: ")), None)


def progress(at: AppTest, what: str = "Run") -> tuple[int, int] | None:
    m = re.match(rf"{what}: (\d+) of (\d+) updates", status(at, what) or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def ended(at: AppTest, what: str = "Run") -> str | None:
    """'done' or 'paused' when the rendered progress bar says so, else None."""
    m = re.search(r" · (done|paused)$", status(at, what) or "")
    return m.group(1) if m else None


def wait_for(at: AppTest, cond, timeout: float = 300.0) -> AppTest:
    """Rerun the page (as the browser's refresh does, which also keeps the run's heartbeat alive) until
    cond(at) holds. cond reads what that rerun drew (the AppTest elements), never the live job: a worker
    can change the job between a rerun and the check, and the page would then show something else."""
    deadline = time.monotonic() + timeout
    while True:
        at.run()
        ok(at)
        if cond(at):
            return at
        assert time.monotonic() < deadline, f"timed out; the page shows {status(at)!r}"
        time.sleep(0.3)


def wait_until_ended(at: AppTest, timeout: float = 300.0) -> AppTest:
    """Rerun the page until no worker of this session computes, then once more. Nothing changes a job
    after its thread has ended, so that last rerun draws the final state, which the test then asserts."""
    deadline = time.monotonic() + timeout
    while True:
        at.run()
        ok(at)
        if the_lab(at).active is None:
            break
        assert time.monotonic() < deadline, f"timed out; the page shows {status(at)!r}"
        time.sleep(0.3)
    at.run()
    ok(at)
    return at


def the_lab(at: AppTest) -> tr.Lab:
    return at.session_state[tr._LAB]


@pytest.fixture(autouse=True)
def _stop_runs(stop_runs):
    """Every run a test here starts is stopped and joined after it (conftest.stop_runs)."""
    return stop_runs


def reset(at: AppTest) -> None:
    button(at, "Reset").click().run()
    assert the_lab(at).run is None and the_lab(at).race is None


# ---------------------------------------------------------------- the page


def test_loads_with_defaults():
    at = page()
    ok(at)
    labels = [b.label for b in at.button]
    for name in ("Start", "Pause", "Step", "Reset", "Race"):
        assert name in labels
    loss = chart(at, "Loss: LSTM after 0 of 600")
    names = [t.get("name", "") for t in loss["data"]]
    assert any(n.startswith("baseline: always predict 1.0") for n in names)
    assert chart(at, "many-to-one")
    assert at.selectbox(key="tr_task").value == "adding" and at.slider(key="tr_T").value == 100
    assert at.selectbox(key="tr_dtype").value == "float64"


def test_loads_from_the_home_page():
    at = page(direct=False)
    ok(at)
    assert chart(at, "Loss:")


def test_start_pause_step_reset():
    # a budget the run cannot use up before Pause arrives (a 300-update budget sometimes ended first)
    at = page(**{**SMALL, "tr_steps": "5000"})
    button(at, "Start").click().run()
    ok(at)
    assert the_lab(at).run is not None
    wait_for(at, lambda a: (progress(a) or (0, 0))[0] >= 3)
    button(at, "Pause").click().run()
    ok(at)
    job = the_lab(at).run
    job.thread.join(120)  # Pause waits 2 s for the worker; on a loaded machine its last update may take longer
    assert not job.active and job.state == "paused"
    n = job.done_and_total()[0]
    assert 3 <= n < 5000
    at.run()
    ok(at)
    assert job.done_and_total()[0] == n  # paused: the worker has ended, nothing adds updates
    assert status(at) == f"Run: {n} of 5000 updates · paused"
    loss = chart(at, "Loss: LSTM")
    smoothed = next(t for t in loss["data"] if t.get("name") == "smoothed")
    assert len(smoothed["x"]) == len(thin(n))    # every update, or 400 spread over them on a long run
    button(at, "Step").click().run()
    wait_until_ended(at)
    assert progress(at) == (n + 1, 5000) and ended(at) == "paused"
    assert the_lab(at).run is job  # Step continued the same run
    profile = chart(at, "Gradient reaching back")
    assert len(profile["data"][-1]["y"]) == 12
    assert chart(at, "Gradient norm before clipping")
    assert chart(at, "MSE on held-out sequences")
    reset(at)
    ok(at)
    assert chart(at, "Loss: LSTM after 0 of 5000")


def test_run_to_the_end_and_exports():
    at = page(**{**SMALL, "tr_steps": "10"})
    button(at, "Start").click().run()
    job = the_lab(at).run
    wait_until_ended(at)
    assert job.state == "done"
    assert status(at) == "Run: 10 of 10 updates · done"
    downloads = [d for d in at.get("download_button") if not str(d.key).startswith("csv_")]  # not the charts' CSVs
    assert len(downloads) == 2
    with np.load(io.BytesIO(tr.weights_npz(job.model()))) as f:
        assert sorted(f.files) == sorted(["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "head.weight",
                                          "head.bias"])
        assert f["weight_hh_l0"].shape == (24, 6)  # LSTM: 4 H x H
    csv = tr.history_csv(job).splitlines()
    assert csv[0].startswith("cell,update,batch_loss,grad_norm_before_clipping,clipped")
    assert len(csv) == 11 and csv[1].startswith("lstm,1,")
    assert any(line.split(",")[-1] != "" for line in csv[1:])  # the metric of at least one evaluation
    assert chart(at, "Adding: the network's answer")
    reset(at)


def test_race_draws_three_curves_and_the_baseline():
    at = page(**{**SMALL, "tr_steps": "10"})
    button(at, "Race").click().run()
    race = the_lab(at).race
    wait_until_ended(at)
    assert race.state == "done" and status(at, "Race") == "Race: 30 of 30 updates · done"
    spec = chart(at, "Smoothed training loss of the three cells")
    names = [t.get("name", "") for t in spec["data"]]
    assert names[:3] == ["RNN", "LSTM", "GRU"]
    assert any(n.startswith("baseline:") for n in names)
    for t in spec["data"][:3]:
        assert len(t["x"]) == 10
    # the three networks saw the same data in the same order (same seed): same first-batch loss is not
    # expected (different cells), but the same rows are
    assert progress(at, "Race") == (30, 30)
    assert len([d for d in at.get("download_button") if not str(d.key).startswith("csv_")]) == 1  # race history only (no single run yet)
    assert sum("loss of the last 20 updates" in m.label for m in at.metric) == 3
    reset(at)


def test_race_and_run_do_not_compute_at_once():
    at = page(**{**SMALL, "tr_steps": "1000", "tr_H": "16", "tr_T": "40"})
    button(at, "Start").click().run()
    button(at, "Race").click().run()
    lab = the_lab(at)
    assert lab.race.active and not lab.run.active
    button(at, "Start").click().run()
    assert lab.run.active and not lab.race.active
    reset(at)


@pytest.mark.parametrize("task", list(TASKS))
def test_every_task_steps_and_shows_its_view(task):
    at = page(tr_task=task, tr_H="6", tr_batch="4", tr_steps="10")
    ok(at)
    assert at.slider(key="tr_T").value == tr.DEFAULT.T  # the link does not set T: the slider's default
    at.selectbox(key="tr_task").set_value(task).run()
    button(at, "Step").click().run()
    job = the_lab(at).run
    wait_until_ended(at)
    assert progress(at) == (1, 10) and ended(at) == "paused"
    assert job.task.name == task
    assert chart(at, "Loss:")
    assert any(s.value == "What the network does now" for s in at.subheader)
    if task == "text":
        assert any("Sample at temperature" in m.value for m in at.markdown)
        at.select_slider(key="tr_temp").set_value(1.5).run()
        ok(at)
        assert any("temperature 1.5" in m.value for m in at.markdown)
    elif task == "vowels":
        assert chart(at, "Confusion matrix")
    else:
        assert len(charts(at)) >= 6, list(charts(at))
    reset(at)


def test_changing_task_sets_its_sequence_length():
    at = page()
    at.selectbox(key="tr_task").set_value("series").run()
    ok(at)
    assert at.slider(key="tr_T").value == TASKS["series"].seq_len
    assert chart(at, "trained many-to-many")
    at.selectbox(key="tr_task").set_value("reverse").run()
    assert at.slider(key="tr_T").value == TASKS["reverse"].seq_len
    assert chart(at, "encoder–decoder")


@pytest.mark.parametrize("key,value", [
    ("tr_cell", "rnn"), ("tr_cell", "gru"), ("tr_opt", "sgd"), ("tr_clip", "value"), ("tr_clip", "off"),
    ("tr_trunc", "truncated"), ("tr_dtype", "float32"),
])
def test_every_choice_control(key, value):
    at = page(**SMALL)
    at.selectbox(key=key).set_value(value).run()
    ok(at)
    button(at, "Step").click().run()
    job = the_lab(at).run
    wait_until_ended(at)
    assert progress(at) == (1, 50) and ended(at) == "paused"
    assert getattr(job.settings, key[3:]) == value
    caption = next(c.value for c in at.caption if c.value.startswith("This run:"))
    assert caption == f"This run: {job.settings.describe()}."
    if key == "tr_dtype":
        assert job.model().dtype == "float32"
    reset(at)


@pytest.mark.parametrize("key,value,field", [
    ("tr_lr", 0.1, "lr"), ("tr_batch", 4, "batch"), ("tr_steps", 10, "steps"), ("tr_clip_at", 5.0, "clip_at"),
    ("tr_mom", 0.5, "mom"),
])
def test_every_select_slider(key, value, field):
    at = page(**SMALL)
    if key == "tr_mom":
        at.selectbox(key="tr_opt").set_value("sgd").run()
    at.select_slider(key=key).set_value(value).run()
    ok(at)
    button(at, "Step").click().run()
    assert getattr(the_lab(at).run.settings, field) == value
    reset(at)


def test_sliders_and_numbers():
    at = page(**SMALL)
    at.slider(key="tr_T").set_value(7).run()
    at.slider(key="tr_H").set_value(3).run()
    at.selectbox(key="tr_trunc").set_value("truncated").run()
    at.number_input(key="tr_k1").set_value(3).run()
    at.number_input(key="tr_k2").set_value(4).run()
    at.number_input(key="tr_seed").set_value(7).run()
    ok(at)
    button(at, "Step").click().run()
    job = the_lab(at).run
    wait_until_ended(at)
    assert progress(at) == (1, 50) and ended(at) == "paused"
    s = job.settings
    assert (s.T, s.H, s.k1, s.k2, s.seed, s.truncate) == (7, 3, 3, 4, 7, (3, 4))
    profile = chart(at, "Gradient reaching back")
    assert any("reaches back 4 steps" in a.get("text", "") for a in profile["layout"].get("annotations", []))
    reset(at)


def test_settings_change_starts_a_new_run():
    at = page(**{**SMALL, "tr_steps": "10"})
    button(at, "Step").click().run()
    first = the_lab(at).run
    wait_until_ended(at)
    at.selectbox(key="tr_cell").set_value("gru").run()
    assert any("controls changed" in i.value for i in at.info)
    button(at, "Step").click().run()
    assert the_lab(at).run is not first and the_lab(at).run.settings.cell == "gru"
    wait_until_ended(at)
    assert progress(at) == (1, 10) and "GRU" in next(c.value for c in at.caption if c.value.startswith("This run:"))
    reset(at)


GARBAGE = {"tr_T": "abc", "tr_H": "-5", "tr_seed": "inf", "tr_lr": "nan", "tr_task": "<script>", "tr_steps": "1e99",
           "tr_k1": "0", "tr_k2": "1e9", "tr_batch": "7", "tr_clip": "sideways", "tr_clip_at": "-1",
           "tr_dtype": "float16", "tr_cell": "transformer", "tr_opt": "lbfgs", "tr_mom": "2", "tr_trunc": "x",
           "tr_unknown": "1"}


def test_garbage_link():
    at = page(**GARBAGE)
    ok(at)
    s_task = at.selectbox(key="tr_task").value
    assert s_task == "adding" and at.selectbox(key="tr_cell").value == "lstm"
    assert at.slider(key="tr_H").value == 1  # -5 clamped to the lowest
    assert at.number_input(key="tr_seed").value == 0
    assert at.select_slider(key="tr_batch").value == 8  # 7 -> the nearest batch size
    assert any("not possible here" in w.value for w in at.warning)
    assert chart(at, "Loss:")


@pytest.mark.parametrize("key,value", [(k, v) for k, v in GARBAGE.items()])
def test_each_garbage_value_alone(key, value):
    at = page(**{key: value})
    ok(at)


def test_from_home_with_garbage_link():
    at = AppTest.from_file(HOME, default_timeout=180)
    at.run()
    at.switch_page(PAGE)
    for k, v in GARBAGE.items():
        at.query_params[k] = v
    at.run()
    ok(at)


def test_work_cap_reduces_the_budget_and_says_so():
    at = page(tr_T="1000", tr_H="256", tr_batch="256", tr_steps="10000")
    ok(at)
    assert any("Budget reduced" in i.value for i in at.info)
    s, notes = tr.fit_settings(tr.TrainSettings(T=1000, H=256, batch=256, steps=10000))
    assert s.work <= tr.MAX_RUN_WORK and s.steps >= 1 and notes


def test_memory_cap_reduces_the_batch_and_says_so():
    """B = 256, T = 1000, H = 256 would keep about 17 GB for one LSTM update."""
    s, notes = tr.fit_settings(tr.TrainSettings(T=1000, H=256, batch=256, steps=10))
    assert s.batch == 2 and s.numbers <= tr.MAX_RUN_NUMBERS
    assert any("Batch reduced" in n and "B = 2" in n for n in notes)
    same, none = tr.fit_settings(tr.TrainSettings())
    assert same == tr.TrainSettings() and not none
    at = page(tr_T="1000", tr_H="256", tr_batch="256", tr_steps="10")
    ok(at)
    assert any("Batch reduced" in i.value for i in at.info)


def test_impossible_combination_is_adjusted():
    at = page(tr_task="vowels", tr_T="5")
    ok(at)
    assert any("needs T in [29" in i.value for i in at.info)
    at = page(tr_task="series", tr_T="900")
    ok(at)
    assert any("cannot be built with T = 900" in i.value for i in at.info)
    assert chart(at, "Loss:")


def test_divergence_stops_with_the_step_and_the_reason():
    at = page(tr_cell="rnn", tr_opt="sgd", tr_lr="1.0", tr_clip="off", tr_T="20", tr_H="8", tr_steps="200",
              tr_batch="8", tr_task="series")
    button(at, "Start").click().run()
    job = the_lab(at).run
    wait_until_ended(at)
    lane = job.lanes["rnn"]
    assert lane.stopped is not None, "SGD at lr = 1 without clipping no longer diverges on this seed"
    assert any(e.value.startswith(f"**{CELL_NAMES['rnn']} stopped at {lane.stopped}.**") for e in at.error), \
        [e.value for e in at.error]
    reset(at)


# ---------------------------------------------------------------- the runner without a page


def _tiny(**kw) -> tr.TrainSettings:
    return tr.TrainSettings(**{"T": 10, "H": 4, "batch": 4, "steps": 20, **kw})


def test_job_runs_and_records():
    job = tr.Job(_tiny(), "run", None)
    job._prepare()
    job.start()
    job.thread.join(120)
    assert job.state == "done"
    v = job.snapshot()["lstm"]
    assert v.n == 20 and np.isfinite(v.loss).all() and np.isfinite(v.grad_norm).all()
    assert v.eval_step[0] == 1 and v.eval_step[-1] == 20
    assert v.profile.shape == (10,)


def test_the_server_wide_cap_queues_and_says_so(monkeypatch):
    pool = tr.Slots(1)
    monkeypatch.setattr("ui.train_job.slots", lambda: pool)
    a, b = tr.Job(_tiny(steps=5000, T=40, H=16), "run", None), tr.Job(_tiny(), "run", None)
    a._prepare()
    b._prepare()
    a.start()
    deadline = time.monotonic() + 60
    while a.state != "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    b.start()
    deadline = time.monotonic() + 60
    while pool.waiting < 1 and time.monotonic() < deadline:  # b's thread reaches the semaphore and waits there
        time.sleep(0.02)
    assert b.state == "queued" and b.done_and_total()[0] == 0 and pool.waiting == 1
    assert a.active and a.state == "running"
    a.touch()
    a.pause()
    b.thread.join(120)
    assert b.state == "done" and pool.busy == 0


def test_heartbeat_pauses_a_run_nobody_watches(monkeypatch):
    monkeypatch.setenv("UNROLLED_TRAIN_HEARTBEAT", "1")
    job = tr.Job(_tiny(steps=10000, T=40, H=16), "run", None)
    job._prepare()
    job.start()
    # The page watches until the first update is recorded (it may wait for the kernels to compile),
    # then nobody does: the run must pause by itself within the heartbeat.
    deadline = time.monotonic() + 120
    while not job.first_update.is_set() and job.active and time.monotonic() < deadline:
        job.touch()
        time.sleep(0.02)
    job.thread.join(60)
    assert not job.active and job.state == "paused"
    assert "stopped showing the run" in job.message
    assert 0 < job.done_and_total()[0] < 10000


def test_a_gone_session_stops_the_run(monkeypatch):
    monkeypatch.setattr("ui.train_job.session_alive", lambda sid: sid != "gone")
    job = tr.Job(_tiny(steps=10000, T=40, H=16), "run", "gone")
    job._prepare()
    job.start()
    job.thread.join(60)
    assert not job.active and "has gone" in job.message


def test_race_uses_the_same_data_for_the_three_cells():
    job = tr.Job(_tiny(steps=3), "race", None)
    job._prepare()
    rows = [ln.trainer._next_rows().tolist() for ln in job.lanes.values()]
    assert rows[0] == rows[1] == rows[2]


def test_figures_are_plain_and_small():
    from viz.train import loss_figure, race_figure, smooth

    loss = np.abs(np.random.default_rng(0).normal(size=10_000)) + 0.01
    fig = validated(loss_figure(10_000, 10_000, loss, np.arange(0, 10_000, 100), loss[::100], baseline=0.08,
                      baseline_name="b", cell="rnn"))
    assert len(fig.to_json()) < 60_000
    race = validated(race_figure({c: (loss, None) for c in ("rnn", "lstm", "gru")}, budget=10_000, baseline=0.08,
                       baseline_name="b"))
    assert [t.name for t in race.data][:3] == ["RNN", "LSTM", "GRU"]
    s = smooth([1.0, np.nan, 3.0], 0.5)
    assert s[0] == 1.0 and s[1] == 1.0 and np.isfinite(s).all()


def test_an_encoder_decoder_reports_teacher_forced_and_free_running_accuracy():
    at = page(tr_task="reverse", tr_T="6", tr_H="8", tr_batch="16", tr_steps="30", tr_cell="gru")
    ok(at)
    assert any("Teacher forcing" in c.value for c in at.caption)
    button(at, "Start").click().run()
    wait_until_ended(at)
    fig = chart(at, "accuracy on held-out sequences")
    names = [tr_["name"] for tr_ in fig["data"]]
    assert names[:2] == ["accuracy, teacher-forced", "accuracy, free-running (own outputs fed back)"], names
    job = the_lab(at).run
    lane = job.lanes["gru"]
    assert len(lane.eval_free_metric) == len(lane.eval_metric) >= 2
    # the last free-running point is the engine's greedy decoding of the same held-out sequences
    t = tr.load_task("reverse", 6, 0)
    idx = np.arange(min(tr.N_EVAL, t.x_test.shape[0]))
    free_y = lane.model.free_running(t.x_test[idx], t.len_test[idx], t.y_test.shape[1])
    from engine.tasks import task_metric
    assert lane.eval_free_metric[-1] == pytest.approx(float(task_metric(t, free_y, t.y_test[idx], t.len_test[idx])))
    assert fig["data"][1]["y"][-1] == pytest.approx(lane.eval_free_metric[-1], rel=1e-6)


def test_truncation_on_sequences_of_different_lengths_says_what_it_cannot_reach():
    """Japanese Vowels (7-29 frames) with k2 = 10: the recordings of 19 frames or fewer get no gradient into
    the recurrent weights, and the page says so with the engine's own numbers; full BPTT says nothing."""
    at = page(tr_task="vowels", tr_T="29", tr_trunc="truncated", tr_k1="10", tr_k2="10").run()
    ok(at)
    text = " ".join(i.value for i in at.info)
    assert "Truncation and padding" in text and "T = 29" in text and "19 steps or fewer" in text
    assert "the shortest here has 7" in text and "k2 = 23 or more" in text
    at = page(tr_task="vowels").run()
    assert "Truncation and padding" not in " ".join(i.value for i in at.info)
    at = page(tr_task="copy", tr_trunc="truncated", tr_k1="10", tr_k2="10").run()   # a loss at every step
    assert "Truncation and padding" not in " ".join(i.value for i in at.info)
