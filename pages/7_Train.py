"""Train: watch a network learn a task, watch the vanishing gradient stop it, race RNN, LSTM and GRU."""
import os
import sys
import time

import numpy as np
import streamlit as st

from engine.tasks import TASKS
from ui import keys
from ui.charts import show_chart
from ui.errors import guard
from ui.plain import plain
from ui.sidebar import page_setup, preset_flash, sidebar
from ui.train_data import load_task, task_facts, warm_training
from ui.train_lab import lab, mark_live_run
from ui.train_settings import fit_settings, memory_note, sanitize_url, train_controls, truncation_note
from ui.training import (
    N_EVAL,
    REFRESH_SECONDS,
    addition_rows,
    exact_matches,
    history_csv,
    series_forecast,
    slots,
    text_sample,
    weights_npz,
)
from viz.style import CELL_NAMES
from viz.train import (
    CONFIG,
    adding_figure,
    arrangement_figure,
    confusion_figure,
    distance_figure,
    grad_norm_figure,
    left_baseline,
    loss_figure,
    metric_figure,
    profile_figure,
    race_figure,
    series_figure,
    symbol_grid_figure,
    waves_figure,
)

TIMING = bool(os.environ.get("UNROLLED_TRAIN_TIMING"))
SECONDARY_PERIOD = 1.0   # seconds between redraws of the gradient charts during a run (the loss: every refresh)
page_setup("Train")
with guard("Train"):
    sidebar(network=False)   # the page has its own cell, T and seed: no second set that disagrees
    preset_flash()

    # The progress part reruns four times a second; Streamlit would fade it as "stale" during each rerun, so the
    # charts would flicker on a projector. Here a rerun only brings newer numbers: keep them fully drawn.
    st.html("<style>[data-testid='stElementContainer'][data-stale='true'], [data-stale='true'] "
            "{opacity: 1 !important; transition: none !important;}</style>")
    st.title("Train: watch a network learn, and watch it fail to")
    st.markdown("Pick a task and a cell, press **Start**, and watch the loss fall (or not) against the task's trivial "
                "baseline, while the gradient profile shows how far back in time the training signal reaches. "
                "**Race** trains the vanilla RNN, the LSTM and the GRU on the same data with the same seed and budget. "
                "This page has its own controls (the sidebar's network is not used here); each is in the address bar, "
                "so a copied link reproduces the run.")

    for note in sanitize_url():
        st.warning(note, icon=":material/link:")
    settings, notes = train_controls()
    try:
        task = task_facts(load_task(settings.task, settings.T, settings.seed, settings.text))
    except (ValueError, ImportError) as exc:   # e.g. a series too short for this T: fall back to the task's own T
        T0 = TASKS[settings.task].seq_len
        notes.append(f"The {TASKS[settings.task].title.lower()} cannot be built with T = {settings.T} ({plain(exc)}). "
                     f"Using its default T = {T0}.")
        settings, more = fit_settings(type(settings)(**{**settings.__dict__, "T": T0}))
        notes += more
        task = task_facts(load_task(settings.task, settings.T, settings.seed, settings.text))
    cut = truncation_note(settings, task)
    for note in notes + ([cut] if cut else []):
        st.info(note, icon=":material/info:")
    warm_training()
    the_lab = lab()
    interrupted = mark_live_run(the_lab)   # a run the server lost when it restarted
    if interrupted:
        st.warning(interrupted, icon=":material/restart_alt:")

    spec = TASKS[settings.task]
    c1, c2 = st.columns([3, 2], gap="large")
    with c2:
        ed = task.arrangement == "encoder-decoder"
        show_chart(arrangement_figure(task.arrangement, generation=settings.task in ("text", "series"),
                                      steps_in=task.n_steps if ed else None,
                                      steps_out=task.info.get("decoder_len") if ed else None,
                                      varying=task.min_steps < task.n_steps),
                   key="tr_arrangement", config={**CONFIG, "staticPlot": True}, csv=False)
    with c1:
        st.markdown(f"**{task.title}** · {task.arrangement} · {spec.about}")
        st.caption(f"Baseline ({task.baseline_name}): loss {task.baseline:.4g} per sequence, {task.metric_name} "
                   f"{task.info.get('baseline_metric', float('nan')):.4g}. {task.n_train} training and "
                   f"{task.n_test} held-out sequences; the metric uses the first "
                   f"{min(N_EVAL, task.n_test)} held-out ones.")

    # The buttons stay enabled: their state would only change on a full rerun, and a run can end between two.
    # Start on a running run, Pause with nothing running and Step during a run do nothing.
    b = st.columns([1, 1, 1, 1, 1, 3], gap="small")
    b[0].button("Start", type="primary", icon=":material/play_arrow:", on_click=the_lab.start, args=(settings,),
                help="Train (or resume) with the settings above.", width="stretch")
    b[1].button("Pause", icon=":material/pause:", on_click=the_lab.pause,
                help="Stop after the current update; Start resumes.", width="stretch")
    b[2].button("Step", icon=":material/skip_next:", on_click=the_lab.step, args=(settings,),
                help="One update, then stop.", width="stretch")
    b[3].button("Reset", icon=":material/restart_alt:", on_click=the_lab.reset,
                help="Forget the run and the race; the next Start begins from fresh weights.", width="stretch")
    b[4].button("Race", icon=":material/sprint:", on_click=the_lab.start_race, args=(settings,),
                help="Train RNN, LSTM and GRU on the same data, seed and budget, one update each in turn.",
                width="stretch")
    with b[5]:
        st.caption(f"Budget: {settings.steps} updates per network. A run pauses after "
                   f"{settings.steps} updates or when you leave the page. {memory_note()}")


    def _status(job, what: str) -> None:
        """Progress bar, queue and stop messages of one job."""
        if job is None:
            return
        progress = job.progress   # one consistent moment of the job
        done, total = progress.done, progress.total
        if progress.state == "queued" and job.active:
            pool = slots()
            st.warning(f"**Busy, queued:** all {pool.n} training slots of this server are in use. Your {what} starts as "
                       "soon as one is free.", icon=":material/hourglass_top:")
        left = job.seconds_left()
        scoring = progress.scoring if job.active else None
        label = (f"{what}: {done} of {total} updates"
                 + (f" · scoring the held-out sequences ({scoring[0]} of {scoring[1]})" if scoring else "")
                 + (f" · about {left:.0f} s left" if left is not None and job.active else "")
                 + {"paused": " · paused", "done": " · done"}.get(progress.state, ""))
        st.progress(min(1.0, done / max(total, 1)), text=label)
        for v in job.snapshot().values():
            if v.stopped:
                st.error(f"**{CELL_NAMES[v.cell]} stopped at {v.stopped}.** The weights are those before that "
                         "update. A smaller learning rate or clipping helps.", icon=":material/error:")
        if progress.message:
            (st.error if progress.state == "error" else st.info)(progress.message, icon=":material/info:")


    # ---- what the network does now, one view per task (the registry below, keyed by the task's name)

    def _adding_view(job, view, t, y, idx, update, temperature):
        show_chart(adding_figure(y[:, -1, 0], t.y_test[idx, 0], update=update), key="tr_view", config=CONFIG)


    def _copy_view(job, view, t, y, idx, update, temperature):
        C, K = t.info["n_copy"], t.info["n_symbols"]
        labels = ["·"] + [str(k) for k in range(1, K + 1)]
        show_chart(symbol_grid_figure(y[:4, -C:].argmax(-1), t.y_test[idx[:4], -C:], labels=labels,
                                      title=f"Copy: the {C} symbols to recall and the network's answer "
                                            f"(update {update})"), key="tr_view", config=CONFIG)


    def _reverse_view(job, view, t, y, idx, update, temperature):
        labels = [str(k) for k in range(t.n_out)]
        own = view.eval_free_y is not None   # the decoder on its own outputs, as when it is used
        show_chart(symbol_grid_figure((view.eval_free_y if own else y)[:4].argmax(-1), t.y_test[idx[:4]],
                                      labels=labels, answer="free-running" if own else "teacher-forced",
                                      title=f"Reversal: target and the decoder's "
                                            f"{'own ' if own else 'teacher-forced '}answer (update {update})"),
                   key="tr_view", config=CONFIG)


    def _add_digits_view(job, view, t, y, idx, update, temperature):
        free = view.eval_free_y
        if free is None:
            return
        symbols = t.info["output_symbols"]
        rows = addition_rows(t, idx, y, free)
        tf_right, free_right = exact_matches(t, idx, y, free)
        show_chart(symbol_grid_figure(free[:4].argmax(-1), t.y_test[idx[:4]], labels=symbols,
                                      names=rows["question"][:4], answer="free-running",
                                      title=f"Addition: the sum and the decoder's own answer (update {update})"),
                   key="tr_view", config=CONFIG)
        st.markdown(f"**Whole answers right** (every one of the {t.info['decoder_len']} symbols, end symbols ■ "
                    f"included), on the {len(idx)} held-out questions: **{free_right} free-running**, "
                    f"{tf_right} teacher-forced.")
        st.dataframe(rows, hide_index=True)


    def _waves_view(job, view, t, y, idx, update, temperature):
        free = view.eval_free_y
        if free is None:
            return
        n = min(3, len(idx))
        cond = t.info.get("condition_test")
        show_chart(waves_figure(t.y_test[idx[:n], :, 0], y[:n, :, 0], free[:n, :, 0],
                                conditions=None if cond is None else np.asarray(cond)[idx[:n]], update=update),
                   key="tr_view", config=CONFIG)


    def _series_view(job, view, t, y, idx, update, temperature):
        model = job.model(view.cell)
        show_chart(series_figure(_cached(("series", id(job), update), lambda: series_forecast(model, t)),
                                 update=update), key="tr_view", config=CONFIG)


    def _vowels_view(job, view, t, y, idx, update, temperature):
        pred = y[:, -1].argmax(-1)
        true = t.y_test[idx]
        show_chart(confusion_figure(pred, true, class_names=t.info["class_names"], update=update),
                   key="tr_view", config=CONFIG)
        lengths = t.len_test[idx]
        pick = [int(np.flatnonzero(lengths == L)[0]) for L in np.unique(lengths)[::3]][:6]
        st.dataframe({"frames": [int(lengths[i]) for i in pick],
                      "true speaker": [int(true[i]) + 1 for i in pick],
                      "predicted": [int(pred[i]) + 1 for i in pick],
                      "P(true speaker)": [round(float(y[i, -1, true[i]]), 3) for i in pick]}, hide_index=True)


    def _text_view(job, view, t, y, idx, update, temperature):
        model = job.model(view.cell)
        sample = _cached(("text", id(job), update, temperature),
                         lambda: text_sample(model, t, temperature, seed=update))
        st.markdown(f"**Sample at temperature {temperature:g}** (update {update}, after the prompt "
                    f"“{plain(sample, 4)}”):")
        st.code(sample, language=None, wrap_lines=True)


    def _longrange_view(job, view, t, y, idx, update, temperature):
        correct = y[:, -1].argmax(-1) == t.y_test[idx]
        show_chart(distance_figure(t.len_test[idx] - 1, correct, n_classes=t.n_out, update=update),
                   key="tr_view", config=CONFIG)


    TASK_VIEWS = {"adding": _adding_view, "copy": _copy_view, "reverse": _reverse_view,
                  "add_digits": _add_digits_view, "waves": _waves_view, "series": _series_view,
                  "vowels": _vowels_view, "text": _text_view, "longrange": _longrange_view}


    def _task_view(job, view, temperature: float) -> None:
        """What the network does now on held-out sequences (from the latest evaluation)."""
        progress = job.progress
        t = progress.task
        y = view.eval_y
        if t is None or y is None:
            return
        update = int(view.eval_step[-1]) if len(view.eval_step) else 0
        show = TASK_VIEWS.get(t.name)
        if show is not None:
            show(job, view, t, y, progress.eval_idx, update, temperature)


    def _throttled(name: str, live: bool, make, period: float = SECONDARY_PERIOD):
        """While a run computes, the secondary charts are rebuilt at most every `period` seconds and the same
    figure is sent in between: the browser skips redrawing an unchanged chart, and redrawing every chart
    four times a second is what a slow laptop (or a projector's) cannot keep up with."""
        store = st.session_state.setdefault(keys.TR_THROTTLE, {})
        now = time.monotonic()
        last = store.get(name)
        if live and last is not None and now - last[0] < period:
            return last[1]
        fig = make()
        store[name] = (now, fig)
        return fig


    def _cached(key, make):
        """Task views that cost a forward pass are recomputed only when the evaluation they show changes."""
        store = st.session_state.setdefault(keys.TR_VIEW_CACHE, {})
        if key not in store:
            store.clear()
            store[key] = make()
        return store[key]


    def _run_panel(job) -> None:
        s = job.settings if job is not None else settings
        t = job.progress.task if job is not None and job.progress.task is not None else task
        view = job.snapshot()[s.cell] if job is not None else None
        if job is not None and job.settings != settings:
            st.info("The controls changed since this run started: the charts show the run below. **Start** begins a "
                    "new run with the new settings.", icon=":material/info:")
        if job is not None:
            st.caption(f"This run: {s.describe()}.")
        n = view.n if view else 0
        empty = np.zeros(0)
        g1, g2 = st.columns(2, gap="medium")
        show_chart(container=g1, fig=loss_figure(n, s.steps, view.loss if view else empty, view.eval_step if view else empty,
                                    view.eval_loss if view else empty, baseline=t.baseline,
                                    baseline_name=t.baseline_name, cell=s.cell), key="tr_loss", config=CONFIG)
        show_chart(container=g2, fig=metric_figure(view.eval_step if view else empty, view.eval_metric if view else empty,
                                      metric_name=t.metric_name, baseline_metric=t.info.get("baseline_metric"),
                                      budget=s.steps, free_metric=view.eval_free_metric if view else None),
                   key="tr_metric", config=CONFIG)
        if t.arrangement == "one-to-many":
            st.caption("**Teacher forcing.** In training, and in the teacher-forced line, step k reads the true "
                       "previous value y_(k−1). Running free it reads its own previous output instead, so an error at "
                       "one step is read back at the next and can grow: the free-running line is what the network "
                       "does when it generates on its own.")
        if t.arrangement == "encoder-decoder":
            st.caption("**Teacher forcing.** In training, and in the teacher-forced line, the decoder reads the true "
                       "previous symbol at each step. Used on its own it reads its own previous output, so one "
                       "mistake feeds the next: the free-running line is what the network really does.")
        g3, g4 = st.columns(2, gap="medium")
        live = job is not None and job.active
        show_chart(container=g3, fig=_throttled("grad", live, lambda: grad_norm_figure(
            view.grad_norm if view else empty, view.clipped if view else empty, budget=s.steps, clip=s.clip,
            clip_at=s.clip_at)), key="tr_grad", config=CONFIG)
        show_chart(container=g4, fig=_throttled("profile", live, lambda: profile_figure(
            view.profile if view else None, view.profile_first if view else None, update=n, truncate=s.truncate)),
            key="tr_profile", config=CONFIG)
        if view is not None and view.eval_y is not None:
            st.subheader("What the network does now")
            temperature = 1.0
            if t.name == "text":
                temperature = st.select_slider("Sampling temperature", (0.2, 0.5, 0.8, 1.0, 1.2, 1.5), value=0.8,
                                               key="tr_temp", help="Low: the likeliest characters; high: more random.")
            _task_view(job, view, float(temperature))


    def _race_panel(job) -> None:
        st.subheader("Race: RNN vs LSTM vs GRU")
        if job is None:
            st.caption("**Race** trains the three cells with the settings above (the cell control aside), one update of "
                       "each in turn, and draws their losses on one chart. On the adding problem with T = 100 the "
                       "vanilla RNN stays on the baseline while the gated cells leave it.")
            return
        s, t = job.settings, job.progress.task if job.progress.task is not None else task
        views = job.snapshot()
        st.caption(f"Race settings: {s.describe().split(', ', 2)[0]}, "
                   f"{s.describe().split(', ', 2)[2]}; {s.steps} updates each.")
        show_chart(race_figure({c: (v.loss, v.stopped) for c, v in views.items()}, budget=s.steps,
                                    baseline=t.baseline, baseline_name=t.baseline_name), key="tr_race", config=CONFIG)
        cols = st.columns(3)
        for col, (c, v) in zip(cols, views.items()):
            k = left_baseline(v.loss, t.baseline) if v.n >= 20 else None
            last = float(np.mean(v.loss[-20:])) if v.n else float("nan")
            col.metric(f"{CELL_NAMES[c]}: loss of the last 20 updates", f"{last:.3g}" if v.n else "–",
                       delta=(f"{last / t.baseline:.0%} of the baseline" if v.n else None), delta_color="off",
                       delta_arrow="off",
                       help="Mean batch loss of the last 20 updates, and how it compares with the baseline.")
            col.caption(f"below half the baseline since update {k}" if k else "not below half the baseline (yet)")


    def panel(live: bool) -> None:
        started = time.perf_counter()
        for job in the_lab.jobs():
            job.touch()
        # fixed containers: a progress bar appearing must not shift the charts (the browser updates them in place)
        with st.container():
            _status(the_lab.run, "Run")
        with st.container():
            _status(the_lab.race, "Race")
        with st.container():
            _run_panel(the_lab.run)
        with st.container():
            _race_panel(the_lab.race)
        if TIMING:  # for bench/bench_train_page.py: how long each refresh took on the server
            job = the_lab.active
            print(f"train-refresh {time.time():.3f} {time.perf_counter() - started:.4f} "
                  f"{job.done_and_total()[0] if job else -1}", file=sys.stderr, flush=True)
        if live and the_lab.active is None:
            st.rerun()  # the run ended: redraw the buttons and stop refreshing


    live = the_lab.active is not None
    st.fragment(run_every=REFRESH_SECONDS if live else None)(guard("Train: live panel")(panel))(live)

    st.subheader("Export")
    run = the_lab.run
    e1, e2, e3 = st.columns(3)
    if run is not None and run.model() is not None:   # not before its worker has built the network
        e1.download_button("Weights (.npz, PyTorch key names)", data=lambda: weights_npz(run.model()),
                           file_name=f"unrolled-{run.settings.task}-{run.settings.cell}.npz",
                           mime="application/octet-stream", on_click="ignore", icon=":material/download:")
    if run is not None:
        e2.download_button("Loss history (.csv)", data=lambda: history_csv(run), file_name="unrolled-train-history.csv",
                           mime="text/csv", on_click="ignore", icon=":material/download:")
    race = the_lab.race
    if race is not None:
        e3.download_button("Race history (.csv)", data=lambda: history_csv(race), file_name="unrolled-race-history.csv",
                           mime="text/csv", on_click="ignore", icon=":material/download:")
    if run is None and race is None:
        st.caption("After a run: the trained weights as .npz under PyTorch's state-dict keys (weight_ih_l0, "
                   "weight_hh_l0, bias_ih_l0, bias_hh_l0, head.weight, head.bias) and the loss history as CSV. "
                   "Downloading does not interrupt a run.")
