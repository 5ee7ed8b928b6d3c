"""The query box: search as you type, arrows that steer the results, shell-like history."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Input

from codesearch.tui.history import QueryHistory


class QueryInput(Input):
    """Up/down move through the results, except that up in an empty box (or on a recalled
    query) steps back through history, like a shell prompt; ctrl+p/ctrl+n always do."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "up", "Previous result / older query", show=False),
        Binding("down", "down", "Next result", show=False),
        Binding("ctrl+p", "recall(-1)", "Older query", show=False),
        Binding("ctrl+n", "recall(1)", "Newer query", show=False),
    ]

    class Navigate(Message):
        """Move the results cursor by `delta`."""

        def __init__(self, delta: int) -> None:
            super().__init__()
            self.delta = delta

    def __init__(self, history: QueryHistory, **kwargs) -> None:
        super().__init__(**kwargs)
        self.history = history
        self._recalled: str | None = None  # the history entry on display, until edited

    def action_up(self) -> None:
        if not self.value.strip() or self.value == self._recalled:
            self.action_recall(-1)
        else:
            self.post_message(self.Navigate(-1))

    def action_down(self) -> None:
        self.post_message(self.Navigate(1))

    def action_recall(self, step: int) -> None:
        query = self.history.previous() if step < 0 else self.history.next()
        if query is None:
            self.app.bell()
            return
        self._recalled = query
        self.value = query
        self.cursor_position = len(query)

    def remember(self) -> None:
        """Add the current query to the history (when the user acts on its results)."""
        self.history.add(self.value)
        self._recalled = None

    def _on_input_changed(self, event: Input.Changed) -> None:
        # Typing ends a recall: the next ctrl+p starts again from the newest query.
        if event.value != self._recalled:
            self._recalled = None
            self.history.stop_recalling()
