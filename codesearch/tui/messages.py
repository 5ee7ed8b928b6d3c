"""Messages the app's workers post back to the UI thread."""

from __future__ import annotations

from textual.message import Message

from codesearch.indexer import IndexSummary
from codesearch.search import Hit
from codesearch.tui.query import ParsedQuery
from codesearch.tui.session import IndexStatus


class IndexMissing(Message):
    """The repository has no index yet."""


class IndexReady(Message):
    """The index is open and the model loaded: searches can start."""

    def __init__(self, status: IndexStatus, languages: list[str]) -> None:
        super().__init__()
        self.status = status
        self.languages = languages


class IndexFailed(Message):
    """Opening or updating the index failed; `error` says why, for the user."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class StatusCounted(Message):
    """A fresh status, stale files counted."""

    def __init__(self, status: IndexStatus) -> None:
        super().__init__()
        self.status = status


class IndexProgress(Message):
    def __init__(self, done: int, total: int) -> None:
        super().__init__()
        self.done = done
        self.total = total


class Reindexed(Message):
    def __init__(self, summary: IndexSummary, status: IndexStatus, languages: list[str]) -> None:
        super().__init__()
        self.summary = summary
        self.status = status
        self.languages = languages


class SearchDone(Message):
    """Hits for the query as it was at `generation` (the app drops older generations)."""

    def __init__(self, generation: int, query: ParsedQuery, hits: list[Hit], error: str,
                 seconds: float) -> None:
        super().__init__()
        self.generation = generation
        self.query = query
        self.hits = hits
        self.error = error
        self.seconds = seconds
