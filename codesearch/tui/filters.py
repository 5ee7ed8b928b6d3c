"""Filter widgets: language, kind and path glob, for the mouse and the keyboard."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Input, Select

from codesearch.chunk import KINDS


class FilterBar(Horizontal):
    """Three filters side by side; posts `FilterBar.Changed` when any of them changes."""

    class Changed(Message):
        def __init__(self, language: str | None, kind: str | None, glob: str | None) -> None:
            super().__init__()
            self.language = language
            self.kind = kind
            self.glob = glob

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._languages: list[str] = []   # what the language filter offers

    def compose(self) -> ComposeResult:
        yield Select[str]([], prompt="any language", id="language-filter", compact=True)
        yield Select[str]([(kind, kind) for kind in KINDS], prompt="any kind",
                          id="kind-filter", compact=True)
        yield Input(placeholder="path glob, e.g. src/** or *.go", id="glob-filter", compact=True)

    @property
    def language(self) -> str | None:
        return _value(self.query_one("#language-filter", Select))

    @property
    def kind(self) -> str | None:
        return _value(self.query_one("#kind-filter", Select))

    @property
    def glob(self) -> str | None:
        return self.query_one("#glob-filter", Input).value.strip() or None

    def set_languages(self, languages: list[str]) -> None:
        """Offer the languages the index holds, keeping the current choice if still there."""
        select = self.query_one("#language-filter", Select)
        current = self.language
        if languages == self._languages:
            return
        self._languages = list(languages)
        with self.prevent(Select.Changed):
            select.set_options((lang, lang) for lang in languages)
            if current in languages:
                select.value = current

    @on(Select.Changed)
    @on(Input.Changed, "#glob-filter")
    def _changed(self, event: Message) -> None:
        event.stop()
        self.post_message(self.Changed(self.language, self.kind, self.glob))


def _value(select: Select) -> str | None:
    return None if select.value is Select.NULL else str(select.value)
