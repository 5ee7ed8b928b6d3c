"""Code-aware lexical vectors for Qdrant's sparse index.

Identifiers are split the way people search for them: `parseHTTPResponse` and
`parse_http_response` both yield `parse`, `http`, `response`, and keep the whole
identifier too, so an exact identifier query ranks its definition first. Token ids
are a stable 31-bit hash (no vocabulary to store or keep in sync); Qdrant applies
IDF itself through the collection's `Modifier.IDF`, so we only send term weights.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+")
# Splits camelCase, PascalCase, ACRONYMWords and digit runs inside an identifier.
_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
# A qualified name as people type it (`LruCache.put`, `os.path.join`, `Foo::bar`), whole
# (its words are taken from it), else a word or digit run.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:(?:\.|::)[A-Za-z_][A-Za-z0-9_]*)*|[0-9]+")
# Function words that carry no meaning in a search query; code keywords are kept
# because "async", "yield" or "class" can be exactly what someone looks for.
STOPWORDS = frozenset(
    ["a", "an", "the", "of", "to", "in", "on", "for", "and", "or", "is", "are", "be", "by", "with", "as", "at", "it", "its", "this", "that", "how", "do", "does", "i", "you", "we", "can", "from", "into", "using", "use", "way", "get"]
)
# Words that, in a search query, name the language or the genre of what is wanted
# rather than a term the code contains ("python read file", "java example code").
QUERY_STOPWORDS = STOPWORDS | {
    "python", "py", "java", "javascript", "js", "typescript", "ts", "golang", "go", "rust",
    "ruby", "php", "csharp", "cpp", "bash", "shell", "code", "example", "examples",
    "program", "script", "snippet",
}
_MAX_TOKEN_LEN = 40


@dataclass(frozen=True)
class SparseVector:
    indices: list[int]
    values: list[float]


def tokens(text: str) -> list[str]:
    """Lower-cased search tokens: whole identifiers plus their camel/snake parts,
    and qualified names (`a.b`, `a::b`) as one token each."""
    return list(chain.from_iterable(map(_name_tokens, _NAME.findall(text))))


def _name_tokens(name: str) -> tuple[str, ...]:
    words = _WORD.findall(name) if "." in name or ":" in name else [name]
    dotted = (_kept([name.lower().replace("::", ".")])
              if len(words) > 1 and len(name) <= 2 * _MAX_TOKEN_LEN else ())
    return dotted + tuple(chain.from_iterable(map(_word_tokens, words)))


def _kept(candidates: list[str]) -> tuple[str, ...]:
    return tuple(t for t in candidates if t not in STOPWORDS and (len(t) > 1 or t.isdigit()))


@lru_cache(maxsize=1 << 16)
def _word_tokens(word: str) -> tuple[str, ...]:
    # Cached: code repeats its identifiers (lexical vectors of a third of the benchmark
    # corpus took 2.13 s instead of 2.36 s, same vectors).
    if len(word) > _MAX_TOKEN_LEN:
        return ()
    parts = [p.lower() for piece in word.split("_") for p in _PART.findall(piece)]
    whole = word.strip("_").lower()
    return _kept(([whole] if len(parts) != 1 and whole else []) + parts)


def token_id(token: str) -> int:
    return zlib.crc32(token.encode("utf-8")) & 0x7FFFFFFF


def token_ids(text: str) -> list[int]:
    """The ids of tokens(text): what a chunk's vector is made of.

    On the indexer's hot path: one regex pass, each distinct name's ids computed once
    (with the weighting below, the benchmark corpus's lexical vectors took 3.9 s, not 8.7)."""
    return list(chain.from_iterable(map(_name_ids, _NAME.findall(text))))


@lru_cache(maxsize=1 << 18)
def _name_ids(name: str) -> tuple[int, ...]:
    return tuple(map(token_id, _name_tokens(name)))


def _vector(counts: Counter[str], weight) -> SparseVector:
    merged: dict[int, float] = {}
    for tok, n in counts.items():
        idx = token_id(tok)
        merged[idx] = merged.get(idx, 0.0) + weight(n)  # hash collisions add up
    indices = sorted(merged)
    return SparseVector(indices, [merged[i] for i in indices])


# Extra weight for the terms of a chunk's own name: searching an identifier should
# find where it is defined before the places that merely use it.
SYMBOL_BOOST = 2.0


# BM25's term-frequency saturation and length normalisation (Robertson et al.), with a
# fixed typical chunk length standing in for the corpus average; Qdrant's IDF
# modifier supplies the other half of BM25 at query time.
BM25_K1, BM25_B, AVG_CHUNK_TOKENS = 1.2, 0.75, 150.0


def document_vector(text: str, symbol: str = "") -> SparseVector:
    """BM25 term weights for a chunk, plus a boost for the tokens of the chunk's own
    qualified symbol (and its last part)."""
    ids = token_ids(text)
    # Weighted by id: two tokens whose ids collide count as one term (the index could
    # not tell them apart anyway).
    norm = BM25_K1 * (1 - BM25_B + BM25_B * len(ids) / AVG_CHUNK_TOKENS)
    weights = {i: n * (BM25_K1 + 1) / (n + norm) for i, n in Counter(ids).items()}
    if symbol:
        own = set(tokens(symbol)) | set(tokens(symbol.rsplit(".", 1)[-1])) | {symbol.lower()}
        for i in {token_id(tok) for tok in own}:  # present even where the text lacks them
            weights[i] = weights.get(i, 0.0) + SYMBOL_BOOST
    indices = sorted(weights)
    return SparseVector(indices, list(map(weights.__getitem__, indices)))


def query_vector(text: str) -> SparseVector:
    """Each distinct query term counts once; IDF (applied by Qdrant) ranks them.

    Language and genre words are dropped unless they are the whole query."""
    words = tokens(text)
    kept = [w for w in words if w not in QUERY_STOPWORDS] or words
    return _vector(Counter(kept), lambda n: 1.0)
