"""Fuzzing the stages that read untrusted bytes: walker, decoder, chunker, sparse tokenizer.

Random bytes and mutated real sources (this repository's own code and the test
fixture files). The chunker swallows its own exceptions by design (a file it cannot
chunk becomes line windows), so "no exception escapes" is checked one level deeper:
a fallback for any reason other than the input's syntax errors is an internal bug.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

from conftest import FIXTURE_FILES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codesearch import sparse
from codesearch.chunk import chunk_file
from codesearch.languages import CODE_LANGUAGES, DOC_LANGUAGES, language_for_path
from codesearch.walk import SourceFile, decode_source, read_source, walk

REPO = Path(__file__).resolve().parent.parent
SOURCES = {p.relative_to(REPO).as_posix(): p.read_text() for p in sorted((REPO / "codesearch").rglob("*.py"))}
SOURCES.update(FIXTURE_FILES)
SAMPLES = sorted((path, text) for path, text in SOURCES.items() if text and language_for_path(path))
LANGUAGES = sorted(CODE_LANGUAGES + DOC_LANGUAGES)
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def mutated_source(draw) -> tuple[str, str]:
    """A real file with a few random edits: deletions, insertions, duplications."""
    path, text = draw(st.sampled_from(SAMPLES))
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 200)))
        op = draw(st.sampled_from(["delete", "insert", "duplicate", "swap"]))
        if op == "delete":
            text = text[:i] + text[j:]
        elif op == "insert":
            text = text[:i] + draw(st.text(max_size=40)) + text[i:]
        elif op == "duplicate":
            text = text[:j] + text[i:j] + text[j:]
        else:
            text = text[i:j] + text[:i] + text[j:]
    return path, text


def check_chunks(path: str, text: str, language: str) -> None:
    result = chunk_file(path, text, language, 64)
    assert not result.parse_error.startswith(("chunking failed", "tree-sitter failed")), \
        result.parse_error
    n_lines = text.count("\n") + text.count("\r") + 1
    for chunk in result.chunks:
        assert 1 <= chunk.start_line <= chunk.end_line <= n_lines
        assert chunk.code.strip()
        assert chunk.content_hash and chunk.embedding_text()
        check_vector(sparse.document_vector(chunk.code, chunk.symbol))


def check_vector(vector: sparse.SparseVector) -> None:
    assert vector.indices == sorted(set(vector.indices))
    assert len(vector.indices) == len(vector.values)
    assert all(0 <= i < 2**31 for i in vector.indices)
    assert all(math.isfinite(v) and v > 0 for v in vector.values)


@FUZZ
@given(mutated_source())
def test_chunker_on_mutated_real_sources(sample):
    path, text = sample
    check_chunks(path, text, language_for_path(path))


@FUZZ
@given(st.binary(max_size=3000), st.sampled_from(LANGUAGES))
def test_decoder_and_chunker_on_random_bytes(data, language):
    text, reason = decode_source(data)
    assert (text is None) == bool(reason)
    check_chunks(f"f.{language}", data.decode("utf-8", "replace"), language)


@FUZZ
@given(st.text(max_size=2000))
def test_sparse_tokenizer_on_random_text(text):
    for token in sparse.tokens(text):
        assert token and token == token.lower()
    check_vector(sparse.document_vector(text, text[:30]))
    check_vector(sparse.query_vector(text))


@FUZZ
@given(mutated_source())
def test_sparse_tokenizer_on_mutated_sources(sample):
    _, text = sample
    check_vector(sparse.document_vector(text, "Some.symbol"))
    check_vector(sparse.query_vector(text[:200]))


# File names: any bytes but '/' and NUL, which no file system allows.
NAMES = st.binary(min_size=1, max_size=30).filter(
    lambda b: b"/" not in b and b"\0" not in b and b not in (b".", b".."))
ENTRIES = st.lists(st.tuples(st.lists(NAMES, min_size=1, max_size=3), st.binary(max_size=500),
                             st.sampled_from(["file", "symlink", "dir-link"])),
                   max_size=12)


@FUZZ
@given(ENTRIES, st.lists(st.binary(max_size=80), max_size=5))
def test_walker_on_random_trees(entries, ignore_lines):
    with tempfile.TemporaryDirectory() as tmp:
        root = os.fsencode(tmp)
        made: list[bytes] = []
        for parts, data, kind in entries:
            path = os.path.join(root, *parts)
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                if kind == "file":
                    with open(path, "wb") as handle:
                        handle.write(data)
                else:
                    target = made[len(data) % len(made)] if made and kind == "symlink" else b".."
                    os.symlink(target, path)
                made.append(path)
            except OSError:
                continue  # a name collides with a directory made earlier
        with open(os.path.join(root, b".gitignore"), "wb") as handle:
            handle.write(b"\n".join(ignore_lines))
        result = walk(Path(tmp), max_file_bytes=400)
        for file in result.files:
            assert isinstance(file, SourceFile) and file.path.encode("utf-8")
            text, reason = read_source(file)
            assert (text is None) == bool(reason)
            if text is not None:
                chunk_file(file.path, text, file.language, 64)
        for skipped in result.skipped:
            assert skipped.reason and skipped.path.encode("utf-8")
