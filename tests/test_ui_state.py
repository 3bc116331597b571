"""The settings registry (ui/state.py): lenient and strict readings, parse, to_query, validate, the
dataclasses built from it, and the Phase diagram's link check."""
from dataclasses import fields
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui import keys
from ui.config import CONFIG, Config
from ui.lesson import LESSON, parse_step
from ui.phase import PHASE, PhaseSettings
from ui.state import Registry, Setting, link_notice, settings_class
from ui.train_settings import DEFAULT, TRAIN, TrainSettings

ROOT = Path(__file__).resolve().parent.parent


def test_every_registry_field_is_a_dataclass_field_in_order():
    for registry, cls in ((CONFIG, Config), (TRAIN, TrainSettings), (PHASE, PhaseSettings)):
        assert [s.name for s in registry] == [f.name for f in fields(cls)]
        assert registry.defaults == {f.name: f.default for f in fields(cls)}
    assert TrainSettings() == DEFAULT


def test_lenient_reading():
    T = CONFIG["T"]
    assert T.coerce("100") == (100, None)
    assert T.coerce(" 7 ") == (7, None)
    assert T.coerce("7.4") == (7, "round")
    assert T.coerce("5000") == (1000, "range")
    assert T.coerce("abc") == (100, "number")
    assert T.coerce("inf") == (100, "finite")
    assert CONFIG["cell"].coerce("LSTM") == ("lstm", None)
    assert CONFIG["rho"].coerce("1.1") == (1.1, None)
    assert CONFIG["rho"].coerce(["0.5", "0.953"]) == (0.95, "round")


def test_strict_reading():
    assert TRAIN["cell"].coerce("LSTM", strict=True) == ("lstm", "changed")   # the default, not the lower case
    assert TRAIN["T"].coerce("5.7", strict=True) == (5, "changed")            # truncated, as a number input does
    assert TRAIN["T"].coerce("05", strict=True) == (5, "changed")             # not what the widget writes
    assert TRAIN["lr"].coerce("0.004", strict=True) == (0.003, "changed")
    assert TRAIN["lr"].coerce("1e-2", strict=True) == (0.01, None)
    assert PHASE["T"].coerce("55", strict=True) == (50, "changed")            # the slider's step of 10
    assert PHASE["T"].coerce("60", strict=True) == (60, None)


def test_parse_to_query_and_validate():
    values, notices = CONFIG.parse({"T": "5000", "rho": "1.1", "zz": "1"})
    assert values == {"T": 1000, "rho": 1.1}
    assert notices == ["T=5000: outside 1–1000; using 1000."]
    assert CONFIG.to_query({"T": 100, "rho": 1.1, "amp": 2.5}) == {"rho": "1.10", "amp": "2.50"}
    assert CONFIG.validate({"T": 0, "rho": 0.953, "act": "relu"}) == {"T": 1, "rho": 0.95, "act": "relu"}
    values, notices = TRAIN.parse({"tr_T": "abc", "tr_text": "x"})
    assert values == {"T": 100}                                                # "text" has no parameter
    assert notices == ["T = “abc” from the link is not possible here: using 100."]


def test_notices_keep_their_wording():
    assert CONFIG.coerce("cell", "bogus")[1] == "cell=bogus: not one of rnn, lstm, gru; using rnn."
    assert PHASE.coerce("n_rho", "7") == (16, "res = “7” from the link is not possible here: using 16.")
    assert LESSON.coerce("step", "abc")[1].endswith("is not a step number; showing step 1 of "
                                                    f"{int(LESSON['step'].hi)}.")
    assert parse_step("2.5", n=3) == (2, "step=2\\.5: showing step 2.")   # Markdown-escaped
    assert parse_step(None) == (None, None)


def test_settings_class():
    reg = Registry((Setting("a", "a", "int", 0, 9, default=3), Setting("b", "b", "choice", options=("x", "y"),
                                                                         default="y")), link_notice)

    @settings_class(reg)
    class Small:
        @property
        def double(self):
            return 2 * self.a

    s = Small()
    assert (s.a, s.b, s.double) == (3, "y", 6) and hash(s) == hash(Small())
    with pytest.raises(AttributeError):
        s.a = 4   # frozen


def test_session_keys_are_private_and_distinct():
    names = [v for k, v in vars(keys).items() if k.isupper()]
    assert all(v.startswith("_") for v in names) and len(set(names)) == len(names)


@pytest.mark.parametrize("query, said", [
    ({"ph_T": "abc", "ph_res": "7"}, ["res = “7”", "T = “abc”"]),
    ({"ph_H": "9999", "ph_follow": "false"}, ["H = “9999” from the link is not possible here: using 256."]),
])
def test_phase_link_values_get_a_notice(query, said):
    at = AppTest.from_file(str(ROOT / "pages/5_Phase_diagram.py"), default_timeout=180)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = " ".join(w.value for w in at.warning)
    assert all(s in shown for s in said), shown
    assert "ph_follow" not in " ".join(at.session_state[keys.PH_URL_NOTICES])
