"""The index behind the TUI: open it, search it, tell how fresh it is, bring it up to date.

No Textual in here; the app calls these from worker threads. The embedded Qdrant
shard may be open only once per process, so the session keeps the one store the
Searcher opened and hands that same store to the Indexer when re-indexing.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from codesearch.config import Config
from codesearch.embed import Encoder
from codesearch.errors import UserError
from codesearch.indexer import Indexer, IndexSummary
from codesearch.languages import language_for_path
from codesearch.locate import find_root, open_store, resolve_config
from codesearch.search import Hit, Searcher
from codesearch.tui.query import ParsedQuery

# (files done, files to do); called from the indexing thread.
ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class IndexStatus:
    """What the status bar shows."""

    root: Path
    chunks: int
    files: int
    model: str
    indexed_at: datetime | None
    complete: bool
    skipped: tuple[tuple[str, str], ...]   # (path, reason) from the last run, parse fallbacks too
    stale: int | None = None               # files changed, new or deleted since; None: not counted


class IndexSession:
    """One repository's index, its Searcher, and updates to it."""

    def __init__(self, root: Path, config: Config, encoder: Encoder | None = None):
        self.root = root
        self.config = config
        self.searcher: Searcher | None = None
        self._encoder = encoder  # loaded on open unless given (tests share one)
        # Counting stale files and re-indexing both scan the whole store: one at a time.
        self._update_lock = threading.Lock()

    @classmethod
    def locate(cls, path: Path, config_path: Path | None = None,
               encoder: Encoder | None = None) -> IndexSession:
        """The index of the repository at or around `path` (which need not be indexed yet)."""
        path = Path(path)
        if not path.exists():
            raise UserError(f"path {path} does not exist")
        root = find_root(path if path.is_dir() else path.parent)
        return cls(root, resolve_config(root, Path(config_path) if config_path else None), encoder)

    # -- opening --------------------------------------------------------------

    def open(self) -> bool:
        """Open the index and load the model; False when there is no index yet."""
        try:
            store = open_store(self.root, self.config)
        except UserError as err:
            if str(err).startswith("no index"):
                return False
            raise
        try:
            if not store.read_meta():
                store.close()
                return False
            self.searcher = Searcher(self.root, self.config, store, self._encoder)
        except BaseException:
            store.close()
            raise
        self._encoder = self.searcher.encoder
        # The first forward pass of a model is several times slower than the next ones;
        # pay for it now rather than on the user's first keystroke.
        self.searcher.search("warm up the encoder", limit=1)
        return True

    def build(self, on_progress: ProgressCallback,
              log: Callable[[str], None] | None = None) -> IndexSummary:
        """Index the repository from scratch, then open it."""
        indexer = ReportingIndexer(self.root, self.config, encoder=self._encoder, log=log,
                                   on_progress=on_progress)
        summary = indexer.run()
        self._encoder = indexer.encoder or self._encoder
        if not self.open():
            raise UserError(f"indexing {self.root} left no index behind")
        return summary

    def close(self) -> None:
        # Textual cancels thread workers on exit but does not wait for them: take the
        # update lock so that a re-index (which stops at its next file once cancelled)
        # or a stale count is done with the store before it closes; the Searcher does
        # the same for a search in flight.
        with self._update_lock:
            if self.searcher is not None:
                self.searcher.close()
                self.searcher = None

    # -- using ----------------------------------------------------------------

    def _open_searcher(self) -> Searcher:
        if self.searcher is None:
            raise UserError(f"no index open for {self.root}")
        return self.searcher

    def search(self, query: ParsedQuery, limit: int) -> list[Hit]:
        return self._open_searcher().search(
            query.text, limit=limit, languages=list(query.languages) or None,
            kinds=list(query.kinds) or None, glob=query.glob)

    def languages(self) -> list[str]:
        """Languages present in the index, for the language filter."""
        paths = self._open_searcher().store.paths()
        return sorted({lang for p in paths if (lang := language_for_path(p))})

    def status(self, count_stale: bool = True) -> IndexStatus:
        searcher = self._open_searcher()
        meta = searcher.store.read_meta() or {}
        stale = self._count_stale(searcher, meta) if count_stale else None
        indexed_at = None
        if meta.get("indexed_at"):
            with contextlib.suppress(ValueError):
                indexed_at = datetime.fromisoformat(meta["indexed_at"])
        return IndexStatus(
            root=self.root, chunks=searcher.store.count(), files=int(meta.get("files") or 0),
            model=str(meta.get("model_id", "?")).split("@")[0], indexed_at=indexed_at,
            complete=bool(meta.get("complete")),
            skipped=tuple((str(p), str(r)) for p, r in meta.get("skipped") or []),
            stale=stale)

    def _count_stale(self, searcher: Searcher, meta: dict) -> int:
        # The same test as `codesearch status`: a file whose stat differs only counts
        # when its content does too.
        with self._update_lock:
            indexer = Indexer(self.root, self.config, encoder=searcher.encoder)
            plan = indexer.plan(searcher.store, meta)
            changed = [f for f in plan.todo if f.path not in plan.states
                       or indexer.file_changed(f, plan.states.get(f.path))]
            return len(changed) + len(plan.gone)

    def update(self, on_progress: ProgressCallback) -> IndexSummary:
        """Re-index what changed, through the store the Searcher already holds open."""
        searcher = self._open_searcher()
        with self._update_lock:
            indexer = ReportingIndexer(self.root, self.config, encoder=searcher.encoder,
                                       on_progress=on_progress)
            summary = indexer.run(store=searcher.store)
            searcher.meta = searcher.store.read_meta() or searcher.meta
        return summary


class ReportingIndexer(Indexer):
    """An Indexer that reports files done out of files to do, for a progress bar.

    The core Indexer reports progress only to a tqdm bar on stderr; this hooks the
    same three points that bar is driven from.
    """

    def __init__(self, *args, on_progress: ProgressCallback, **kwargs):
        super().__init__(*args, **kwargs)
        self._on_progress = on_progress
        self._done = 0
        self._total = 0

    def _tick(self, files: int) -> None:
        self._done = min(self._total, self._done + files)
        self._on_progress(self._done, self._total)

    def plan(self, *args, **kwargs):
        plan = super().plan(*args, **kwargs)
        self._done, self._total = 0, len(plan.todo)
        self._on_progress(0, self._total)
        return plan

    def _read_and_chunk(self, *args, **kwargs):
        pending = super()._read_and_chunk(*args, **kwargs)
        if pending is None:  # skipped or unchanged: done without embedding
            self._tick(1)
        return pending

    def _write(self, store, pending, *args, **kwargs):
        super()._write(store, pending, *args, **kwargs)
        self._tick(len(pending))
