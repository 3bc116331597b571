"""A browser session's training lab (its run and its race, one computing at a time) and the address mark of a run
the server lost."""
from __future__ import annotations

import threading

import streamlit as st

from ui import keys
from ui.train_job import Job, current_session_id
from ui.train_settings import TrainSettings
from ui.training import _LAB


class Lab:
    """The run and the race of one browser session; at most one of them computes.

    Its jobs share one gate (ui.train_job): a worker computes only while it holds it, so a new run starts
    computing only once the previous worker has acknowledged its stop, however long its last update takes.
    The commands are serialised by the lab's own lock (a session's callbacks, or a test's threads)."""

    def __init__(self):
        self.run: Job | None = None
        self.race: Job | None = None
        self.retired: list[threading.Thread] = []   # workers of replaced jobs that may still be stopping
        self.gate = threading.Lock()                 # held by the one worker of this session that computes
        self._lock = threading.RLock()

    def jobs(self):
        return [j for j in (self.run, self.race) if j is not None]

    @property
    def active(self) -> Job | None:
        return next((j for j in self.jobs() if j.active), None)

    def _job(self, s: TrainSettings, kind: str) -> Job:
        return Job(s, kind, current_session_id(), gate=self.gate)

    def _retire(self, job: Job | None) -> None:
        """Close a job and remember its worker until it has ended."""
        if job is not None:
            job.close()
            if job.active:
                self.retired.append(job.thread)

    def _exclusive(self, keep: Job | None) -> None:
        """Ask every other job of this session to stop (the gate makes the new one wait for them)."""
        for j in self.jobs():
            if j is not keep and j.active:
                j.pause()
        self.retired = [t for t in self.retired if t.is_alive()]

    def start(self, s: TrainSettings, n_updates: int | None = None) -> None:
        with self._lock:
            if self.run is None or self.run.settings != s or self.run.finished and n_updates is None:
                self._retire(self.run)
                self.run = self._job(s, "run")
            self._exclusive(self.run)
            run = self.run
        run.start(n_updates)

    def step(self, s: TrainSettings) -> None:
        with self._lock:
            if self.run is not None and self.run.active:
                return
            if self.run is not None and self.run.settings == s and self.run.finished:
                return
        self.start(s, n_updates=1)
        t = self.run.thread if self.run is not None else None
        if t is not None:
            t.join(1.0)  # one update: usually milliseconds; the charts follow if it takes longer

    def start_race(self, s: TrainSettings) -> None:
        with self._lock:
            if self.race is None or self.race.settings != s or self.race.finished:
                self._retire(self.race)
                self.race = self._job(s, "race")
            self._exclusive(self.race)
            race = self.race
        race.start()

    def pause(self) -> None:
        for j in self.jobs():
            j.pause()

    def reset(self) -> None:
        with self._lock:
            self._retire(self.run)
            self._retire(self.race)
            self.run = None
            self.race = None


def lab() -> Lab:
    if _LAB not in st.session_state:
        st.session_state[_LAB] = Lab()
    return st.session_state[_LAB]


# ---------------------------------------------------------------- a run the server lost

LIVE_PARAM = "train_live"   # in the address while a run or race computes: the id of the server process running it
INTERRUPTED = ("**The previous training run was interrupted:** the server restarted (or this tab moved to another "
               "server) while it was computing, and its progress was lost. The settings above are those of the "
               "address; press **Start** to train again.")


@st.cache_resource(show_spinner=False)
def server_id() -> str:
    """A random id of this server process (a restarted server, or another replica, has another one)."""
    import secrets

    return secrets.token_hex(6)


def mark_live_run(the_lab: Lab) -> str | None:
    """Keep the address saying whether this session's run computes (call on every full run of the page).

    A session lives in one server process: when that process dies (a crash, kill -9, a replica replaced),
    the tab reconnects to a new session that knows nothing of the run. The address it reconnects with
    still carries the old server's id, which is how the new session can tell. Returns the notice to show
    (until the next Start or Reset), else None. A copied link carries the mark too: on the same server
    with no run in this session it is simply dropped.
    """
    here = server_id()
    marked = st.query_params.get(LIVE_PARAM)
    if the_lab.active is not None:
        if marked != here:
            st.query_params[LIVE_PARAM] = here
        return None
    if marked is not None:
        del st.query_params[LIVE_PARAM]
        if marked != here and not the_lab.jobs():
            st.session_state[keys.TR_INTERRUPTED] = True
    if the_lab.jobs():
        st.session_state.pop(keys.TR_INTERRUPTED, None)
    return INTERRUPTED if st.session_state.get(keys.TR_INTERRUPTED) else None
