"""Mine training pairs from source trees with the indexer's own walker and chunker.

Code pairs (cpt-code, CodeSearchNet): the summary of a function's docstring or leading
comment (its first paragraph, up to the first tag such as `@param` or `Args:`) -> the
function as the indexer embeds it (`Chunk.embedding_text()`), with that documentation
removed from the code so the pair cannot be matched by copying.

Text pairs (cpt-text's neighbouring text): heading -> section body, and adjacent
paragraphs, from Markdown/reST/text sections; adjacent paragraphs of long docstrings.

Filters in CodeSearchNet's spirit: at least 3 code lines; no tests (by path or by name);
no dunders, constructors, boilerplate (`toString`, `String`) or short accessors; query
3-256 words; exact and near duplicates removed (a normalised hash of the code or prose:
case, whitespace and punctuation ignored), across all sources, train sources first so
that the eval split never repeats training code.

Sources: each SRC directory that looks like one repository or package (it has `.git`, a
project file such as pyproject.toml, package.json, go.mod, Cargo.toml, pom.xml, or is an
installed Python package with `__init__.py`) is one source; any other SRC is a folder of
sources, one per immediate subdirectory. A source goes to
the eval split when blake2b(name) falls in the first `eval_percent` of 100 buckets: by
repository, never by pair, so near-identical code of one project never straddles splits.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import itertools
import json
import re
import textwrap
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from codesearch.chunk import Chunk, chunk_file
from codesearch.errors import UserError
from codesearch.languages import CODE_LANGUAGES, DOC_LANGUAGES
from codesearch.walk import read_source, walk
from trainer.data import Pair, normalised_hash, write_pairs

REPO_MARKERS = (".git", "pyproject.toml", "setup.py", "setup.cfg", "package.json", "go.mod",
                "Cargo.toml", "pom.xml", "build.gradle", "build.gradle.kts", "Gemfile",
                "composer.json", "CMakeLists.txt", "meson.build", "mix.exs",
                "__init__.py")  # an installed package, e.g. site-packages/requests
# A tiny budget makes the chunker split every class into skeleton + methods: a pair per
# method. Functions are never split, whatever the budget.
CODE_CHUNK_TOKENS = 1
PROSE_CHUNK_TOKENS = 256  # as the indexer's default, so sections look as they will at search
MIN_CODE_LINES = 3
MIN_WORDS, MAX_WORDS = 3, 256
ACCESSOR_MAX_LINES = 5

_TEST_DIRS = frozenset({"test", "tests", "testing", "__tests__", "spec", "specs", "e2e",
                        "__mocks__", "testdata", "test_data", "fixtures"})
_TEST_FILE = re.compile(r"(^test_.*\.py$|_test\.\w+$|^conftest\.py$|\.(test|spec)\.\w+$"
                        r"|(Test|Tests|Spec)\.\w+$|_spec\.rb$)")
_BOILERPLATE = frozenset({"constructor", "__construct", "initialize", "toString", "equals",
                          "hashCode", "String", "GoString", "Error", "clone", "finalize",
                          "main", "init"})
_ACCESSOR = re.compile(r"^(get|set|is|has)([A-Z_]|$)")
_WORD = re.compile(r"\w+")
_CAMEL_PART = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
# Where a docstring's summary ends: tags and section headers of the common doc styles.
_DOC_SECTION = re.compile(
    r"^\s*(@\w+|:\w+|\.\. |>>>|(Args|Arguments|Parameters|Params|Returns?|Yields?|Raises|"
    r"Throws|Examples?|Notes?|See also|Usage|Attributes)\s*:?\s*$)", re.IGNORECASE)
_NOT_A_DOC = re.compile(r"^\s*(todo|fixme|xxx|hack|noqa|nolint|type:|pylint|eslint|"
                        r"copyright|spdx|license|code generated|auto-?generated|-\*-)",
                        re.IGNORECASE)
_FENCE = re.compile(r"^\s*(```|~~~)")


@dataclass(frozen=True)
class Source:
    name: str
    root: Path
    split: str


@dataclass
class MineReport:
    sources: dict[str, dict] = field(default_factory=dict)
    filtered: Counter = field(default_factory=Counter)

    def manifest(self, eval_percent: int) -> dict:
        totals: dict[str, dict] = {}
        for info in self.sources.values():
            total = totals.setdefault(info["split"], {"sources": 0, "code": 0, "text": 0,
                                                      "languages": {}})
            total["sources"] += 1
            for language, counts in info["languages"].items():
                into = total["languages"].setdefault(language, {"code": 0, "text": 0})
                for kind, count in counts.items():
                    into[kind] += count
                    total[kind] += count
        return {"version": 1, "eval_percent": eval_percent, "totals": totals,
                "filtered": dict(sorted(self.filtered.items())), "sources": self.sources}


# ---------------------------------------------------------------- sources


def looks_like_repo(folder: Path) -> bool:
    return any((folder / marker).exists() for marker in REPO_MARKERS)


def split_of(name: str, eval_percent: int) -> str:
    bucket = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big") % 100
    return "eval" if bucket < eval_percent else "train"


def find_sources(roots: list[Path], eval_percent: int = 10) -> list[Source]:
    """Sources in a fixed order: train ones first (they win duplicate ties), then eval."""
    folders: list[Path] = []
    for root in roots:
        if not root.is_dir():
            raise UserError(f"{root} is not a directory")
        if looks_like_repo(root):
            folders.append(root)
        else:
            folders.extend(child for child in sorted(root.iterdir())
                           if child.is_dir() and not child.name.startswith("."))
    sources: list[Source] = []
    taken: set[str] = set()
    for folder in folders:
        name = re.sub(r"[^\w.-]+", "_", folder.resolve().name)
        if name in taken:  # two SRCs with a same-named repository
            name = re.sub(r"[^\w.-]+", "_", f"{folder.resolve().parent.name}-{name}")
        taken.add(name)
        sources.append(Source(name, folder, split_of(name, eval_percent)))
    return sorted(sources, key=lambda s: (s.split != "train", s.name))


# ---------------------------------------------------------------- filters


def name_words(name: str) -> list[str]:
    return [w.lower() for part in re.split(r"[_\W]+", name) for w in _CAMEL_PART.findall(part)]


def is_test(path: str, symbol: str) -> bool:
    parts = path.split("/")
    if any(part.lower() in _TEST_DIRS for part in parts[:-1]) or _TEST_FILE.search(parts[-1]):
        return True
    return any(word in ("test", "tests", "testing") for word in name_words(symbol))


def is_trivial(chunk: Chunk, code: str) -> bool:
    """Dunders, constructors, boilerplate overrides and short getters/setters."""
    name = chunk.symbol.rsplit(".", 1)[-1].rsplit("::", 1)[-1]
    if re.fullmatch(r"__\w+__", name) or name in _BOILERPLATE:
        return True
    if chunk.parent and name == chunk.parent.rsplit(".", 1)[-1]:
        return True  # Java/C#/C++ constructor
    lines = _code_lines(code)
    is_property = re.search(r"^\s*@(property|\w+\.setter)\b", code, re.MULTILINE)
    return bool(_ACCESSOR.match(name) or is_property) and lines <= ACCESSOR_MAX_LINES


def _code_lines(code: str) -> int:
    return sum(1 for line in code.split("\n") if line.strip())


def word_count(text: str) -> int:
    return len(_WORD.findall(text))


def summary_of(doc: str) -> str:
    """First paragraph of a docstring, stopping at the first tag or section header."""
    lines: list[str] = []
    for line in doc.split("\n"):
        if not line.strip():
            if lines:
                break
            continue
        if _DOC_SECTION.match(line):
            break
        lines.append(line.strip())
    return " ".join(lines)


def prose_of_doc(doc: str) -> str:
    """A docstring up to its first tag or section header (Args:, @param, >>>, ...)."""
    lines = doc.split("\n")
    end = next((i for i, line in enumerate(lines) if _DOC_SECTION.match(line)), len(lines))
    return "\n".join(lines[:end])


# ---------------------------------------------------------------- code pairs


def code_without_doc(chunk: Chunk) -> str | None:
    """The chunk's code without its docstring or leading doc comment; None when unsure."""
    lines = chunk.code.split("\n")
    header = _header_index(lines, chunk.signature)
    kept = _drop_comments(lines[:header]) + lines[header:]
    if chunk.language == "python":
        kept = _drop_python_docstring(kept)
        if kept is None:
            return None
    code = "\n".join(kept)
    first_doc_line = next((line for line in chunk.doc.split("\n") if line.strip()), "")
    if len(first_doc_line) >= 12 and first_doc_line.strip() in code:
        return None  # the doc lives somewhere we did not strip: the pair would leak it
    return code


def _header_index(lines: list[str], signature: str) -> int:
    """Index of the line where the definition itself starts (after its leading comments)."""
    signature = " ".join(signature.split())
    probe = signature[:20]
    for index, line in enumerate(lines):
        text = " ".join(line.split())
        if text and (text.startswith(probe) or signature.startswith(text)):
            return index
    return 0


def _drop_comments(lines: list[str]) -> list[str]:
    """Keep decorators and attributes above a definition; drop comments and blank lines."""
    kept: list[str] = []
    closing = ""
    for line in lines:
        text = line.strip()
        if closing:
            if closing in text:
                closing = ""
            continue
        if text.startswith("/*"):
            closing = "" if "*/" in text[2:] else "*/"
        elif text == "=begin":
            closing = "=end"
        elif text.startswith(("@", "#[", "#![", "[")):
            kept.append(line)
    return kept


def _drop_python_docstring(lines: list[str]) -> list[str] | None:
    try:
        tree = ast.parse(textwrap.dedent("\n".join(lines)))
    except (SyntaxError, ValueError):
        return None  # e.g. Python 2: we cannot tell where the docstring is
    definition = next((node for node in tree.body if isinstance(
        node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)), None)
    if definition is None or not definition.body:
        return None
    first = definition.body[0]
    if not (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)):
        return lines  # documented by a leading comment, already dropped
    if first.lineno == definition.lineno:
        return None  # `def f(): "doc"` on one line
    return lines[: first.lineno - 1] + lines[first.end_lineno :]


def code_pair(chunk: Chunk, source: str) -> tuple[Pair | None, str]:
    """(pair, "") or (None, why it was filtered)."""
    if chunk.kind not in ("function", "method"):
        return None, ""
    if not chunk.doc.strip():
        return None, "no_doc"
    if is_test(chunk.path, chunk.symbol):
        return None, "test"
    query = summary_of(chunk.doc)
    if _NOT_A_DOC.match(query) or not MIN_WORDS <= word_count(query) <= MAX_WORDS:
        return None, "doc_length"
    code = code_without_doc(chunk)
    if code is None:
        return None, "doc_not_separable"
    if _code_lines(code) < MIN_CODE_LINES:
        return None, "short_code"
    if is_trivial(chunk, code):
        return None, "trivial"
    stripped = dataclasses.replace(chunk, code=code, doc="")
    pair = Pair(query=query, document=stripped.embedding_text(), kind="code",
                language=chunk.language, source=source, path=chunk.path, symbol=chunk.symbol,
                query_hash=normalised_hash(query), document_hash=normalised_hash(code))
    return pair, ""


# ---------------------------------------------------------------- text pairs


def paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs, without fenced code blocks, tables or directives;
    an empty string stands where a code block separated two paragraphs."""
    found: list[str] = []
    current: list[str] = []
    in_fence = False
    for line in [*text.split("\n"), ""]:
        if _FENCE.match(line):
            in_fence = not in_fence
            current = []
            found.append("")  # code between two paragraphs: they are not neighbours
            continue
        if in_fence:
            continue
        if line.strip():
            current.append(line.strip())
            continue
        if current and not current[0].startswith(("|", "..", "<", "![", "[!")):
            found.append(" ".join(current))
        current = []
    return found


def _section_body(chunk: Chunk) -> tuple[str, str]:
    """(heading title, body) when the chunk starts with its heading, else ("", code)."""
    title = chunk.symbol.rsplit(" > ", 1)[-1].strip()
    lines = chunk.code.split("\n")
    for index, line in enumerate(lines[:3]):
        if title and line.strip().strip("#").strip() == title:
            rest = lines[index + 1 :]
            if rest and len(rest[0].strip()) >= 2 and len(set(rest[0].strip())) == 1:
                rest = rest[1:]  # a setext or reST underline
            return title, "\n".join(rest).strip()
    return "", chunk.code


def text_pairs(chunk: Chunk, source: str) -> list[Pair]:
    """Heading -> body and adjacent paragraphs of a prose chunk or of a long docstring."""
    pairs: list[tuple[str, str]] = []
    if chunk.language in DOC_LANGUAGES:
        title, body = _section_body(chunk) if chunk.language != "text" else ("", chunk.code)
        found = paragraphs(body)
        # The body as prose (code blocks and tables dropped): the text tower's documents
        # are prose, and a heading over a table says little the table's words would not.
        prose = "\n\n".join(part for part in found if part)
        if title and word_count(prose) >= MIN_WORDS:
            pairs.append((title, prose))
    else:
        found = paragraphs(prose_of_doc(chunk.doc))
    pairs.extend(itertools.pairwise(found))
    return [Pair.make(query, document, kind="text", language=chunk.language, source=source,
                      path=chunk.path, symbol=chunk.symbol)
            for query, document in pairs
            if MIN_WORDS <= word_count(query) <= MAX_WORDS and word_count(document) >= MIN_WORDS
            and not _DOC_SECTION.match(query) and not _DOC_SECTION.match(document)
            and not _NOT_A_DOC.match(query)]


# ---------------------------------------------------------------- the walk


def chunks_of(root: Path) -> Iterator[Chunk]:
    for file in walk(root).files:
        if file.language not in CODE_LANGUAGES and file.language not in DOC_LANGUAGES:
            continue
        text, _reason = read_source(file)
        if text is None:
            continue
        budget = CODE_CHUNK_TOKENS if file.language in CODE_LANGUAGES else PROSE_CHUNK_TOKENS
        yield from chunk_file(file.path, text, file.language, budget).chunks


def mine(roots: list[Path], out: Path, eval_percent: int = 10, progress: bool = True) -> dict:
    """Write OUT/{train,eval}/SOURCE.jsonl and OUT/manifest.json; returns the manifest."""
    sources = find_sources(roots, eval_percent)
    if not sources:
        raise UserError("no sources found under " + ", ".join(map(str, roots)))
    out.mkdir(parents=True, exist_ok=True)
    for split in ("train", "eval"):  # a re-run must not leave shards of removed sources
        (out / split).mkdir(exist_ok=True)
        for stale in (out / split).glob("*.jsonl"):
            stale.unlink()
    report = MineReport()
    seen: set[tuple[str, str]] = set()  # (kind, normalised document hash)
    for source in tqdm(sources, desc="mining", unit="source", disable=not progress):
        pairs: list[Pair] = []
        for chunk in chunks_of(source.root):
            found: list[Pair] = []
            if chunk.language in CODE_LANGUAGES:
                pair, reason = code_pair(chunk, source.name)
                if reason:
                    report.filtered[reason] += 1
                elif pair is not None:
                    found.append(pair)
            symbol = chunk.symbol if chunk.language in CODE_LANGUAGES else ""
            if (chunk.language in DOC_LANGUAGES or chunk.doc) and not is_test(chunk.path, symbol):
                found.extend(text_pairs(chunk, source.name))
            for pair in found:
                key = (pair.kind, pair.document_hash)
                if key in seen:
                    report.filtered["duplicate"] += 1
                    continue
                seen.add(key)
                pairs.append(pair)
        if pairs:
            write_pairs(out / source.split / f"{source.name}.jsonl", pairs)
        report.sources[source.name] = _source_info(source, pairs)
    manifest = report.manifest(eval_percent)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _source_info(source: Source, pairs: list[Pair]) -> dict:
    languages: dict[str, dict[str, int]] = {}
    for pair in pairs:
        counts = languages.setdefault(pair.language, {"code": 0, "text": 0})
        counts[pair.kind] += 1
    code_counts = {lang: counts["code"] for lang, counts in languages.items() if counts["code"]}
    main = max(sorted(code_counts), key=code_counts.get) if code_counts else (
        max(sorted(languages), key=lambda lang: languages[lang]["text"]) if languages else "")
    return {"split": source.split, "root": str(source.root), "language": main,
            "pairs": {"code": sum(c["code"] for c in languages.values()),
                      "text": sum(c["text"] for c in languages.values())},
            "languages": dict(sorted(languages.items()))}
