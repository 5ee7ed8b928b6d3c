"""The codesearch TUI: search as you type, preview, open in $EDITOR, re-index.

Widgets talk through messages; the app owns the index session and the workers:
one group for searches (exclusive: a new query supersedes the one in flight) and
one for opening, counting stale files and re-indexing.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from typing import ClassVar

from textual import on, work
from textual.app import App, ComposeResult, SuspendNotSupported
from textual.binding import Binding, BindingType
from textual.containers import Container, Horizontal, Vertical
from textual.events import Resize
from textual.timer import Timer
from textual.widgets import Footer, Input, Label, OptionList
from textual.worker import get_current_worker

from codesearch.errors import UserError
from codesearch.indexer import IndexSummary
from codesearch.search import Hit
from codesearch.tui.editor import editor_command, find_editor
from codesearch.tui.filters import FilterBar
from codesearch.tui.history import QueryHistory
from codesearch.tui.messages import (
    IndexFailed,
    IndexMissing,
    IndexProgress,
    IndexReady,
    Reindexed,
    SearchDone,
    StatusCounted,
)
from codesearch.tui.preview import Preview
from codesearch.tui.query import ParsedQuery, parse_query
from codesearch.tui.query_input import QueryInput
from codesearch.tui.results import ResultsList
from codesearch.tui.screens import BuildScreen, HelpScreen, SkippedScreen
from codesearch.tui.session import IndexSession, IndexStatus
from codesearch.tui.statusbar import StatusBar

# Long enough to skip the queries of a word being typed, short enough to feel instant.
DEBOUNCE_SECONDS = 0.04
RESULT_LIMIT = 30
# Below this width the preview goes under the results instead of beside them.
STACK_BELOW_COLUMNS = 110
STALE_RECOUNT_SECONDS = 60.0


class CodeSearchApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "codesearch"
    ENABLE_COMMAND_PALETTE = False  # ctrl+p is query history here
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "clear_or_quit", "Clear",
                tooltip="Back to the query box, then clear it, then quit"),
        Binding("ctrl+o", "open", "Open", tooltip="Open the highlighted hit in $VISUAL/$EDITOR"),
        Binding("ctrl+y", "copy_location", "Copy", tooltip="Copy the highlighted hit's path:line"),
        Binding("ctrl+r", "reindex", "Re-index", tooltip="Re-index the files changed since"),
        Binding("ctrl+t", "toggle_theme", "Theme", tooltip="Switch between light and dark"),
        Binding("f1", "help", "Help", key_display="F1/?", tooltip="Show every key"),
        Binding("question_mark", "help", "Help", show=False),
        Binding("f2", "filter('language')", "Language filter", show=False),
        Binding("f3", "filter('kind')", "Kind filter", show=False),
        Binding("f4", "filter('glob')", "Path glob filter", show=False),
        Binding("f6", "show_skipped", "Skipped files", show=False),
    ]

    def __init__(self, session: IndexSession, history: QueryHistory | None = None,
                 debounce: float = DEBOUNCE_SECONDS) -> None:
        super().__init__()
        self.session = session
        self.history = history or QueryHistory()
        self.debounce = debounce
        self.status: IndexStatus | None = None
        self.ready = False              # index open, model loaded
        self.indexing = False
        self._generation = 0            # bumped by every change to the query or the filters
        self._search_timer: Timer | None = None
        # (generation, time) of the last results on screen; the latency benchmark reads it.
        self.results_shown: tuple[int, float] = (-1, 0.0)

    # -- layout ---------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Vertical(id="top"):
            with Horizontal(id="query-row"):
                yield Label("❯", id="prompt")
                yield QueryInput(self.history, id="query", compact=True,
                                 placeholder="search code by meaning   lang:go kind:function "
                                             "path:src/**")
            yield FilterBar(id="filters")
        with Container(id="main"):
            yield ResultsList(id="results")
            yield Preview(id="preview")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = str(self.session.root)
        self.query_one(ResultsList).show_message("opening the index…")
        self.query_one(StatusBar).show_activity("loading model…")
        self.query_one(QueryInput).focus()
        self.open_index()
        self.set_interval(STALE_RECOUNT_SECONDS, self.count_stale)

    def on_resize(self, event: Resize) -> None:
        self.query_one("#main").set_class(event.size.width < STACK_BELOW_COLUMNS, "-stacked")

    # -- opening and status -----------------------------------------------------

    @work(thread=True, exclusive=True, group="index", exit_on_error=False)
    def open_index(self) -> None:
        try:
            if self.session.searcher is None and not self.session.open():
                self.post_message(IndexMissing())
                return
            self.post_message(IndexReady(self.session.status(count_stale=False),
                                         self.session.languages()))
            self.post_message(StatusCounted(self.session.status(count_stale=True)))
        except Exception as err:  # shown in the UI: a broken index must not kill the app
            self.post_message(IndexFailed(_describe(err)))

    @work(thread=True, exclusive=True, group="stale", exit_on_error=False)
    def count_stale(self) -> None:
        if not self.ready or self.indexing:
            return
        with contextlib.suppress(Exception):  # a recount is a nicety; the next one may work
            self.post_message(StatusCounted(self.session.status(count_stale=True)))

    def on_index_missing(self) -> None:
        self.query_one(ResultsList).show_message("no index yet")
        self.query_one(StatusBar).show_activity("")

        def built(summary: IndexSummary | None) -> None:
            if summary is None:
                self.exit()
            else:
                self.open_index()

        self.push_screen(BuildScreen(self.session), built)

    def on_index_ready(self, message: IndexReady) -> None:
        self.ready = True
        self._show_status(message.status)
        self.query_one(FilterBar).set_languages(message.languages)
        self.query_one(StatusBar).show_activity("")
        self._search_now()

    def on_status_counted(self, message: StatusCounted) -> None:
        self._show_status(message.status)

    def on_index_failed(self, message: IndexFailed) -> None:
        self.query_one(ResultsList).show_message(message.error)
        self.query_one(StatusBar).show_error(message.error)
        self.query_one(StatusBar).show_activity("")

    def _show_status(self, status: IndexStatus) -> None:
        self.status = status
        self.query_one(StatusBar).show_status(status)

    # -- searching --------------------------------------------------------------

    def current_query(self) -> ParsedQuery:
        filters = self.query_one(FilterBar)
        return parse_query(self.query_one(QueryInput).value).with_filters(
            filters.language, filters.kind, filters.glob)

    @on(Input.Changed, "#query")
    @on(FilterBar.Changed)
    def _query_changed(self) -> None:
        self._generation += 1
        if self._search_timer is not None:
            self._search_timer.stop()
        self._search_timer = self.set_timer(self.debounce, self._search_now)

    def _search_now(self) -> None:
        if not self.ready:
            return  # searched as soon as the index is open
        query = self.current_query()
        results = self.query_one(ResultsList)
        if not query.text:
            self.workers.cancel_group(self, "search")
            chunks = f"{self.status.chunks:,} chunks" if self.status else "the index"
            results.show_message(f"type to search {chunks} by meaning and by name")
            results.border_title = ""
            self.call_after_refresh(self._results_on_screen, self._generation)
            return
        self.search(query, self._generation)

    @work(thread=True, exclusive=True, group="search", exit_on_error=False)
    def search(self, query: ParsedQuery, generation: int) -> None:
        started = time.perf_counter()
        try:
            hits, error = self.session.search(query, RESULT_LIMIT), ""
        except UserError as err:
            hits, error = [], str(err)
        except Exception as err:
            hits, error = [], _describe(err)
        if not get_current_worker().is_cancelled:
            self.post_message(SearchDone(generation, query, hits, error,
                                         time.perf_counter() - started))

    def on_search_done(self, message: SearchDone) -> None:
        if message.generation != self._generation:
            return  # the query or a filter changed since: a newer search is on its way
        results = self.query_one(ResultsList)
        if message.error:
            results.show_message(message.error)
        elif not message.hits:
            results.show_message("no results")
        else:
            results.show_hits(message.hits)
        results.border_title = f"{len(message.hits)} hits · {message.seconds * 1000:.0f} ms"
        self.call_after_refresh(self._results_on_screen, message.generation)

    def _results_on_screen(self, generation: int) -> None:
        self.results_shown = (generation, time.perf_counter())

    @property
    def results_current(self) -> bool:
        """Whether the results on screen answer the query and filters as they are now."""
        return self.results_shown[0] == self._generation

    # -- results, preview, editor -------------------------------------------------

    def on_query_input_navigate(self, message: QueryInput.Navigate) -> None:
        self.query_one(ResultsList).move(message.delta)

    @on(Input.Submitted, "#query")
    def _query_submitted(self) -> None:
        results = self.query_one(ResultsList)
        if results.hits:
            self.query_one(QueryInput).remember()
            results.focus()

    def on_results_list_hit_highlighted(self, message: ResultsList.HitHighlighted) -> None:
        self.query_one(Preview).show_hit(self.session.root, message.hit)

    def on_results_list_hit_chosen(self, message: ResultsList.HitChosen) -> None:
        self.open_in_editor(message.hit)

    def action_open(self) -> None:
        hit = self.query_one(ResultsList).current
        if hit is not None:
            self.open_in_editor(hit)

    def open_in_editor(self, hit: Hit) -> None:
        self.query_one(QueryInput).remember()
        editor = find_editor()
        if editor is None:
            self.notify("Set $VISUAL or $EDITOR to open files (ctrl+y copies path:line).",
                        severity="warning")
            return
        argv = editor_command(editor, str(self.session.root / hit.path), hit.start_line)
        try:
            with self.suspend():
                error = _run(argv)
        except SuspendNotSupported:  # headless (tests) or the web: no terminal to hand over
            error = _run(argv)
        if error:
            self.notify(f"could not run {argv[0]}: {error}", severity="error")

    def action_copy_location(self) -> None:
        hit = self.query_one(ResultsList).current
        if hit is None:
            return
        self.query_one(QueryInput).remember()
        location = f"{hit.path}:{hit.start_line}"
        self.copy_to_clipboard(location)
        self.notify(f"copied {location}", timeout=2)

    # -- re-indexing ----------------------------------------------------------------

    def action_reindex(self) -> None:
        if not self.ready:
            return
        if self.indexing:
            self.notify("already re-indexing")
            return
        self.indexing = True
        self.query_one(StatusBar).show_progress(0, 0)
        self.query_one(StatusBar).show_activity("re-indexing…")
        self.reindex()

    @work(thread=True, exclusive=True, group="index", exit_on_error=False)
    def reindex(self) -> None:
        worker = get_current_worker()

        def progress(done: int, total: int) -> None:
            if worker.is_cancelled:  # quitting: stop, the next run picks up from here
                raise InterruptedError
            self.post_message(IndexProgress(done, total))

        try:
            summary = self.session.update(progress)
            self.post_message(Reindexed(summary, self.session.status(count_stale=True),
                                        self.session.languages()))
        except InterruptedError:
            pass
        except Exception as err:
            self.post_message(IndexFailed(f"re-indexing failed: {_describe(err)}"))

    def on_index_progress(self, message: IndexProgress) -> None:
        self.query_one(StatusBar).show_progress(message.done, message.total)
        self.query_one(StatusBar).show_activity(
            f"re-indexing {message.done:,}/{message.total:,} files")

    def on_reindexed(self, message: Reindexed) -> None:
        self.indexing = False
        s = message.summary
        bar = self.query_one(StatusBar)
        bar.hide_progress()
        bar.show_activity("")
        self._show_status(message.status)
        self.query_one(FilterBar).set_languages(message.languages)
        self.notify(f"re-indexed {s.files_indexed} changed files, removed {s.files_deleted} "
                    f"({s.chunks_total:,} chunks) in {s.seconds:.1f} s", timeout=4)
        self._generation += 1  # what is on screen may be out of date
        self._search_now()

    @on(IndexFailed)
    def _index_failed_while_indexing(self) -> None:
        if self.indexing:
            self.indexing = False
            self.query_one(StatusBar).hide_progress()

    # -- the rest -------------------------------------------------------------------

    def action_clear_or_quit(self) -> None:
        # Step by step: back to the query (what it says is kept), then clear it, then quit.
        query = self.query_one(QueryInput)
        if self.focused is not query:
            query.focus()
        elif query.value:
            query.value = ""
        else:
            self.exit()

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"

    def action_filter(self, which: str) -> None:
        widget = self.query_one(f"#{which}-filter")
        widget.focus()
        if which != "glob":
            widget.action_show_overlay()  # type: ignore[attr-defined]

    def action_show_skipped(self) -> None:
        if self.status and self.status.skipped:
            self.push_screen(SkippedScreen(self.status.skipped))
        else:
            self.notify("the last index run skipped nothing")

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.key_help()))

    def key_help(self) -> list[tuple[str, list[tuple[str, str]]]]:
        """Every binding, read from the widgets themselves so that the help never drifts."""
        sections = []
        for title, bindings in (("Anywhere", self.BINDINGS),
                                ("In the query box", QueryInput.BINDINGS),
                                ("In the results", [*ResultsList.BINDINGS, *OptionList.BINDINGS])):
            seen: set[str] = set()   # a subclass's binding hides its parent's for the same key
            rows: dict[str, list[str]] = {}
            for binding in bindings:
                if not isinstance(binding, Binding) or not binding.description:
                    continue
                keys = [k.strip() for k in binding.key.split(",") if k.strip() not in seen]
                seen.update(keys)
                if keys:
                    rows.setdefault(binding.tooltip or binding.description, []).extend(
                        self.get_key_display(Binding(k, "")) for k in keys)
            sections.append((title, [(", ".join(keys), desc) for desc, keys in rows.items()]))
        sections[0][1].extend([
            (self.get_key_display(Binding("ctrl+q", "")), "Quit"),
            ("tab, shift+tab", "Next/previous widget"),
            ("click, double click", "Preview, open in $EDITOR (results)"),
        ])
        return sections

    async def action_quit(self) -> None:
        self.query_one(QueryInput).remember()
        await super().action_quit()


def _run(argv: list[str]) -> str:
    """Run the editor and wait; an error message, or "" when it ran."""
    try:
        subprocess.run(argv, check=False)
    except OSError as err:
        return err.strerror or str(err)
    return ""


def _describe(err: Exception) -> str:
    return str(err) if isinstance(err, UserError) else f"{type(err).__name__}: {err}"
