"""Lesson: the article in seven steps and four on training in practice, one screen each, with the step in the address (?step=N)."""
from ui.errors import guard
from ui.lesson import show
from ui.sidebar import page_setup, preset_flash, sidebar

page_setup("Lesson")
with guard("Lesson"):
    cfg = sidebar()
    preset_flash()
    show(cfg)
