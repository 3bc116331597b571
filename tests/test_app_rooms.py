"""Classroom rooms through Streamlit's AppTest: creation, following, detaching, rejoining, page switches,
the Lesson's questions as polls with a reveal, a free number question, expiry, bad codes and a student
trying to drive. The teacher and each student are separate AppTest sessions on the same store."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest
from test_app_pages import ROOT

from ui.lesson import STEPS
from ui.rooms import store as rs
from ui.rooms.memory import MemoryStore
from ui.rooms.page import _SEAT

HOME = "app.py"
UNROLL = "pages/1_Unroll.py"
LESSON = "pages/0_Lesson.py"


@pytest.fixture(autouse=True)
def fresh_store(monkeypatch):
    """Every test on its own in-memory store (the process's store is what the pages use)."""
    s = MemoryStore()
    monkeypatch.setattr(rs, "_STORE", s)
    return s


def session(page: str = UNROLL, query: dict | None = None) -> AppTest:
    """A browser session opening `page` with `query` (through Home, the real entry point)."""
    at = AppTest.from_file(str(ROOT / HOME), default_timeout=180)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    return at.switch_page(page).run() if page != HOME else at


def q(at: AppTest, name: str):
    v = at.query_params.get(name)
    return v[-1] if isinstance(v, list) else v


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [e.body for e in at.info] + [e.label for e in at.expander]
    parts += [c.value for c in at.caption]
    return "\n".join(str(p) for p in parts)


def teacher(page: str = UNROLL) -> tuple[AppTest, str, str]:
    at = session(page, {"room": "new"})
    assert not at.exception, [e.value for e in at.exception]
    code, key = q(at, "room"), q(at, "teach")
    assert rs.valid_code(code) and rs.valid_key(key)
    return at, code, key


def test_room_new_makes_a_teacher_with_a_student_link_and_a_qr_code(fresh_store):
    at, code, key = teacher()
    assert fresh_store.is_teacher(code, key)
    assert any(code in e.label for e in at.expander)
    links = [c.value for c in at.code]
    assert any(v.endswith(f"?room={code}") and key not in v for v in links), links
    assert at.get("imgs") or at.get("image"), "the QR code"
    assert fresh_store.view(code).page == "Unroll"


def test_a_student_follows_the_sidebar_and_the_page_controls(fresh_store):
    t, code, key = teacher()
    s = session(UNROLL, {"room": code})
    assert not s.exception, [e.value for e in s.exception]
    assert "Following the teacher" in texts(s)
    t.slider(key="T").set_value(40).run()
    t.selectbox(key="cell").set_value("gru").run()
    assert fresh_store.view(code).query["T"] == "40"
    s.run()
    assert s.slider(key="T").value == 40 and s.selectbox(key="cell").value == "gru"


def test_explore_on_my_own_keeps_the_students_moves_and_follow_again_rejoins(fresh_store):
    t, code, key = teacher()
    s = session(UNROLL, {"room": code})
    s.button(key="room_detach").click().run()
    assert "Exploring on your own" in texts(s)
    s.slider(key="T").set_value(12).run()
    t.slider(key="T").set_value(60).run()
    s.run()
    assert s.slider(key="T").value == 12
    assert fresh_store.view(code).query["T"] == "60"              # the student did not drive
    s.button(key="room_follow").click().run()
    assert s.slider(key="T").value == 60 and "Following the teacher" in texts(s)


def test_a_student_with_a_wrong_teacher_key_follows_and_cannot_drive(fresh_store):
    t, code, key = teacher()
    wrong = ("B" if key[0] != "B" else "C") + key[1:]
    s = session(HOME, {"room": code, "teach": wrong})
    assert "does not open this classroom" in texts(s)          # said once, on the page the link opened
    assert q(s, "teach") is None
    s.switch_page(UNROLL).run()
    assert "Following the teacher" in texts(s)
    before = fresh_store.view(code)
    s.slider(key="T").set_value(77).run()
    assert fresh_store.view(code) == before


@pytest.mark.parametrize("code", ["AAAAAAAAAAAA", "nonsense", "<b>x</b>", "A" * 400])
def test_an_unknown_or_bad_code_gives_a_plain_sentence_and_the_normal_page(code):
    s = session(HOME, {"room": code})
    assert not s.exception, [e.value for e in s.exception]
    assert "There is no classroom with the code" in texts(s)
    assert "<b>" not in "".join(i.body for i in s.info) or "\\<b" in "".join(i.body for i in s.info)
    assert q(s, "room") is None and _SEAT not in s.session_state
    s.switch_page(UNROLL).run()
    assert not s.exception and s.get("plotly_chart"), "the normal page"
    assert "Following" not in texts(s)


def test_an_expired_room_ends_for_the_student(fresh_store, monkeypatch):
    t, code, key = teacher()
    s = session(UNROLL, {"room": code})
    clock = [rs.time.time()]
    monkeypatch.setattr(fresh_store, "clock", lambda: clock[0])
    clock[0] += rs.ROOM_SECONDS + 1
    s.run()
    assert "This classroom has ended" in texts(s)
    assert q(s, "room") is None


def test_the_teachers_page_switch_moves_the_follower(fresh_store):
    t, code, key = teacher()
    s = session(UNROLL, {"room": code})
    t.switch_page("pages/3_Gradients.py").run()
    assert fresh_store.view(code).page == "Gradients"
    s.run()
    assert not s.exception, [e.value for e in s.exception]
    assert s.title and "radient" in s.title[0].value, [x.value for x in s.title]


def _lesson_step_with_question() -> int:
    return next(i for i, st in enumerate(STEPS, 1) if st.question is not None)


def test_a_lesson_question_is_a_poll_counted_on_the_server_and_revealed_by_the_teacher(fresh_store):
    n = _lesson_step_with_question()
    step = STEPS[n - 1]
    t = session(LESSON, {"room": "new", "step": str(n)})
    code, key = q(t, "room"), q(t, "teach")
    s1 = session(LESSON, {"room": code})
    s2 = session(LESSON, {"room": code})
    radio = f"lesson_q_{step.key}"
    assert not [b for b in s1.button if b.key == f"lesson_reveal_{step.key}"], "only the teacher reveals"
    s1.radio(key=radio).set_value(step.question.answer).run()
    s2.radio(key=radio).set_value((step.question.answer + 1) % len(step.question.options)).run()
    s2.radio(key=radio).set_value(step.question.answer).run()           # changed, still one answer
    pid = f"lesson-{step.key}"
    assert fresh_store.results(code, pid) is None                        # nobody sees before the reveal
    r = fresh_store.results(code, pid, key)
    assert r.answered == 2 and r.counts[step.question.answer] == 2
    t.run()
    assert any("of" in m.value and "answered" in m.value for m in t.markdown)
    t.button(key=f"lesson_reveal_{step.key}").click().run()
    assert fresh_store.poll(code, pid).revealed
    s1.run()
    assert not s1.exception, [e.value for e in s1.exception]
    assert any("The class's answers" in m.value for m in s1.markdown)
    assert s1.radio(key=radio).disabled


def test_a_free_number_question_is_collected_and_revealed_as_a_histogram(fresh_store):
    t, code, key = teacher()
    s = session(UNROLL, {"room": code})
    ask = next(w for w in t.text_input if w.label.startswith("Ask the class"))
    ask.set_value("How many orders of magnitude reach step 1?")
    next(w for w in t.text_input if w.label.startswith("The answer")).set_value("19.8")
    next(b for b in t.button if b.label == "Ask").click().run()
    (poll,) = fresh_store.polls(code)
    assert poll.numeric and poll.question.startswith("How many")
    s.run()
    box = next(w for w in s.number_input if w.label.startswith("The teacher asks"))
    box.set_value(12.0)
    next(b for b in s.button if b.label == "Send my prediction").click().run()
    assert fresh_store.my_answer(code, s.session_state["_room_sid"], poll.id) == "12.0"
    assert fresh_store.results(code, poll.id) is None
    t.run()
    assert fresh_store.results(code, poll.id, key).numbers == (12.0,)
    t.button(key=f"room_reveal_{poll.id}").click().run()
    s.run()
    assert not s.exception, [e.value for e in s.exception]
    hist = [c for c in s.get("plotly_chart") if "Histogram" in c.proto.spec or "histogram" in c.proto.spec]
    assert hist, "the class's predictions as a histogram"
