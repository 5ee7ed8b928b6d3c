"""The preview pane: the hit's whole file, highlighted, scrolled to the hit, its lines marked."""

from __future__ import annotations

import importlib
from functools import cache
from pathlib import Path
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import TextArea
from textual.widgets.text_area import LanguageDoesNotExist, SyntaxAwareDocument

from codesearch.search import Hit

# Lines shown above a chunk that is taller than the pane.
CONTEXT_ABOVE = 3

# Grammars we ship for chunking whose highlight queries Textual does not bundle:
# TextArea name -> (module, language function, modules whose HIGHLIGHTS_QUERY to use).
# Only queries written for the grammar itself: a borrowed one (JavaScript's for
# TypeScript) fails to compile, so those languages stay plain text.
_EXTRA_GRAMMARS = {
    "c": ("tree_sitter_c", "language", ("tree_sitter_c",)),
    "cpp": ("tree_sitter_cpp", "language", ("tree_sitter_c", "tree_sitter_cpp")),
    "ruby": ("tree_sitter_ruby", "language", ("tree_sitter_ruby",)),
    "php": ("tree_sitter_php", "language_php", ("tree_sitter_php",)),
}


@cache
def _compiled_query(language, source: str):
    """One tree-sitter Query per grammar and query text, kept for the whole process.

    Textual's TextArea compiles its highlight query again on every `load_text`, which
    is every hit the preview shows: 5-20 ms each, and on py-tree-sitter 0.26.1 freeing
    a compiled query whose pattern pairs a text predicate with `#is-not?` (Textual's
    JavaScript highlights do) corrupts the heap and later segfaults. Compiled once
    and never freed, both go away.
    """
    from tree_sitter import Query

    return Query(language, source)


def _prepare_query_once(document: SyntaxAwareDocument, query: str):
    return _compiled_query(document.language, query)


# Every TextArea in the process goes through this; the preview is the only one with a
# language. Same contract as Textual's own method (a Query for the document's language).
SyntaxAwareDocument.prepare_query = _prepare_query_once


@cache
def _extra_language(name: str):
    """(tree-sitter Language, highlight query) for one of _EXTRA_GRAMMARS, or None."""
    try:
        from tree_sitter import Language

        module, function, query_modules = _EXTRA_GRAMMARS[name]
        language = Language(getattr(importlib.import_module(module), function)())
        query = "\n".join(importlib.import_module(m).HIGHLIGHTS_QUERY for m in query_modules)
        _compiled_query(language, query)  # one that does not fit the grammar fails here
        return language, query
    except Exception:  # a missing grammar or a query for another version: plain text
        return None


class Preview(TextArea):
    """Read-only view of a file with one chunk's lines marked."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"preview--chunk"}

    def __init__(self, **kwargs) -> None:
        super().__init__(read_only=True, show_line_numbers=True, soft_wrap=False,
                         highlight_cursor_line=False,
                         placeholder="the highlighted hit's file shows here", **kwargs)
        self._loaded: tuple[str, int, int] | None = None  # (path, mtime_ns, size) on screen
        self._marked: tuple[int, int] | None = None       # 0-based first and last line
        self._mark_style = Style()
        self.hit: Hit | None = None

    def on_mount(self) -> None:
        for name in _EXTRA_GRAMMARS:
            found = _extra_language(name)
            if found:
                self.register_language(name, *found)
        self.watch(self.app, "theme", self._follow_app_theme)

    def _follow_app_theme(self) -> None:
        # TextArea's default syntax colours are made for dark backgrounds (pale yellow
        # names are unreadable on white), so light app themes get a light syntax theme.
        self.theme = "css" if self.app.current_theme.dark else "github_light"

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

    def render_lines(self, crop: Region) -> list[Strip]:
        # Looked up once per paint, not once per line.
        self._mark_style = Style(bgcolor=self.get_component_rich_style("preview--chunk").bgcolor)
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        line = self.scroll_offset.y + y  # no soft wrap: screen rows are document lines
        if self._marked is None or not self._marked[0] <= line <= self._marked[1]:
            return strip
        return Strip(Segment.apply_style(strip, post_style=self._mark_style), strip.cell_length)
