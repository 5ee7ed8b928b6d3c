"""The preview pane: the hit's whole file, highlighted, scrolled to the hit, its lines marked."""

from __future__ import annotations

import importlib
from functools import cache
from pathlib import Path
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widgets import TextArea
from textual.widgets.text_area import LanguageDoesNotExist

from codesearch.search import Hit

# Lines shown above a chunk that is taller than the pane.
CONTEXT_ABOVE = 3

# Grammars we ship for chunking whose highlight queries Textual does not bundle:
# TextArea name -> (module, language function, modules whose HIGHLIGHTS_QUERY to use).
_EXTRA_GRAMMARS = {
    "c": ("tree_sitter_c", "language", ("tree_sitter_c",)),
    "cpp": ("tree_sitter_cpp", "language", ("tree_sitter_c", "tree_sitter_cpp")),
    "csharp": ("tree_sitter_c_sharp", "language", ("tree_sitter_c_sharp",)),
    "ruby": ("tree_sitter_ruby", "language", ("tree_sitter_ruby",)),
    "php": ("tree_sitter_php", "language_php", ("tree_sitter_php",)),
    "typescript": ("tree_sitter_typescript", "language_typescript", ("tree_sitter_javascript",)),
    "tsx": ("tree_sitter_typescript", "language_tsx", ("tree_sitter_javascript",)),
}


@cache
def _extra_language(name: str):
    """(tree-sitter Language, highlight query) for one of _EXTRA_GRAMMARS, or None."""
    try:
        from tree_sitter import Language, Query

        module, function, query_modules = _EXTRA_GRAMMARS[name]
        language = Language(getattr(importlib.import_module(module), function)())
        query = "\n".join(importlib.import_module(m).HIGHLIGHTS_QUERY for m in query_modules)
        Query(language, query)  # a query that does not fit the grammar would fail later
        return language, query
    except Exception:  # a missing grammar or a query for another version: plain text
        return None


class Preview(TextArea):
    """Read-only view of a file with one chunk's lines marked."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"preview--chunk"}

    def __init__(self, **kwargs) -> None:
        super().__init__(read_only=True, show_line_numbers=True, soft_wrap=False,
                         highlight_cursor_line=False, **kwargs)
        self._loaded: tuple[str, int, int] | None = None  # (path, mtime_ns, size) on screen
        self._marked: tuple[int, int] | None = None       # 0-based first and last line
        self.hit: Hit | None = None

    def on_mount(self) -> None:
        for name in _EXTRA_GRAMMARS:
            found = _extra_language(name)
            if found:
                self.register_language(name, *found)

    def show_hit(self, root: Path, hit: Hit | None) -> None:
        self.hit = hit
        if hit is None:
            self._loaded, self._marked = None, None
            self.border_title = ""
            self.load_text("")
            return
        first, last = hit.start_line - 1, hit.end_line - 1
        file = root / hit.path
        try:
            stat = file.stat()
            key = (hit.path, stat.st_mtime_ns, stat.st_size)
            if key != self._loaded:
                self._load(file.read_text(encoding="utf-8", errors="replace"), hit.language)
                self.line_number_start = 1
                self._loaded = key
        except OSError:  # gone since it was indexed: the indexed code is all we have
            self._load(hit.code, hit.language)
            self.line_number_start = hit.start_line
            self._loaded = None
            first, last = 0, hit.end_line - hit.start_line
        self._marked = (first, last)
        self.border_title = f"{hit.path}:{hit.start_line}-{hit.end_line}"
        self.move_cursor((first, 0))
        self.scroll_to(y=self._top_line(first, last), animate=False)
        self.refresh()

    def _load(self, text: str, language: str) -> None:
        wanted = language if language in self.available_languages else None
        if wanted != self.language:
            self.load_text("")  # so that switching grammar does not re-parse the old file
            try:
                self.language = wanted
            except LanguageDoesNotExist:  # listed by Textual, grammar not installed
                self.language = None
        self.load_text(text)

    def _top_line(self, first: int, last: int) -> int:
        """Centre a chunk that fits; otherwise start a few lines above it."""
        height = self.scrollable_content_region.height
        spare = height - (last - first + 1)
        above = spare // 2 if spare > 2 * CONTEXT_ABOVE else CONTEXT_ABOVE
        return max(0, first - above)

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        if self._marked is None:
            return strip
        line = self.scroll_offset.y + y  # no soft wrap: screen rows are document lines
        if not self._marked[0] <= line <= self._marked[1]:
            return strip
        background = self.get_component_rich_style("preview--chunk").bgcolor
        return Strip(Segment.apply_style(strip, post_style=Style(bgcolor=background)),
                     strip.cell_length)
