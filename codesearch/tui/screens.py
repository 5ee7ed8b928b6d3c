"""Screens over the search view: help, skipped files, and building a first index."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Center, Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Footer, Label, ProgressBar, Static
from textual.worker import get_current_worker

from codesearch.errors import UserError
from codesearch.indexer import IndexSummary
from codesearch.tui.messages import IndexProgress
from codesearch.tui.session import IndexSession

QUERY_SYNTAX = (
    ("lang:go  lang:py,ts", "only these languages (aliases: py js ts rs sh md ...)"),
    ("kind:function", "only this kind: function method class type module section text"),
    ("path:src/**  path:*.go", "only paths matching this gitignore-style glob"),
)


class HelpScreen(ModalScreen[None]):
    """Every key, by where it works, and the query syntax."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,f1", "dismiss", "Close", show=True),
    ]

    def __init__(self, sections: list[tuple[str, list[tuple[str, str]]]]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for title, rows in [*self.sections, ("Query syntax", list(QUERY_SYNTAX))]:
            table.add_row(Text(title, style="bold underline"), "")
            for keys, description in rows:
                table.add_row(keys, description)
            table.add_row("", "")
        with Vertical(id="help-dialog"):
            yield Label("codesearch keys", id="help-title")
            with VerticalScroll():
                yield Static(table, id="help-table")
            yield Label("escape closes this", id="help-hint")


class SkippedScreen(ModalScreen[None]):
    """Files the last index run skipped or could not parse, and why."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "dismiss", "Close", show=True)]

    def __init__(self, skipped: tuple[tuple[str, str], ...]) -> None:
        super().__init__()
        self.skipped = skipped

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True, overflow="ellipsis")
        table.add_column(style="dim")
        for path, reason in self.skipped:
            table.add_row(path, reason)
        with Vertical(id="skipped-dialog"):
            yield Label(f"{len(self.skipped)} files skipped or parsed as plain lines "
                        "in the last index run", id="skipped-title")
            with VerticalScroll():
                yield Static(table)


class BuildScreen(Screen[IndexSummary | None]):
    """Shown when the repository has no index: offers to build one, with progress.

    Dismisses with the run's summary once the index is built and open, or with
    None when the user would rather not.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,ctrl+q", "give_up", "Quit", show=True),
    ]
    # Focused once the whole screen is mounted: the buttons sit two containers deep,
    # and nested children may still be mounting when the screen's own Mount arrives.
    AUTO_FOCUS = "#build"

    def __init__(self, session: IndexSession) -> None:
        super().__init__()
        self.session = session

    def compose(self) -> ComposeResult:
        with Vertical(id="build-dialog"):
            yield Label("No index yet", id="build-title")
            yield Static(
                f"[b]{self.session.root}[/b] has not been indexed. Building an index reads "
                f"every source file and embeds it with {self.session.config.model.name}; "
                "later runs only touch what changed.", id="build-text", markup=True)
            yield ProgressBar(id="build-progress", show_eta=True)
            yield Label("", id="build-phase")
            with Center(), Horizontal(id="build-buttons"):
                yield Button("Build index", id="build", variant="primary")
                yield Button("Quit", id="quit")
        yield Footer()

    @on(Button.Pressed, "#quit")
    def action_give_up(self) -> None:
        self.workers.cancel_all()
        self.dismiss(None)

    @on(Button.Pressed, "#build")
    def start_build(self) -> None:
        self.query_one("#build", Button).disabled = True
        self.query_one("#build-progress").add_class("-running")
        self.query_one("#build-phase", Label).update("looking for files…")
        self.build()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def build(self) -> None:
        worker = get_current_worker()

        def progress(done: int, total: int) -> None:
            if worker.is_cancelled:  # the user quit: stop here, the next run resumes
                raise InterruptedError
            self.post_message(IndexProgress(done, total))

        try:
            summary = self.session.build(progress, log=lambda text: self.app.call_from_thread(
                self.query_one("#build-phase", Label).update, text))
        except InterruptedError:
            return
        except UserError as err:
            self.app.call_from_thread(self._failed, str(err))
            return
        self.app.call_from_thread(self.dismiss, summary)

    def on_index_progress(self, message: IndexProgress) -> None:
        self.query_one("#build-progress", ProgressBar).update(total=message.total or None,
                                                              progress=message.done)
        self.query_one("#build-phase", Label).update(
            f"indexed {message.done:,} of {message.total:,} files")

    def _failed(self, error: str) -> None:
        self.query_one("#build-phase", Label).update(f"[$error]{error}[/]")
        self.query_one("#build", Button).disabled = False
