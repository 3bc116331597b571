"""Lesson: the article in seven steps and four on training in practice, one screen each, with the step in the address (?step=N)."""
from ui.errors import run_page
from ui.lesson import show
from ui.sidebar import page_setup

page_setup("Lesson")
run_page("Lesson", show)
