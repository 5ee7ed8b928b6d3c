"""store.py: both Qdrant backends, through the same interface, for real.

EdgeStore runs Qdrant's engine in-process on a temp folder; ClientStore runs
qdrant-client in local mode, the same client code that talks to a server.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from codesearch.errors import UserError
from codesearch.sparse import SparseVector, document_vector, query_vector
from codesearch.store import (
    EF_CONSTRUCT,
    META_ID,
    QUANTIZE,
    ClientStore,
    EdgeStore,
    Filters,
    Fusion,
    Point,
    StoredChunk,
    point_id,
)

DIM = 8
FUSIONS = ("blend", "rrf", "dbsf", "dense", "sparse")


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def make_point(path: str, file_hash: str, ordinal: int, n_chunks: int, *, language="python",
               kind="function", symbol="", text="", seed=None, content_hash=None,
               mtime_ns=1000, size=10) -> Point:
    seed = seed if seed is not None else hash((path, file_hash, ordinal)) % 10_000
    return Point(
        id=point_id(path, file_hash, ordinal),
        dense=unit(seed),
        sparse=document_vector(text or f"{symbol} {path}"),
        payload={"path": path, "language": language, "kind": kind, "symbol": symbol,
                 "parent": "", "signature": "", "start_line": 1 + ordinal, "end_line": 2 + ordinal,
                 "code": text, "content_hash": content_hash or f"c-{path}-{ordinal}-{file_hash}",
                 "file_hash": file_hash, "n_chunks": n_chunks, "ordinal": ordinal,
                 "mtime_ns": mtime_ns, "size": size},
    )


# A small corpus: 3 files, 6 chunks, several languages and kinds.
CORPUS = [
    make_point("app/retry.py", "h1", 0, 2, symbol="retry_with_backoff", seed=1,
               text="def retry_with_backoff(func): sleep exponential backoff"),
    make_point("app/retry.py", "h1", 1, 2, kind="class", symbol="RetryPolicy", seed=2,
               text="class RetryPolicy: attempts delay"),
    make_point("server/main.go", "h2", 0, 3, language="go", symbol="HealthHandler", seed=3,
               text="func HealthHandler(w http.ResponseWriter) status json"),
    make_point("server/main.go", "h2", 1, 3, language="go", kind="type", symbol="Config", seed=4,
               text="type Config struct { Port int }"),
    make_point("server/main.go", "h2", 2, 3, language="go", kind="method", symbol="Config.Load",
               seed=5, text="func (c *Config) Load(path string) error read file"),
    make_point("docs/guide.md", "h3", 0, 1, language="markdown", kind="section",
               symbol="Guide > Install", seed=6, text="install with pip and run the retry demo"),
]


def _edge(tmp_path: Path, dim=DIM):
    return EdgeStore(tmp_path / "edge", dim)


def _client(tmp_path: Path, dim=DIM):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "payload indexes have no effect locally"
        return ClientStore("test_collection", dim, local_path=str(tmp_path / "client"))


def _open(kind: str, folder: Path, dim=DIM):
    if kind == "edge":
        return EdgeStore(folder / "edge", dim)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "payload indexes have no effect locally"
        return ClientStore("test_collection", dim, local_path=str(folder / "client"))


BACKENDS = ["edge", "client"]


@pytest.fixture(params=BACKENDS)
def make_store(request, tmp_path):
    """A factory, so a test can close and reopen the same store."""
    opened = []

    def factory(dim=DIM):
        store = _open(request.param, tmp_path, dim)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        with contextlib.suppress(Exception):
            store.close()


@pytest.fixture
def store(make_store):
    return make_store()


def _fill(store):
    store.upsert(CORPUS)
    store.write_meta({"model_id": "m@1", "dim": DIM})
    store.flush()
    return store


@pytest.fixture
def filled(store):
    """A filled store that the test may change."""
    return _fill(store)


@pytest.fixture(scope="module", params=BACKENDS)
def shared(request, tmp_path_factory):
    """A filled store shared by read-only tests."""
    store = _fill(_open(request.param, tmp_path_factory.mktemp(request.param)))
    yield store
    store.close()


def query(store, dense=None, sparse=None, filters=None, limit=50, fusion="rrf"):
    return store.query(dense, sparse, filters or Filters(), limit, Fusion(fusion))


# -------------------------------------------------------------------- basics


def test_empty_store(store):
    assert store.read_meta() is None
    assert store.count() == 0
    assert store.paths() == []
    assert list(store.state()) == []
    assert query(store, dense=unit(1), sparse=query_vector("retry")) == []


def test_meta_roundtrip_and_not_counted(store):
    meta = {"model_id": "x@1", "dim": DIM, "skipped": [["a", "b"]], "complete": False}
    store.write_meta(meta)
    assert store.read_meta() == meta
    assert store.count() == 0
    assert store.paths() == []
    assert list(store.state()) == []
    store.write_meta({**meta, "complete": True})
    assert store.read_meta()["complete"] is True


def test_upsert_count_paths(shared):
    assert shared.count() == len(CORPUS)
    assert shared.paths() == ["app/retry.py", "docs/guide.md", "server/main.go"]


def test_upsert_is_idempotent(filled):
    filled.upsert(CORPUS[:3])
    assert filled.count() == len(CORPUS)


def test_state_lists_every_chunk(shared):
    state = sorted(shared.state(), key=lambda s: s.id)
    assert all(isinstance(s, StoredChunk) for s in state)
    assert {s.id for s in state} == {p.id for p in CORPUS}
    assert META_ID not in {s.id for s in state}
    by_id = {s.id: s for s in state}
    p = CORPUS[2]
    s = by_id[p.id]
    assert (s.path, s.file_hash, s.n_chunks, s.content_hash, s.mtime_ns, s.size) == (
        "server/main.go", "h2", 3, p.payload["content_hash"], 1000, 10)


def test_files_summarise_each_path_from_its_first_point(filled):
    files = filled.files()
    assert set(files) == {"app/retry.py", "server/main.go", "docs/guide.md"}
    go = files["server/main.go"]
    assert (go.file_hash, go.n_chunks, go.points, go.versions, go.mtime_ns, go.size) == (
        "h2", 3, 3, 1, 1000, 10)
    assert all(f.complete for f in files.values())


def test_files_flag_half_written_and_damaged_paths(filled):
    # A new version half written (a run killed between its writes): two first points.
    filled.upsert([make_point("app/retry.py", "h9", 0, 3)])
    # A version missing a chunk: fewer points than its count.
    filled.delete_path("server/main.go")
    filled.upsert([make_point("server/main.go", "h2", i, 3) for i in (0, 2)])
    # Points whose first point is gone (never left by a run): still listed, incomplete.
    filled.delete_path("docs/guide.md")
    filled.upsert([make_point("docs/guide.md", "h3", 1, 2)])
    # A marker: a file that yields no chunks, one vectorless point without an ordinal.
    filled.upsert([Point(point_id("bin/blob", "skip", 0), None, None, {
        "path": "bin/blob", "file_hash": "skip", "n_chunks": 0, "skipped": "binary",
        "mtime_ns": 5, "size": 7})])
    files = filled.files()
    assert (files["app/retry.py"].versions, files["app/retry.py"].points) == (2, 3)
    assert (files["server/main.go"].points, files["server/main.go"].n_chunks) == (2, 3)
    assert files["docs/guide.md"].versions == 0
    assert not any(files[p].complete for p in ("app/retry.py", "server/main.go", "docs/guide.md"))
    blob = files["bin/blob"]
    assert blob.complete and (blob.skipped, blob.size, blob.mtime_ns) == ("binary", 7, 5)
    # The same verdicts from every point, read one by one.
    for path, f in files.items():
        points = [c for c in filled.state() if c.path == path]
        assert f.points == len(points)
        assert f.complete == (len({c.file_hash for c in points}) == 1
                              and len(points) == max(points[0].n_chunks, 1))


def test_ids_of_content(shared):
    wanted = [CORPUS[1].payload["content_hash"], CORPUS[5].payload["content_hash"], "absent"]
    assert shared.ids_of_content(wanted) == {CORPUS[1].payload["content_hash"]: CORPUS[1].id,
                                             CORPUS[5].payload["content_hash"]: CORPUS[5].id}
    assert shared.ids_of_content([]) == {}


def test_vectors_roundtrip(shared):
    ids = [CORPUS[0].id, CORPUS[4].id, "11111111-1111-1111-1111-111111111111"]
    got = shared.vectors(ids)
    assert set(got) == {CORPUS[0].id, CORPUS[4].id}
    for p in (CORPUS[0], CORPUS[4]):
        dense, sp = got[p.id]
        assert np.allclose(dense, p.dense, atol=1e-5)  # cosine vectors come back normalised
        assert sp.indices == p.sparse.indices
        assert sp.values == pytest.approx(p.sparse.values)


def test_delete_path(filled):
    filled.delete_path("server/main.go")
    assert filled.count() == 3
    assert filled.paths() == ["app/retry.py", "docs/guide.md"]
    filled.delete_path("not/indexed.py")  # no-op
    assert filled.count() == 3
    assert filled.read_meta() is not None  # the metadata point has no path; never deleted


def test_delete_path_keeps_new_version(filled):
    # The indexer writes a file's new chunks first, then drops the old version.
    new = [make_point("app/retry.py", "h9", i, 3, symbol=f"v2_{i}") for i in range(3)]
    filled.upsert(new)
    assert filled.count() == len(CORPUS) + 3
    filled.delete_path("app/retry.py", keep_file_hash="h9")
    retry = [s for s in filled.state() if s.path == "app/retry.py"]
    assert sorted(s.id for s in retry) == sorted(p.id for p in new)
    assert {s.file_hash for s in retry} == {"h9"}
    assert filled.count() == len(CORPUS) - 2 + 3


def test_set_file_stat(filled):
    filled.set_file_stat("server/main.go", mtime_ns=123456789, size=4242)
    for s in filled.state():
        if s.path == "server/main.go":
            assert (s.mtime_ns, s.size) == (123456789, 4242)
        else:
            assert (s.mtime_ns, s.size) == (1000, 10)
    # Other payload fields survive.
    hits = query(filled, sparse=query_vector("HealthHandler"), fusion="sparse")
    assert hits[0].payload["symbol"] == "HealthHandler"
    assert hits[0].payload["size"] == 4242


# -------------------------------------------------------------------- queries


def ids_of(hits) -> list[str]:
    return [h.id for h in hits]


@pytest.mark.parametrize("fusion", FUSIONS)
def test_meta_point_never_returned(shared, fusion):
    hits = query(shared, dense=unit(1), sparse=query_vector("retry meta model"), fusion=fusion)
    assert META_ID not in ids_of(hits)
    assert all("path" in h.payload for h in hits)


def test_dense_query_ranks_nearest_first(shared):
    hits = query(shared, dense=CORPUS[3].dense, fusion="dense")
    assert hits[0].id == CORPUS[3].id
    assert hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert len(hits) == len(CORPUS)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_sparse_query_exact_identifier(shared):
    hits = query(shared, sparse=query_vector("retry_with_backoff"), fusion="sparse")
    assert hits[0].id == CORPUS[0].id
    assert set(ids_of(hits)) <= {CORPUS[0].id, CORPUS[1].id, CORPUS[5].id}  # share a token


def test_hybrid_rrf_fuses_both_rankings(shared):
    # Dense points at the Go type `Config`; the sparse query names the Python function.
    dense, lexical = CORPUS[3].dense, query_vector("retry_with_backoff")
    dense_ids = ids_of(query(shared, dense=dense, fusion="dense"))
    sparse_ids = ids_of(query(shared, sparse=lexical, fusion="sparse"))
    assert dense_ids[0] == CORPUS[3].id and sparse_ids[0] == CORPUS[0].id
    fused = ids_of(query(shared, dense=dense, sparse=lexical, fusion="rrf"))
    assert set(fused) == set(dense_ids) | set(sparse_ids)
    # Found by both retrievers beats found by one: every sparse hit (all of them are
    # also dense candidates) outranks every dense-only hit, and the dense winner leads
    # the dense-only ones.
    sparse_set = set(sparse_ids)
    assert set(fused[:len(sparse_ids)]) == sparse_set
    assert fused[0] == CORPUS[0].id
    assert fused[len(sparse_ids)] == CORPUS[3].id


def test_hybrid_dbsf_keeps_both_winners_on_top(shared):
    hits = query(shared, dense=CORPUS[3].dense, sparse=query_vector("retry_with_backoff"),
                 fusion="dbsf", limit=2)
    assert set(ids_of(hits)) == {CORPUS[0].id, CORPUS[3].id}


def test_limit(shared):
    assert len(query(shared, dense=unit(9), fusion="dense", limit=2)) == 2
    assert len(query(shared, dense=unit(9), sparse=query_vector("retry config"), limit=3)) == 3


def test_query_without_usable_vectors(shared):
    empty = SparseVector([], [])
    assert query(shared, dense=None, sparse=empty, fusion="sparse") == []
    assert query(shared, dense=None, sparse=None, fusion="rrf") == []
    # A query of stopwords only falls back to dense retrieval.
    hits = query(shared, dense=CORPUS[5].dense, sparse=empty, fusion="rrf")
    assert hits[0].id == CORPUS[5].id


@pytest.mark.parametrize("fusion", FUSIONS)
@pytest.mark.parametrize(("filters", "expected"), [
    (Filters(languages=["go"]), {2, 3, 4}),
    (Filters(languages=["go", "markdown"]), {2, 3, 4, 5}),
    (Filters(kinds=["function"]), {0, 2}),
    (Filters(kinds=["class", "type"]), {1, 3}),
    (Filters(languages=["go"], kinds=["function", "method"]), {2, 4}),
    (Filters(paths=["docs/guide.md", "app/retry.py"]), {0, 1, 5}),
    (Filters(paths=["app/retry.py"], kinds=["class"]), {1}),
    (Filters(paths=[], dirs=["server"]), {2, 3, 4}),
    (Filters(paths=["docs/guide.md"], dirs=["app"]), {0, 1, 5}),
    (Filters(paths=[], dirs=["app"], kinds=["class"]), {1}),
    (Filters(paths=[], dirs=["ap"]), set()),  # a folder is a whole name, not a prefix
    (Filters(languages=["rust"]), set()),
])
def test_filters_return_only_matching(shared, fusion, filters, expected):
    # Words from every chunk, so the sparse retriever has candidates everywhere.
    text = "retry_with_backoff RetryPolicy HealthHandler Config Load install retry"
    hits = query(shared, dense=unit(7), sparse=query_vector(text), filters=filters,
                 fusion=fusion)
    want = {CORPUS[i].id for i in expected}
    got = set(ids_of(hits))
    assert got <= want
    if fusion != "sparse":  # dense retrieval reaches every point that passes the filter
        assert got == want


@pytest.mark.parametrize("fusion", ["blend", "rrf", "dbsf"])
def test_a_filter_reaches_each_retriever_not_just_the_fused_list(store, fusion):
    """A rare language beneath many closer chunks of another one: if the filter were
    applied only after fusion, the retrievers' candidates (Fusion.candidates of them)
    would all be python and the answer empty."""
    near = unit(1)
    points = []
    for i in range(150):  # python chunks right at the query, sharing its words
        v = near + 0.01 * unit(100 + i)
        points.append(dataclasses.replace(
            make_point(f"py/m{i}.py", "h", 0, 1, symbol=f"retry{i}", text="retry backoff"),
            dense=v / np.linalg.norm(v)))
    far = [make_point(f"go/f{i}.go", "h", 0, 1, language="go", text="retry backoff",
                      seed=200 + i) for i in range(5)]
    store.upsert(points + far)
    hits = store.query(near, query_vector("retry backoff"), Filters(languages=["go"]), 3,
                       Fusion(fusion, candidates=20))
    assert len(hits) == 3
    assert {h.payload["language"] for h in hits} == {"go"}


def test_empty_path_list_matches_nothing(shared):
    hits = query(shared, dense=unit(1), sparse=query_vector("retry"), filters=Filters(paths=[]))
    assert hits == []


def test_folders_of():
    from codesearch.store import folders_of

    assert folders_of("a/b/c.py") == ["a", "a/b"]
    assert folders_of("top.py") == []


def _drop_dirs(store) -> None:
    """Make `store` look like an index written before chunks carried their folders."""
    if isinstance(store, EdgeStore):
        qe = store.qe
        store.shard.update(qe.UpdateOperation.delete_payload_by_filter(
            qe.Filter(must_not=[qe.IsEmptyCondition("content_hash")]), ["dir_ids"]))
    else:
        m = store.m
        store.client.delete_payload(store.collection, ["dir_ids"], points=m.Filter(
            must_not=[m.IsEmptyCondition(is_empty=m.PayloadField(key="content_hash"))]))


def test_add_dirs_brings_an_older_index_up_to_folder_filters(filled):
    under_server = Filters(paths=[], dirs=["server"])
    assert set(ids_of(query(filled, dense=unit(3), filters=under_server, fusion="dense"))) == {
        CORPUS[i].id for i in (2, 3, 4)}
    _drop_dirs(filled)
    assert query(filled, dense=unit(3), filters=under_server, fusion="dense") == []
    filled.add_dirs(["server/main.go", "app/retry.py"])
    assert set(ids_of(query(filled, dense=unit(3), filters=under_server, fusion="dense"))) == {
        CORPUS[i].id for i in (2, 3, 4)}


# -------------------------------------------------------------------- lifecycle


def test_reopen_keeps_data(make_store):
    store = make_store()
    store.upsert(CORPUS)
    store.write_meta({"model_id": "m@1", "dim": DIM})
    store.flush()
    store.close()
    again = make_store(None)  # dim=None: open only, never create
    assert again.count() == len(CORPUS)
    assert again.read_meta() == {"model_id": "m@1", "dim": DIM}
    assert again.paths() == ["app/retry.py", "docs/guide.md", "server/main.go"]
    hits = query(again, dense=CORPUS[4].dense, fusion="dense", limit=1)
    assert hits[0].id == CORPUS[4].id and hits[0].payload["symbol"] == "Config.Load"


def test_open_missing_index_without_dim(make_store):
    with pytest.raises(UserError, match="run 'codesearch index' first"):
        make_store(None)


def test_edge_store_opened_twice_is_a_user_error(tmp_path: Path):
    first = EdgeStore(tmp_path / "edge", DIM)
    try:
        with pytest.raises(UserError, match="open in another codesearch process"):
            EdgeStore(tmp_path / "edge", DIM)
        with pytest.raises(UserError, match="open in another codesearch process"):
            EdgeStore(tmp_path / "edge", None)
        first.upsert(CORPUS[:1])  # the first handle still works
        assert first.count() == 1
    finally:
        first.close()
    second = EdgeStore(tmp_path / "edge", None)  # free again once closed
    assert second.count() == 1
    second.close()


def test_edge_store_reopen_many_times(tmp_path: Path):
    for i in range(3):
        store = EdgeStore(tmp_path / "edge", DIM)
        store.upsert([make_point(f"f{i}.py", "h", 0, 1)])
        store.flush()
        store.close()
    store = EdgeStore(tmp_path / "edge", None)
    assert store.paths() == ["f0.py", "f1.py", "f2.py"]
    store.close()


def test_dimension_mismatch_rejected(store):
    bad = Point(point_id("a.py", "h", 0), np.ones(DIM + 1, dtype=np.float32) / 3,
                SparseVector([1], [1.0]), CORPUS[0].payload)
    with pytest.raises(Exception):  # noqa: B017 - each backend has its own error type
        store.upsert([bad])
    assert store.count() == 0


def test_point_ids_are_deterministic():
    assert point_id("a.py", "h", 0) == point_id("a.py", "h", 0)
    ids = {point_id("a.py", "h", 0), point_id("a.py", "h", 1), point_id("b.py", "h", 0),
           point_id("a.py", "g", 0)}
    assert len(ids) == 4
    assert META_ID not in ids


@pytest.mark.parametrize("kind", BACKENDS)
def test_many_points_scroll_past_one_page(kind, tmp_path):
    # state() pages through scroll results (4096 a page); make sure it sees every point.
    # The client backend runs in memory here: local mode on disk is slow for 4500 points.
    if kind == "edge":
        store = EdgeStore(tmp_path / "edge", DIM)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            store = ClientStore("many", DIM)
    points = [make_point(f"pkg/m{i:04d}.py", "h", 0, 1, seed=i) for i in range(4500)]
    for start in range(0, len(points), 1000):
        store.upsert(points[start:start + 1000])
    assert store.count() == 4500
    assert len({s.id for s in store.state()}) == 4500
    assert len(store.paths()) == 4500
    store.close()


def test_edge_graph_settings_are_kept_per_index(tmp_path: Path):
    """The graph settings a store is made with reach the engine and stay with the index
    (they are fixed at creation); the search ef is a per-handle setting."""

    def graph(folder: Path) -> dict:
        return json.loads((folder / "edge_config.json").read_text())["hnsw_config"]

    EdgeStore(tmp_path / "default", DIM).close()
    assert graph(tmp_path / "default")["ef_construct"] == EF_CONSTRUCT
    _fill(EdgeStore(tmp_path / "other", DIM, ef_construct=64)).close()
    reopened = EdgeStore(tmp_path / "other", DIM, search_ef=128)
    try:
        assert graph(tmp_path / "other")["ef_construct"] == 64
        hits = query(reopened, dense=CORPUS[3].dense, fusion="dense")
        assert hits[0].id == CORPUS[3].id
    finally:
        reopened.close()


def test_edge_quantization_is_kept_per_index(tmp_path: Path):
    def quantization(folder: Path) -> dict | None:
        return json.loads((folder / "edge_config.json").read_text()).get("quantization_config")

    EdgeStore(tmp_path / "default" / "qdrant", DIM).close()
    assert quantization(tmp_path / "default" / "qdrant") == (
        {"scalar": {"type": "int8", "quantile": 0.99, "always_ram": True}} if QUANTIZE else None)
    EdgeStore(tmp_path / "plain" / "qdrant", DIM, quantize=not QUANTIZE).close()
    EdgeStore(tmp_path / "plain" / "qdrant", DIM).close()  # reopened: the index keeps its own
    assert (quantization(tmp_path / "plain" / "qdrant") is None) == QUANTIZE


def test_quantized_hits_carry_exact_cosines(tmp_path: Path):
    """The graph is walked on int8 codes, but the scores a query returns (and fusion adds
    up) are cosines of the float vectors: the engine rescores only when asked to."""
    dim, n = 384, 7000  # past the engine's indexing threshold, so the optimize quantizes
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    folder = tmp_path / "qdrant"
    store = EdgeStore(folder, dim, quantize=True)
    try:
        points = [Point(point_id(f"m{i}.py", "h", 0), vectors[i], SparseVector([1], [1.0]),
                        {"path": f"m{i}.py", "language": "python", "kind": "function",
                         "content_hash": f"c{i}", "ordinal": 0}) for i in range(n)]
        for start in range(0, n, 1000):
            store.upsert(points[start:start + 1000])
        store.optimize()
        assert list(folder.rglob("quantized.data")), "the optimize built no int8 codes"
        index = {p.id: i for i, p in enumerate(points)}
        for row in (5, 123, 4567):
            for filters in (Filters(), Filters(languages=["python"])):
                hits = store.query(vectors[row], None, filters, 10, Fusion(method="dense"))
                assert hits[0].id == points[row].id
                exact = vectors[[index[h.id] for h in hits]] @ vectors[row]
                np.testing.assert_allclose([h.score for h in hits], exact, atol=1e-5)
    finally:
        store.close()


def test_filtered_fields_are_indexed_in_ram_and_older_indexes_converted(tmp_path: Path):
    """language and kind are tested at every point a filtered search visits: their
    indexes live in RAM. An index made when they lived on disk is converted by the next
    writer (an index run), never by a reader."""
    import qdrant_edge as qe

    def on_disk(store: EdgeStore) -> dict[str, bool]:
        return {name: info.params.on_disk for name, info in store.shard.info().payload_schema.items()}

    folder = tmp_path / "qdrant"
    store = _fill(EdgeStore(folder, DIM))
    assert on_disk(store) == {"language": False, "kind": False, "path": True, "dir_ids": False,
                              "file_hash": True, "content_hash": True, "ordinal": True}
    for name in ("language", "kind"):  # as an older codesearch made them
        store.shard.update(qe.UpdateOperation.create_field_index(
            name, qe.KeywordIndexParams(on_disk=True)))
    store.close()
    reader = EdgeStore(folder, None)
    assert on_disk(reader)["language"] and on_disk(reader)["kind"]
    reader.close()
    writer = EdgeStore(folder, DIM)
    try:
        assert not on_disk(writer)["language"] and not on_disk(writer)["kind"]
        hits = query(writer, dense=CORPUS[4].dense, filters=Filters(languages=["go"],
                                                                     kinds=["method"]))
        assert [h.id for h in hits] == [CORPUS[4].id]
    finally:
        writer.close()
