"""The server killed mid-session: a training run that was computing says so after the restart.

The address carries `train_live=<server id>` while a run computes; a new session (the tab reconnecting to
a restarted server, or to another replica) that finds another server's id there shows the notice. The
kill -9 itself, with a reconnect through nginx to a live replica, is in tests/test_replicas.py."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui import training as tr

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "pages" / "7_Train.py")
SMALL = {"tr_T": "12", "tr_H": "6", "tr_batch": "8", "tr_steps": "10000"}


@pytest.fixture(autouse=True)
def _stop_runs(stop_runs):
    """Every run a test here starts is stopped and joined after it (conftest.stop_runs)."""
    return stop_runs


def page(**query) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=180)
    for k, v in query.items():
        at.query_params[k] = v
    return at.run()


def warnings(at: AppTest) -> list[str]:
    return [w.value for w in at.warning]


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def test_a_run_lost_with_its_server_is_reported_until_start():
    at = page(**SMALL, train_live="0123456789ab")   # an id no live server has
    assert not at.exception
    assert any("previous training run was interrupted" in w for w in warnings(at))
    assert tr.LIVE_PARAM not in at.query_params
    assert at.slider(key="tr_T").value == 12          # the address still restores the view
    at.run()
    assert any("interrupted" in w for w in warnings(at)), "the notice stays until the next Start"
    button(at, "Start").click().run()
    try:
        # the address is marked by the run of the page right after Start, while the run computes (its 10000
        # updates take seconds; the page marks the address milliseconds after the worker started)
        assert not any("interrupted" in w for w in warnings(at))
        marked = at.query_params.get(tr.LIVE_PARAM)
        assert marked in (tr.server_id(), [tr.server_id()])   # this server's run, in the address
    finally:
        button(at, "Reset").click().run()
    assert tr.LIVE_PARAM not in at.query_params


def test_a_copied_link_of_a_run_on_this_server_is_just_dropped():
    at = page(**SMALL, train_live=tr.server_id())
    assert not at.exception
    assert not any("interrupted" in w for w in warnings(at))
    assert tr.LIVE_PARAM not in at.query_params
