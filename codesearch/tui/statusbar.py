"""The status bar: index size, model, age, staleness, skipped files, and what is going on."""

from __future__ import annotations

from datetime import UTC, datetime

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import ProgressBar, Static

from codesearch.tui.session import IndexStatus


def ago(when: datetime | None, now: datetime | None = None) -> str:
    """"3 min ago", "2 h ago", ... for the time of the last index run."""
    if when is None:
        return "never"
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = ((now or datetime.now(UTC)) - when).total_seconds()
    if seconds < 60:
        return "just now"
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if unit == 'day' and n > 1 else ''} ago"
    return "just now"


def status_content(status: IndexStatus, now: datetime | None = None) -> Content:
    """Most useful first, so that a narrow terminal cuts the least useful."""
    parts = [Content.from_markup("[b]$chunks[/b] chunks · [b]$files[/b] files",
                                 chunks=f"{status.chunks:,}", files=f"{status.files:,}")]
    if status.stale is None:
        parts.append(Content.from_markup("[dim]checking for changes…[/]"))
    elif status.stale:
        parts.append(Content.from_markup("[$warning]$n stale[/]", n=f"{status.stale:,}"))
    else:
        parts.append(Content.from_markup("[$success]up to date[/]"))
    if status.skipped:
        parts.append(Content.from_markup("[@click=app.show_skipped][$warning]$n skipped[/][/]",
                                         n=f"{len(status.skipped):,}"))
    parts.append(Content(f"indexed {ago(status.indexed_at, now)}"
                         + ("" if status.complete else " (incomplete)")))
    parts.append(Content.from_markup("[dim]$model[/]", model=status.model))
    return Content(" · ").join(parts)


class StatusBar(Horizontal):
    """One line: index facts on the left, a progress bar while indexing, activity on the right."""

    def compose(self) -> ComposeResult:
        yield Static("", id="index-facts")
        yield ProgressBar(id="index-progress", show_eta=False)
        yield Static("", id="activity")

    def on_mount(self) -> None:
        self.query_one(ProgressBar).display = False

    def show_status(self, status: IndexStatus) -> None:
        self.query_one("#index-facts", Static).update(status_content(status))

    def show_error(self, message: str) -> None:
        self.query_one("#index-facts", Static).update(
            Content.from_markup("[$error]$message[/]", message=message))

    def show_activity(self, text: str) -> None:
        self.query_one("#activity", Static).update(text)

    def show_progress(self, done: int, total: int) -> None:
        bar = self.query_one(ProgressBar)
        bar.display = True
        bar.update(total=total or None, progress=done)

    def hide_progress(self) -> None:
        self.query_one(ProgressBar).display = False
