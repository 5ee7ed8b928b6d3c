"""Query history across sessions, in `$XDG_STATE_HOME/codesearch/history.json`.

History is a convenience: an unreadable or unwritable file never stops the TUI,
it just starts empty or stays in memory.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

HISTORY_LIMIT = 500


def default_history_path() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "codesearch" / "history.json"


class QueryHistory:
    """Past queries, oldest first, each once; a cursor walks them like a shell does."""

    def __init__(self, path: Path | None = None, limit: int = HISTORY_LIMIT):
        self.path = path or default_history_path()
        self.limit = limit
        self.entries: list[str] = self._load()
        self._cursor: int | None = None  # index into entries while recalling; None otherwise

    def _load(self) -> list[str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        if not isinstance(data, list):
            return []
        return [q for q in data if isinstance(q, str) and q.strip()][-self.limit:]

    def add(self, query: str) -> None:
        """Remember `query` as the most recent one, and save."""
        query = query.strip()
        self._cursor = None
        if not query or (self.entries and self.entries[-1] == query):
            return
        kept = [q for q in self.entries if q != query][-(self.limit - 1):]
        self.entries = [*kept, query]
        self._save()

    def _save(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.entries, ensure_ascii=False, indent=0), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            pass

    @property
    def recalling(self) -> bool:
        return self._cursor is not None

    def previous(self) -> str | None:
        """One step back in time; None when there is nothing older."""
        if not self.entries:
            return None
        if self._cursor is None:
            self._cursor = len(self.entries) - 1
        elif self._cursor > 0:
            self._cursor -= 1
        else:
            return None
        return self.entries[self._cursor]

    def next(self) -> str | None:
        """One step forward; "" past the newest entry (back to an empty query)."""
        if self._cursor is None:
            return None
        self._cursor += 1
        if self._cursor >= len(self.entries):
            self._cursor = None
            return ""
        return self.entries[self._cursor]

    def stop_recalling(self) -> None:
        self._cursor = None
