"""sparse.py: code-aware lexical tokens and their weights."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codesearch import sparse
from codesearch.sparse import STOPWORDS, document_vector, query_vector, token_id, tokens


@pytest.mark.parametrize(("text", "expected"), [
    ("parseHTTPResponse", ["parsehttpresponse", "parse", "http", "response"]),
    ("parse_http_response", ["parse_http_response", "parse", "http", "response"]),
    ("ParseHttpResponse", ["parsehttpresponse", "parse", "http", "response"]),
    ("XMLHttpRequest", ["xmlhttprequest", "xml", "http", "request"]),
    ("HTTPServer", ["httpserver", "http", "server"]),
    ("getUserID", ["getuserid", "user", "id"]),           # "get" is a stopword
    ("MAX_RETRIES", ["max_retries", "max", "retries"]),
    ("__init__", ["init"]),
    ("sha256_of_file", ["sha256_of_file", "sha", "256", "file"]),
    ("utf8Decode", ["utf8decode", "utf", "8", "decode"]),
    ("LruCache", ["lrucache", "lru", "cache"]),
    ("retry", ["retry"]),
])
def test_identifier_splitting(text: str, expected: list[str]):
    assert tokens(text) == expected


def test_camel_and_snake_spellings_share_parts():
    camel = set(tokens("parseHttpResponse"))
    snake = set(tokens("parse_http_response"))
    assert {"parse", "http", "response"} <= camel & snake


def test_whole_identifier_kept_for_exact_matches():
    toks = tokens("def retry_with_backoff(func): return readSettingsFile(path)")
    assert "retry_with_backoff" in toks
    assert "readsettingsfile" in toks
    assert {"retry", "backoff", "read", "settings", "file", "func", "path", "def"} <= set(toks)


def test_stopwords_dropped_code_keywords_kept():
    toks = tokens("how do I get the value of a class from an async function in the loop")
    assert not set(toks) & STOPWORDS
    assert {"value", "class", "async", "function", "loop"} <= set(toks)
    assert "the" not in toks and "i" not in toks


def test_single_letters_dropped_digits_kept():
    assert tokens("x = y + 1 * 42") == ["1", "42"]


def test_punctuation_and_unicode_do_not_crash():
    assert tokens("fn(a, b) -> Result<(), Error> {}; // café") == ["fn", "result", "error", "caf"]
    assert tokens("") == []
    assert tokens("  \n\t ") == []


def test_overlong_tokens_dropped():
    long_ident = "a" * 41
    assert tokens(f"{long_ident} short") == ["short"]
    assert tokens("b" * 40) == ["b" * 40]


def test_token_ids_are_stable_31_bit_crc():
    assert token_id("parse") == zlib.crc32(b"parse") & 0x7FFFFFFF
    # Fixed values: ids are stored in indexes, so they must never change between releases.
    assert token_id("parse") == 1389724776
    assert token_id("http") == 393743794
    assert all(0 <= token_id(t) < 2**31 for t in ["", "a", "é", "x" * 1000])


def bm25_tf(tf: int, doc_len: int) -> float:
    k1, b, avg = sparse.BM25_K1, sparse.BM25_B, sparse.AVG_CHUNK_TOKENS
    return tf * (k1 + 1) / (tf + k1 * (1 - b + b * doc_len / avg))


def test_document_vector_is_bm25_tf_saturating():
    vec = document_vector("cache cache cache cache lookup")
    weights = dict(zip(vec.indices, vec.values, strict=True))
    assert weights[token_id("cache")] == pytest.approx(bm25_tf(4, 5))
    assert weights[token_id("lookup")] == pytest.approx(bm25_tf(1, 5))
    # Sub-linear and bounded by k1 + 1, whatever the count.
    assert weights[token_id("lookup")] < weights[token_id("cache")] < 4 * weights[token_id("lookup")]
    many = document_vector(" ".join(["cache"] * 500))
    assert many.values[0] < sparse.BM25_K1 + 1
    assert vec.indices == sorted(vec.indices)
    assert len(vec.indices) == len(set(vec.indices)) == 2


def test_longer_chunks_weigh_each_term_less():
    short = document_vector("cache lookup")
    long = document_vector("cache lookup " + " ".join(f"word{i}x" for i in range(300)))
    weight = lambda vec: dict(zip(vec.indices, vec.values, strict=True))[token_id("cache")]  # noqa: E731
    assert weight(long) < weight(short)


def test_symbol_tokens_are_boosted():
    plain = dict(zip(*(lambda v: (v.indices, v.values))(document_vector("def put(self): pass")),
                     strict=True))
    boosted = document_vector("def put(self): pass", symbol="LruCache.put")
    weights = dict(zip(boosted.indices, boosted.values, strict=True))
    assert weights[token_id("put")] == pytest.approx(plain[token_id("put")] + sparse.SYMBOL_BOOST)
    assert weights[token_id("lrucache.put")] == pytest.approx(sparse.SYMBOL_BOOST)


def test_query_drops_language_words_unless_alone():
    assert set(query_vector("python read a file").indices) == {token_id("read"), token_id("file")}
    assert set(query_vector("python").indices) == {token_id("python")}


def test_query_vector_counts_each_term_once():
    vec = query_vector("cache cache eviction policy cache")
    assert sorted(vec.values) == [1.0, 1.0, 1.0]
    assert set(vec.indices) == {token_id("cache"), token_id("eviction"), token_id("policy")}


def test_query_of_only_stopwords_is_empty():
    vec = query_vector("how do I get the")
    assert vec.indices == [] and vec.values == []


def test_hash_collisions_are_merged():
    # Two real tokens whose 31-bit ids collide (found by a birthday search).
    assert token_id("bznwsf") == token_id("jclevdp") != token_id("gamma")
    doc = document_vector("bznwsf jclevdp jclevdp gamma")
    shared, other = token_id("bznwsf"), token_id("gamma")
    assert doc.indices == sorted([shared, other])
    # Weighted by id, as the index sees them: one term occurring 3 times.
    assert dict(zip(doc.indices, doc.values, strict=True)) == pytest.approx(
        {shared: bm25_tf(3, 4), other: bm25_tf(1, 4)})
    q = query_vector("bznwsf jclevdp gamma")
    assert dict(zip(q.indices, q.values, strict=True)) == {shared: 2.0, other: 1.0}


def test_token_ids_are_the_ids_of_tokens():
    text = "os.path.join(root, name) Foo::bar_baz parseHTTP 3.14 x.y.z1 " + "a." * 50 + "b"
    assert sparse.token_ids(text) == list(map(token_id, tokens(text)))


@settings(deadline=None)
@given(st.text(max_size=300))
def test_vectors_well_formed_for_any_text(text: str):
    assert sparse.token_ids(text) == list(map(token_id, tokens(text)))
    for vec in (document_vector(text), query_vector(text)):
        assert vec.indices == sorted(set(vec.indices))
        assert len(vec.indices) == len(vec.values)
        assert all(v > 0.0 for v in vec.values)
        assert all(0 <= i < 2**31 for i in vec.indices)


@settings(deadline=None)
@given(st.from_regex(r"[a-z]{2,8}(_[a-z]{2,8}){1,3}", fullmatch=True))
def test_snake_case_parts_are_its_words(ident: str):
    words = [w for w in ident.split("_") if w not in STOPWORDS]
    assert tokens(ident) == [ident, *words]
