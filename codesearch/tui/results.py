"""The results list: one two-line entry per hit, with a score bar."""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from codesearch.search import Hit

BAR_CELLS = 8
_EIGHTHS = " ▏▎▍▌▋▊▉█"


def score_bar(fraction: float, cells: int = BAR_CELLS) -> str:
    """A bar `cells` wide filled to `fraction`, in eighths of a cell."""
    eighths = round(max(0.0, min(1.0, fraction)) * cells * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (_EIGHTHS[part] if part else "")).ljust(cells)


def hit_label(hit: Hit, top_score: float) -> Content:
    """Two lines: path:line, then score bar, symbol, kind and language.

    Content rather than a Rich table: the list renders every option to measure it,
    on every keystroke's results, and Content renders several times faster.
    """
    # RRF scores are tiny and only their order means something: scale to the best hit.
    fraction = hit.score / top_score if top_score > 0 else 0.0
    symbol = hit.symbol or hit.signature.strip() or f"({hit.kind})"
    return Content.assemble(
        (hit.path, "bold"), (f":{hit.start_line}", "$text-muted"), "\n  ",
        (score_bar(fraction), "$success"), " ",
        (symbol, "" if hit.symbol else "italic"), "  ",
        (f"{hit.kind} · {hit.language}", "$text-muted"),
    )


class ResultsList(OptionList):
    """Hits, best first. Highlighting one previews it; Enter or a double click opens it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select", "Open in $EDITOR", show=False),
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("y", "app.copy_location", "Copy path:line", show=False),
    ]

    class HitHighlighted(Message):
        def __init__(self, hit: Hit | None) -> None:
            super().__init__()
            self.hit = hit

    class HitChosen(Message):
        def __init__(self, hit: Hit) -> None:
            super().__init__()
            self.hit = hit

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.hits: list[Hit] = []

    @property
    def current(self) -> Hit | None:
        if self.highlighted is None or not self.hits:
            return None
        return self.hits[self.highlighted]

    def show_hits(self, hits: list[Hit]) -> None:
        self.hits = list(hits)
        top = hits[0].score if hits else 0.0
        self.set_options(Option(hit_label(hit, top)) for hit in hits)
        self.highlighted = 0 if hits else None
        if not hits:
            self.post_message(self.HitHighlighted(None))

    def show_message(self, message: str) -> None:
        """Instead of hits: a hint, "no results", or an error."""
        self.hits = []
        self.set_options([Option(Content.styled(message, "$text-muted"), disabled=True)])
        self.post_message(self.HitHighlighted(None))

    def move(self, delta: int) -> None:
        if self.hits:
            self.action_cursor_down() if delta > 0 else self.action_cursor_up()

    def _on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if self.hits:
            self.post_message(self.HitHighlighted(self.hits[event.option_index]))

    def _on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if self.hits:
            self.post_message(self.HitChosen(self.hits[event.option_index]))

    async def _on_click(self, event: events.Click) -> None:
        # A click previews; opening an editor takes a double click (or Enter).
        event.prevent_default()
        index = event.style.meta.get("option")
        if index is None or not self.hits:
            return
        self.highlighted = index
        if event.chain >= 2:
            self.action_select()
