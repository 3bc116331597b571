"""A visitor never sees a traceback: the guard logs the details and shows a short message with what to do."""
import logging
import tomllib
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import ui.runs
from ui.errors import guard

ROOT = Path(__file__).resolve().parents[1]
SECRET = "/srv/private/path/engine.py"


def _boom(*args, **kwargs):
    raise RuntimeError(f"internal failure in {SECRET}")


def test_public_deployment_setting_hides_error_details():
    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["client"]["showErrorDetails"] == "none"


@pytest.mark.parametrize("page", ["app.py", "pages/2_Hidden_state.py", "pages/3_Gradients.py",
                                  "pages/6_RNN_vs_LSTM_vs_GRU.py"])
def test_a_failing_page_shows_a_short_message_and_logs_the_traceback(page, monkeypatch, caplog):
    monkeypatch.setattr(ui.runs, "run_default_fallback", _boom)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    with caplog.at_level(logging.ERROR, logger="unrolled"):
        at.run()
        if page != "app.py":
            at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    shown = " ".join(e.value for e in at.error)
    assert "Something went wrong while drawing this view (reference " in shown
    assert "Reset to defaults" in shown and "reload the page" in shown
    assert SECRET not in shown and "Traceback" not in shown and "RuntimeError" not in shown
    logged = [r for r in caplog.records if r.name == "unrolled" and r.exc_info]
    assert logged and SECRET in str(logged[-1].exc_info[1])
    ref = shown.split("(reference ")[1][:8]
    assert ref in logged[-1].getMessage()  # the visitor's reference finds the traceback in the log
    assert at.sidebar.slider  # the controls are still there to change


def test_guard_lets_streamlit_control_flow_through():
    from streamlit.runtime.scriptrunner_utils.exceptions import StopException

    with pytest.raises(StopException):
        with guard("test"):
            raise StopException()


def test_guard_as_a_decorator_swallows_and_reports(caplog):
    @guard("fragment")
    def part():
        raise ValueError("x")

    with caplog.at_level(logging.ERROR, logger="unrolled"):
        assert part() is None
    assert any("fragment" in r.getMessage() for r in caplog.records)


def test_the_train_page_is_guarded_too(monkeypatch, caplog):
    import ui.train_settings

    monkeypatch.setattr(ui.train_settings, "train_controls", _boom)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.run()
    with caplog.at_level(logging.ERROR, logger="unrolled"):
        at.switch_page("pages/7_Train.py").run()
    assert not at.exception, [e.value for e in at.exception]
    shown = " ".join(e.value for e in at.error)
    assert "Something went wrong while drawing this view" in shown and SECRET not in shown


def _page_script(wanted: int, fail: bool):
    """A page whose body fails for its settings (n = wanted) and, if `fail`, for the defaults (n = 1) too."""
    from dataclasses import dataclass

    import streamlit as st

    from ui.errors import run_page

    @dataclass(frozen=True)
    class Settings:
        n: int = 1

    def body(cfg):
        st.markdown(f"drawn with n={cfg.n}")
        if cfg.n != 1 or fail:
            raise RuntimeError("internal failure in /srv/private/path/engine.py")

    run_page("test page", body, lambda: Settings(n=wanted))


def _page(wanted: int, fail: bool) -> AppTest:
    return AppTest.from_function(_page_script, args=(wanted, fail), default_timeout=60).run()


def test_run_page_draws_the_defaults_after_an_unexpected_error(caplog):
    from ui.errors import DEFAULTS_NOTE

    with caplog.at_level(logging.ERROR, logger="unrolled"):
        at = _page(2, False)
    assert not at.exception
    assert [m.value for m in at.markdown] == ["drawn with n=1"]  # what the failed body drew is gone
    assert len(at.error) == 1 and "Something went wrong while drawing this view" in at.error[0].value
    assert [c.value for c in at.caption] == [DEFAULTS_NOTE]
    assert [r for r in caplog.records if r.name == "unrolled" and r.exc_info]


def test_run_page_shows_one_message_when_the_defaults_fail_too(caplog):
    with caplog.at_level(logging.ERROR, logger="unrolled"):
        at = _page(2, True)
    assert not at.exception
    assert not at.markdown and not at.caption
    assert len(at.error) == 1
    ref = at.error[0].value.split("(reference ")[1][:8]
    logged = [r for r in caplog.records if r.name == "unrolled" and r.exc_info]
    assert len(logged) == 2 and all(ref in r.getMessage() for r in logged)


def test_run_page_at_the_defaults_shows_the_message_once(caplog):
    at = _page(1, True)
    assert not at.exception and not at.markdown and len(at.error) == 1


def test_run_or_defaults_gives_the_config_it_ran():
    from ui.config import Config
    from ui.errors import run_or_defaults

    def run(cfg):
        if cfg.T == 7:
            raise ValueError("T=7 is refused")
        return cfg.T

    assert run_or_defaults(run, Config(T=20)) == (20, Config(T=20), None)
    assert run_or_defaults(run, Config(T=7)) == (Config().T, Config(), "T=7 is refused")
