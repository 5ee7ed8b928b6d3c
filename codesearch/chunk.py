"""Chunks: the unit we embed, store and return.

`chunk_file` turns one file's text into chunks: tree-sitter definitions for code
(functions, methods, classes, with their docs), heading sections for prose, line
windows for everything else. The parsing itself lives in parse.py.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field

from codesearch import parse
from codesearch.languages import CODE_LANGUAGES
from codesearch.parse import CONTAINER_ONLY_KINDS, Definition

# Kinds a chunk can have; `--kind` filters on these.
KINDS = ("function", "method", "class", "type", "module", "section", "text")


@dataclass(frozen=True)
class Chunk:
    path: str  # repo-relative, '/'-separated
    language: str
    kind: str  # one of KINDS
    symbol: str  # qualified name, e.g. "Parser.parse"; "" for windows
    parent: str  # qualified name of the enclosing definition, or ""
    start_line: int  # 1-based, inclusive
    end_line: int  # 1-based, inclusive
    code: str  # the source lines of the chunk (leading doc comments included)
    signature: str = ""  # the definition's header line(s), e.g. "def parse(self, text):"
    doc: str = ""  # docstring or leading comment, comment markers stripped

    @property
    def content_hash(self) -> str:
        """Identity of what gets embedded, independent of where the file lives.

        Moved or copied code keeps its hash, so its vector is reused without re-embedding.
        """
        h = hashlib.blake2b(digest_size=16)
        for part in (self.language, self.kind, self.symbol, self.signature, self.code):
            h.update(part.encode("utf-8", "surrogatepass"))
            h.update(b"\0")
        return h.hexdigest()

    def embedding_text(self) -> str:
        """The text the encoder sees: a short context header, then the code.

        The header carries path, symbol and signature so they survive when the
        tokenizer truncates a long body; docstrings sit right after the signature
        in the code, so they survive too.
        """
        header = [self.path]
        if self.symbol:
            header.append(f"{self.kind} {self.symbol}")
        if self.signature:
            header.append(self.signature.strip())
        return "\n".join(header) + "\n" + self.code


@dataclass
class FileChunks:
    chunks: list[Chunk] = field(default_factory=list)
    parse_error: str = ""  # non-empty when the parser failed and we fell back to line windows


# Words and single punctuation marks; the 1.3 factor approximates sub-word tokenisation.
_TOKEN_RE = re.compile(r"\w+|[^\w\s]")
_WORD_RE = re.compile(r"\w")
WINDOW_MAX_LINES = 40  # line windows for uncovered code and plain text
SECTION_MAX_LINES = 60  # prose sections longer than this are split into parts
_TEXT_SYMBOL_CHARS = 60


def estimate_tokens(text: str) -> int:
    """A cheap upper-ish estimate of how many encoder tokens `text` becomes."""
    return math.ceil(len(_TOKEN_RE.findall(text)) * 1.3)


def _within_budget(text: str, budget: int) -> bool:
    """`estimate_tokens(text) <= budget`, answered cheaply for big texts: every
    whitespace-separated word holds at least one token, and `str.split` on a prefix is
    far faster than the token regex over a whole class."""
    if math.ceil(len(text[: budget * 16].split()) * 1.3) > budget:
        return False
    # The estimate only grows with the text, so an over-budget prefix decides it.
    prefix = text[: budget * 4]
    if len(prefix) < len(text) and estimate_tokens(prefix) > budget:
        return False
    return estimate_tokens(text) <= budget


def chunk_file(path: str, text: str, language: str, max_chunk_tokens: int = 256) -> FileChunks:
    """Split one file into chunks, ordered by (start_line, end_line). Never raises."""
    lines: list[str] = []
    try:
        text = _normalise(text)
        if not text.strip():
            return FileChunks()
        lines = text.split("\n")
        result = _chunk_by_language(path, text, lines, language, max_chunk_tokens)
    except Exception as exc:  # a file we cannot chunk must not stop indexing
        reason = f"chunking failed: {type(exc).__name__}: {exc}"[:200]
        result = _fallback(path, language, lines, max_chunk_tokens, reason)
    result.chunks.sort(key=lambda chunk: (chunk.start_line, chunk.end_line))
    return result


def _normalise(text: str) -> str:
    """Drop a leading BOM and turn CRLF into LF; line numbers are unchanged."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r\n" in text:
        text = text.replace("\r\n", "\n")
    return text


def _chunk_by_language(
    path: str, text: str, lines: list[str], language: str, budget: int
) -> FileChunks:
    if language in CODE_LANGUAGES and parse.supports(language):
        return _chunk_code(path, text, lines, language, budget)
    builder = _ChunkBuilder(path, language, lines)
    if language == "markdown":
        _emit_sections(builder, _markdown_headings(lines), budget)
    elif language == "rst":
        _emit_sections(builder, _rst_headings(lines), budget)
    elif language == "text":
        _emit_paragraph_windows(builder, budget)
    else:
        _emit_windows(builder, [(0, len(lines))], "text", budget)
    return FileChunks(builder.chunks)


def _fallback(path: str, language: str, lines: list[str], budget: int, reason: str) -> FileChunks:
    """Line windows over the whole file, for when the structured path failed."""
    builder = _ChunkBuilder(path, language, lines)
    kind = "module" if language in CODE_LANGUAGES else "text"
    try:
        _emit_windows(builder, [(0, len(lines))], kind, budget)
    except Exception:  # even windows failed: report the file as unchunkable
        return FileChunks(parse_error=reason)
    return FileChunks(builder.chunks, parse_error=reason)


class _ChunkBuilder:
    """Makes chunks for one file; line numbers are 1-based and inclusive."""

    def __init__(self, path: str, language: str, lines: list[str]) -> None:
        self.path = path
        self.language = language
        self.lines = lines
        self.chunks: list[Chunk] = []

    def code(self, start_line: int, end_line: int) -> str:
        return "\n".join(self.lines[start_line - 1 : end_line])

    def add(
        self,
        kind: str,
        start_line: int,
        end_line: int,
        *,
        symbol: str = "",
        parent: str = "",
        code: str | None = None,
        signature: str = "",
        doc: str = "",
    ) -> None:
        if code is None:
            code = self.code(start_line, end_line)
        if not code.strip():
            return
        self.chunks.append(
            Chunk(
                path=self.path,
                language=self.language,
                kind=kind,
                symbol=symbol,
                parent=parent,
                start_line=start_line,
                end_line=end_line,
                code=code,
                signature=signature,
                doc=doc,
            )
        )


# ---------------------------------------------------------------- code


def _chunk_code(path: str, text: str, lines: list[str], language: str, budget: int) -> FileChunks:
    source = text.encode("utf-8", "surrogatepass")
    try:
        parsed = parse.parse_definitions(source, language)
    except Exception as exc:  # a grammar bug must not lose the file
        return _fallback(path, language, lines, budget, f"tree-sitter failed: {exc}"[:200])
    emitter = _DefinitionEmitter(_ChunkBuilder(path, language, lines), source, budget)
    for definition in parsed.definitions:
        emitter.emit(definition)
    definition_lines = sum(emitter.covered)
    if parsed.has_error and 2 * definition_lines < _count_nonblank(lines):
        return _fallback(path, language, lines, budget, "syntax errors; indexed as line windows")
    for line in emitter.container_lines:  # `namespace Foo {`, `impl Bar {` and their closers
        emitter.covered[line - 1] = 1
    _emit_windows(emitter.builder, _uncovered_runs(emitter.covered), "module", budget)
    return FileChunks(emitter.builder.chunks)


def _count_nonblank(lines: list[str]) -> int:
    return sum(1 for line in lines if line.strip())


def _uncovered_runs(covered: bytearray) -> list[tuple[int, int]]:
    """Maximal [start, end) index ranges of lines no definition covers."""
    runs: list[tuple[int, int]] = []
    start = covered.find(0)
    while start >= 0:
        end = covered.find(1, start)
        if end < 0:
            end = len(covered)
        runs.append((start, end))
        start = covered.find(0, end)
    return runs


class _DefinitionEmitter:
    """Turns parsed definitions into chunks: whole definitions, or skeleton + members."""

    def __init__(self, builder: _ChunkBuilder, source: bytes, budget: int) -> None:
        self.builder = builder
        self.source = source
        self.budget = budget
        self.covered = bytearray(len(builder.lines))  # 1 where a definition chunk covers the line
        self.container_lines: list[int] = []

    def emit(self, definition: Definition) -> None:
        if definition.kind in CONTAINER_ONLY_KINDS:
            self.container_lines.extend((definition.header_line, definition.end_line))
            for child in definition.children:
                self.emit(child)
            return
        start, end = definition.start_line, definition.end_line
        self.covered[start - 1 : end] = b"\x01" * (end - start + 1)
        code = self.builder.code(start, end)
        is_big_container = definition.kind in ("class", "type") and definition.children
        if is_big_container and not _within_budget(code, self.budget):
            self._add(definition, self._skeleton(definition))
            for child in definition.children:
                self.emit(child)
        else:
            self._add(definition, code)

    def _add(self, definition: Definition, code: str) -> None:
        self.builder.add(
            definition.kind,
            definition.start_line,
            definition.end_line,
            symbol=definition.symbol,
            parent=definition.parent,
            code=code,
            signature=definition.signature,
            doc=definition.doc,
        )

    def _skeleton(self, definition: Definition) -> str:
        """The container's text with every multi-line member body replaced by `...`."""
        source = self.source
        line_end = source.find(b"\n", definition.end_byte)
        end = len(source) if line_end < 0 else line_end
        pieces: list[bytes] = []
        position = definition.start_byte
        for child in sorted(definition.children, key=lambda c: c.body_start):
            body_start, body_end = child.body_start, child.body_end
            if body_start < position or source.find(b"\n", child.header_byte, body_end) < 0:
                continue  # no body, or a one-line member that reads as a signature anyway
            pieces.append(source[position:body_start])
            pieces.append(b"{ ... }" if source[body_start : body_start + 1] == b"{" else b"...")
            position = body_end
        pieces.append(source[position:end])
        return b"".join(pieces).decode("utf-8", "replace")


# ---------------------------------------------------------------- windows


def _emit_windows(
    builder: _ChunkBuilder, runs: list[tuple[int, int]], kind: str, budget: int
) -> None:
    for run_start, run_end in runs:
        for start, end in _pack_windows(
            builder.lines, run_start, run_end, WINDOW_MAX_LINES, budget
        ):
            code = builder.code(start + 1, end)
            if _WORD_RE.search(code):  # punctuation-only leftovers like `}` carry nothing
                builder.add(kind, start + 1, end, code=code)


def _emit_paragraph_windows(builder: _ChunkBuilder, budget: int) -> None:
    lines = builder.lines
    for start, end in _pack_windows(lines, 0, len(lines), WINDOW_MAX_LINES, budget):
        title = lines[start].strip()[:_TEXT_SYMBOL_CHARS]
        builder.add("section", start + 1, end, symbol=title)


def _pack_windows(
    lines: list[str], start: int, end: int, max_lines: int, budget: int
) -> list[tuple[int, int]]:
    """Group lines[start:end] into [start, end) windows of whole blank-separated paragraphs,
    each at most `max_lines` lines and `budget` tokens; oversized paragraphs are cut by lines.
    Windows start and end on non-blank lines."""
    windows: list[tuple[int, int]] = []
    window: list[int] | None = None  # [start, end, tokens]
    for para_start, para_end in _paragraphs(lines, start, end):
        tokens = estimate_tokens("\n".join(lines[para_start:para_end]))
        if window and para_end - window[0] <= max_lines and window[2] + tokens <= budget:
            window[1], window[2] = para_end, window[2] + tokens
            continue
        if window:
            windows.append((window[0], window[1]))
        if para_end - para_start <= max_lines and tokens <= budget:
            window = [para_start, para_end, tokens]
            continue
        pieces = _split_lines(lines, para_start, para_end, max_lines, budget)
        windows.extend(pieces[:-1])
        last_start, last_end = pieces[-1]
        window = [last_start, last_end, budget]  # treat as full: nothing joins a cut piece
    if window:
        windows.append((window[0], window[1]))
    return windows


def _paragraphs(lines: list[str], start: int, end: int) -> list[tuple[int, int]]:
    """[start, end) ranges of consecutive non-blank lines."""
    paragraphs: list[tuple[int, int]] = []
    para_start = -1
    for index in range(start, end):
        if lines[index].strip():
            if para_start < 0:
                para_start = index
        elif para_start >= 0:
            paragraphs.append((para_start, index))
            para_start = -1
    if para_start >= 0:
        paragraphs.append((para_start, end))
    return paragraphs


def _split_lines(
    lines: list[str], start: int, end: int, max_lines: int, budget: int
) -> list[tuple[int, int]]:
    """Cut a blank-free block into pieces by line count and tokens (at least one line each)."""
    pieces: list[tuple[int, int]] = []
    piece_start, tokens = start, 0
    for index in range(start, end):
        line_tokens = estimate_tokens(lines[index])
        too_long = index - piece_start >= max_lines or tokens + line_tokens > budget
        if index > piece_start and too_long:
            pieces.append((piece_start, index))
            piece_start, tokens = index, 0
        tokens += line_tokens
    pieces.append((piece_start, end))
    return pieces


# ---------------------------------------------------------------- prose


@dataclass(frozen=True)
class _Heading:
    line: int  # 0-based index of the heading's first line (an overline, or the title)
    level: int
    title: str
    height: int  # lines the heading occupies: title plus under/overlines


def _emit_sections(builder: _ChunkBuilder, headings: list[_Heading], budget: int) -> None:
    """One chunk per heading section (split into parts when long), symbol = heading path."""
    lines = builder.lines
    first = headings[0].line if headings else len(lines)
    _emit_section(builder, 0, first, "", "", budget)  # text before the first heading
    path: list[_Heading] = []
    for index, heading in enumerate(headings):
        following = headings[index + 1] if index + 1 < len(headings) else None
        end = following.line if following else len(lines)
        while path and path[-1].level >= heading.level:
            path.pop()
        parent = " > ".join(h.title for h in path)
        path.append(heading)
        is_empty = not any(line.strip() for line in lines[heading.line + heading.height : end])
        if following and following.level > heading.level and is_empty:
            continue  # an empty parent heading: its title lives on in the child's symbol
        _emit_section(builder, heading.line, end, " > ".join(h.title for h in path), parent, budget)


def _emit_section(
    builder: _ChunkBuilder, start: int, end: int, symbol: str, parent: str, budget: int
) -> None:
    lines = builder.lines
    while end > start and not lines[end - 1].strip():
        end -= 1
    while start < end and not lines[start].strip():
        start += 1
    if start >= end:
        return
    section_tokens = estimate_tokens("\n".join(lines[start:end]))
    if end - start <= SECTION_MAX_LINES and section_tokens <= budget:
        parts = [(start, end)]
    else:
        parts = _pack_windows(lines, start, end, SECTION_MAX_LINES, budget)
    for part_start, part_end in parts:
        builder.add("section", part_start + 1, part_end, symbol=symbol, parent=parent)


_FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_ATX_RE = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT_RE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
# Lines that cannot be a setext title: list items, quotes, indented code, tables.
_NOT_TITLE_RE = re.compile(r"^(?: {4}|\t|\s*(?:[-*+>|]|\d+[.)])(?:\s|$))")


def _markdown_headings(lines: list[str]) -> list[_Heading]:
    """ATX (`## Title`) and setext (underlined) headings outside fences and front matter."""
    headings: list[_Heading] = []
    fence = ""  # the opening fence while inside a fenced block
    index = _front_matter_end(lines)
    while index < len(lines):
        line = lines[index]
        fence_match = _FENCE_RE.match(line)
        if fence:
            if _closes_fence(line, fence):
                fence = ""
        elif fence_match:
            fence = fence_match.group(1)
        elif (atx := _ATX_RE.match(line)) is not None:
            headings.append(_Heading(index, len(atx.group(1)), (atx.group(2) or "").strip(), 1))
        elif _is_setext_title(lines, index):
            level = 1 if lines[index + 1].strip()[0] == "=" else 2
            headings.append(_Heading(index, level, line.strip(), 2))
            index += 1  # skip the underline
        index += 1
    return headings


def _closes_fence(line: str, fence: str) -> bool:
    """A closing fence uses the opening's character, at least as many, and nothing else."""
    match = _FENCE_RE.match(line)
    if match is None or match.group(1)[0] != fence[0] or len(match.group(1)) < len(fence):
        return False
    return not line[match.end() :].strip()


def _front_matter_end(lines: list[str]) -> int:
    """Index after a leading `---` ... `---` YAML block, or 0."""
    if not lines or lines[0].strip() != "---":
        return 0
    for index in range(1, len(lines)):
        if lines[index].strip() in ("---", "..."):
            return index + 1
    return 0


def _is_setext_title(lines: list[str], index: int) -> bool:
    line = lines[index]
    if index + 1 >= len(lines) or not line.strip() or _NOT_TITLE_RE.match(line):
        return False
    return _SETEXT_RE.match(lines[index + 1]) is not None


_RST_ADORNMENT_CHARS = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def _rst_adornment(line: str) -> str:
    """The adornment character when `line` is a section under/overline, else ""."""
    stripped = line.rstrip()
    if len(stripped) < 2 or stripped == "::" or stripped[0] not in _RST_ADORNMENT_CHARS:
        return ""
    return stripped[0] if stripped.count(stripped[0]) == len(stripped) else ""


def _rst_headings(lines: list[str]) -> list[_Heading]:
    """Underlined and over+underlined titles; levels follow the order styles first appear."""
    headings: list[_Heading] = []
    styles: dict[tuple[str, bool], int] = {}
    index = 0
    while index < len(lines):
        found = _rst_heading_at(lines, index)
        if found is None:
            index += 1
            continue
        style, title, height = found
        level = styles.setdefault(style, len(styles) + 1)
        headings.append(_Heading(index, level, title, height))
        index += height
    return headings


def _rst_heading_at(lines: list[str], index: int) -> tuple[tuple[str, bool], str, int] | None:
    """(style, title, lines used) when a section title starts at `index`."""
    line = lines[index]
    following = lines[index + 1] if index + 1 < len(lines) else ""
    overline = _rst_adornment(line)
    closing = _rst_adornment(lines[index + 2]) if index + 2 < len(lines) else ""
    if overline and following.strip() and closing == overline:
        return (overline, True), following.strip(), 3
    title = line.rstrip()
    if not title or title[0].isspace() or overline:
        return None
    if index > 0 and lines[index - 1].strip():
        return None  # titles follow a blank line; this is a paragraph line
    underline = _rst_adornment(following)
    if underline and len(following.rstrip()) >= min(len(title), 3):
        return (underline, False), title, 2
    return None
