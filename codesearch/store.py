"""Qdrant, the only store: one point per chunk with a dense and a sparse vector.

Two backends speak the same small interface:
- `EdgeStore`: Qdrant's engine in-process (qdrant-edge-py), on disk, no server. The
  default: at 50k points it answers queries ~30x faster than qdrant-client's local
  mode (see BENCHMARKS.md), because it is the real engine with HNSW and payload
  indexes, not a numpy re-implementation.
- `ClientStore`: qdrant-client, for a Qdrant server or cluster given by URL (and for
  qdrant-client's local mode, which the tests and the store benchmark use).

Everything the indexer needs to resume and to update incrementally lives in the
points' payloads (path, file hash, chunk count, content hash), so the index is
always exactly what Qdrant holds. Index-wide facts (model, root, time) sit in one
vectorless metadata point, which no vector query can ever return.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from codesearch.errors import UserError
from codesearch.lock import ENGINE_LOCK, try_lock, writer_pid
from codesearch.sparse import SparseVector

DENSE, SPARSE = "dense", "sparse"
META_ID = "00000000-0000-0000-0000-00000000c0de"
# Payload fields with an index, and its type. "ordinal" finds each file's first point
# (StoredFile) without reading every payload: a re-index plans from those alone. Most
# indexes live on disk (memory-mapped): an open then takes 0.25 s instead of 0.55 s at
# 40k chunks (BENCHMARKS.md, re-indexing). "language" and "kind" are held in RAM: a
# filtered search tests them at every point it visits, and from disk those tests were
# half of a filtered query's time at 300k chunks, while their few values load fast.
# "dir_ids" holds an id of every folder above a chunk's path ("a/b/c.py": "a", "a/b"), so
# that a path glob filters on the few folders it covers whole instead of on every path it
# matches (search.path_scope): at 1M chunks, a MatchAny of 7,775 exact paths cost 66 ms a
# query. Integers in RAM, not the folder names: tested at every point a search visits,
# strings read from disk cost UTF-8 checks and hashing, and the same glob's dense search
# took 40% less time on ids at 100k chunks (BENCHMARKS.md).
INDEXED_FIELDS = {"path": "keyword", "language": "keyword in RAM", "kind": "keyword in RAM",
                  "file_hash": "keyword", "content_hash": "keyword", "ordinal": "integer",
                  "dir_ids": "integer in RAM"}
# The index metadata's "path_dirs" when chunks carry "dir_ids"; an index without it (none,
# or True: folder names, from an older codesearch) filters globs on exact paths until its
# next index run adds the ids (indexer.py).
PATH_DIRS = 2
# Payload fields that describe a file's state.
STATE_FIELDS = ["path", "file_hash", "n_chunks", "content_hash", "mtime_ns", "size", "skipped"]
FILE_FIELDS = ["path", "file_hash", "n_chunks", "mtime_ns", "size", "skipped"]
_NAMESPACE = uuid.UUID("6f1c2f44-8d7e-4a51-9a0e-3b9a3c1d5e77")


def folders_of(path: str) -> list[str]:
    """Every folder above a repository path, outermost first: "a/b/c.py" -> ["a", "a/b"]."""
    parts = path.split("/")[:-1]
    return ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]


def folder_id(folder: str) -> int:
    """A folder's id in "dir_ids": 63 bits of its name's hash. A collision could only let
    a glob's filter admit a stray chunk, and search checks every hit against the matched
    paths anyway."""
    return int.from_bytes(hashlib.blake2b(folder.encode(), digest_size=8).digest(), "big") >> 1


def folder_ids(path: str) -> list[int]:
    return [folder_id(folder) for folder in folders_of(path)]


def _with_dirs(point: Point) -> dict[str, Any]:
    """The payload as stored: chunks also carry their folders' ids (INDEXED_FIELDS)."""
    if point.dense is None or "path" not in point.payload:
        return point.payload
    return {**point.payload, "dir_ids": folder_ids(point.payload["path"])}


def point_id(path: str, file_hash: str, ordinal: int) -> str:
    """Deterministic id: re-running an interrupted index overwrites, never duplicates."""
    return str(uuid.uuid5(_NAMESPACE, f"{path}\0{file_hash}\0{ordinal}"))


@dataclass(frozen=True)
class Point:
    """A chunk with its vectors, or (vectors None) a file marker: a file that yields no
    chunks (empty, binary, ...) is still recorded, so the next run need not re-read it.
    Markers have no vectors, so no query can return them, and no content_hash."""

    id: str
    dense: np.ndarray | None
    sparse: SparseVector | None
    payload: dict[str, Any]


@dataclass(frozen=True)
class StoredChunk:
    id: str
    path: str
    file_hash: str
    n_chunks: int
    content_hash: str
    mtime_ns: int
    size: int
    skipped: str = ""   # a file marker's reason for holding no chunks (binary, ...)


@dataclass(frozen=True)
class StoredFile:
    """One path as the store holds it, from its first point (ordinal 0, or its marker)
    and the number of points that carry the path."""

    path: str
    file_hash: str = ""
    n_chunks: int = 0
    mtime_ns: int = 0
    size: int = -1
    skipped: str = ""   # why a recorded file holds no chunks
    points: int = 0     # points with this path, of any version
    versions: int = 0   # first points with this path: 2 while a change is half written

    @property
    def complete(self) -> bool:
        # One version, all of its chunks in; a file without chunks is one marker point.
        return self.versions == 1 and self.points == max(self.n_chunks, 1)


def stored_files(first_points: Iterable[dict], points_per_path: dict[str, int]
                 ) -> dict[str, StoredFile]:
    """Per path: its first points' payloads, counted against all its points. A path
    with points but no first point (never left by a run, but possible in a damaged
    index) is kept, incomplete, so that it is re-indexed or deleted."""
    files: dict[str, StoredFile] = {}
    for payload in first_points:
        path = payload.get("path")
        if path is None:  # the metadata point
            continue
        if path in files:
            files[path] = replace(files[path], versions=files[path].versions + 1)
            continue
        files[path] = StoredFile(
            path, payload.get("file_hash", ""), int(payload.get("n_chunks", 0)),
            int(payload.get("mtime_ns", 0)), int(payload.get("size", -1)),
            payload.get("skipped", ""), points_per_path.get(path, 0), 1)
    for path, points in points_per_path.items():
        if points and path not in files:
            files[path] = StoredFile(path, points=points)
    return files


@dataclass(frozen=True)
class Filters:
    """What a search may return. Empty lists mean no restriction."""

    languages: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    # A glob resolved against the index: points with one of these exact paths, or under
    # one of these folders. None: any path.
    paths: list[str] | None = None
    dirs: list[str] = field(default_factory=list)

    def empty_result(self) -> bool:
        return self.paths is not None and not self.paths and not self.dirs


@dataclass(frozen=True)
class Fusion:
    """How the dense and sparse retrievers combine, all inside one Qdrant query.

    - "blend": a score formula, cosine + weight * s / (s + saturation) with s the
      lexical (BM25) score: meaning ranks, exact words lift; the saturation keeps a
      long lexical score from swamping the cosine.
    - "rrf" (reciprocal rank fusion, k) and "dbsf" (distribution-based score fusion).
    - "dense" or "sparse": one retriever alone.
    """

    method: str = "blend"
    candidates: int = 100
    rrf_k: int = 60
    sparse_weight: float = 0.05
    sparse_saturation: float = 8.0


@dataclass(frozen=True)
class ScoredHit:
    id: str
    score: float
    payload: dict[str, Any]


class Store(Protocol):
    def read_meta(self) -> dict | None: ...
    def write_meta(self, meta: dict) -> None: ...
    def state(self) -> Iterator[StoredChunk]:
        """Every chunk point and file marker (reads every payload: for inspection)."""
        ...
    def files(self) -> dict[str, StoredFile]:
        """Every recorded path, from indexes: what a re-index plans from."""
        ...
    def vectors(self, ids: list[str]) -> dict[str, tuple[list[float], SparseVector]]: ...
    def ids_of_content(self, content_hashes: list[str]) -> dict[str, str]:
        """A point id for each content hash the store holds (identical chunks share a
        vector, so any of them will do)."""
        ...
    def upsert(self, points: list[Point]) -> None: ...
    def delete_path(self, path: str, keep_file_hash: str | None = None) -> None: ...
    def set_file_stat(self, path: str, mtime_ns: int, size: int) -> None: ...
    def add_dirs(self, paths: Iterable[str]) -> None:
        """Give the chunks of an index made before "dir_ids" existed their folders' ids."""
        ...
    def query(self, dense: np.ndarray | None, sparse: SparseVector | None, filters: Filters,
              limit: int, fusion: Fusion) -> list[ScoredHit]:
        """Best points for the query vectors, both retrievers fused inside Qdrant."""
        ...
    def paths(self) -> list[str]: ...
    def count(self) -> int: ...
    def optimize(self) -> None: ...
    def flush(self) -> None: ...
    def release(self) -> None:
        """Let another process use the index until this handle's next call."""
        ...
    def close(self) -> None: ...


def _payload_of_meta(payload: dict | None) -> dict | None:
    return dict(payload["meta"]) if payload and "meta" in payload else None


class _PayloadReads:
    """The reads both backends build from their own scroll; qdrant_edge's and
    qdrant_client's models spell these filters alike."""

    models: Any

    def _scroll(self, fields: list[str], flt=None) -> Iterator[tuple[str, dict]]:
        raise NotImplementedError

    def _after_read(self) -> None:
        pass

    def state(self) -> Iterator[StoredChunk]:
        for pid, payload in self._scroll(STATE_FIELDS):
            if "path" in payload:
                yield _stored(pid, payload)
        self._after_read()

    def _with_path_scope(self, must: list, filters: Filters) -> tuple[list, list]:
        """(must, should) with the path scope added: in one of its paths or folders.
        One condition goes to `must`, which Qdrant's planner serves a little faster."""
        m = self.models
        scope = [] if filters.paths is None else [
            m.FieldCondition(key=key, match=m.MatchAny(any=list(values)))
            for key, values in (("path", filters.paths),
                                ("dir_ids", [folder_id(d) for d in filters.dirs])) if values]
        return (must + scope, []) if len(scope) == 1 else (must, scope)

    def ids_of_content(self, content_hashes: list[str]) -> dict[str, str]:
        m = self.models
        found: dict[str, str] = {}
        for start in range(0, len(content_hashes), 1024):
            flt = m.Filter(must=[m.FieldCondition(
                key="content_hash", match=m.MatchAny(any=content_hashes[start:start + 1024]))])
            for pid, payload in self._scroll(["content_hash"], flt):
                found.setdefault(payload["content_hash"], pid)
        return found


# --------------------------------------------------------------------------- edge


# The engine admits one open handle at a time (an exclusive lock on its WAL), so
# processes hand it over: an index run (which holds index.lock, see lock.py) closes it
# while it embeds, and readers close theirs after each call while a run is at work.
# How long a handle waits for the other side: a reader outlasts a write batch and the
# final optimize; a writer waits for a reader to finish the call it is in.
READER_WAIT = 60.0
WRITER_WAIT = 5.0
# The HNSW graph: Qdrant's defaults (m 16, ef_construct 100, search ef = ef_construct).
# Cheaper graphs were measured and left (BENCHMARKS.md, benchmarks/bench_vectors.py):
# ef_construct 64 saves 12% of the final optimize's CPU but slows queries by 0.4 ms;
# float16 storage saves 40% but makes filtered queries up to 2.6x slower.
EF_CONSTRUCT = 100
# Dense vectors also kept as int8 codes (scalar quantization, in RAM: 384 bytes a chunk),
# which the graph is built and walked with; hits are rescored on the float vectors. On
# the corpus's real vectors the final optimize took 38% less CPU and queries were
# faster, at the same recall (BENCHMARKS.md, benchmarks/bench_vectors.py).
QUANTIZE = True


class EdgeStore(_PayloadReads):
    """Qdrant Edge shard in a folder. Opened with `dim` it is a writer, else a reader."""

    def __init__(self, folder: Path, dim: int | None, ef_construct: int = EF_CONSTRUCT,
                 search_ef: int | None = None, float16: bool = False,
                 quantize: bool = QUANTIZE):
        """The graph and storage settings are there for benchmarks/bench_vectors.py to
        compare; `ef_construct`, `float16` and `quantize` apply to a new index only."""
        import qdrant_edge as qe

        self.qe = self.models = qe
        self.folder = folder = Path(folder)
        self.writer = dim is not None
        self.search_ef = search_ef
        self._shard = None
        self._engine_fd: int | None = None
        exists = (folder / "edge_config.json").exists() or any(folder.glob("segments*"))
        if exists:
            self._shard = self._load()
            if self.writer:  # an index made by an older codesearch may lack one
                self._create_indexes()
            return
        if dim is None:
            raise UserError(f"no index at {folder.parent}: run 'codesearch index' first")
        self._take_engine()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            datatype = qe.VectorStorageDatatype.Float16 if float16 else None
            quantization = (qe.ScalarQuantizationConfig(qe.ScalarType.Int8, quantile=0.99,
                                                        always_ram=True) if quantize else None)
            self._shard = qe.EdgeShard.create(str(folder), qe.EdgeConfig(
                vectors={DENSE: qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine,
                                                    datatype=datatype)},
                hnsw_config=qe.HnswIndexConfig(m=16, ef_construct=ef_construct,
                                               full_scan_threshold=10_000),
                sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
                quantization_config=quantization,
            ))
            self._create_indexes()
        except Exception as err:
            self.release()
            raise UserError(f"cannot create the index at {folder.parent}: {err}") from err

    def _create_indexes(self) -> None:
        qe = self.qe
        kinds = {"keyword": qe.KeywordIndexParams(on_disk=True),
                 "keyword in RAM": qe.KeywordIndexParams(on_disk=False),
                 "integer": qe.IntegerIndexParams(lookup=True, range=False, on_disk=True),
                 "integer in RAM": qe.IntegerIndexParams(lookup=True, range=False, on_disk=False)}
        # A no-op for an index that exists as asked; one made otherwise is converted.
        for name, kind in INDEXED_FIELDS.items():
            self._shard.update(qe.UpdateOperation.create_field_index(name, kinds[kind]))

    @property
    def shard(self):
        if self._shard is None:  # released to another process: take it back
            self._shard = self._load()
        return self._shard

    def _take_engine(self) -> None:
        """Hold engine.lock before touching the engine. Its own WAL lock comes too late:
        a load first tidies the segment folders, deleting the temporary files of an
        optimize running in another process, so no process may even try to load
        while another has the engine open."""
        deadline = None
        while self._engine_fd is None:
            self._engine_fd = try_lock(self.folder.parent / ENGINE_LOCK)
            if self._engine_fd is not None:
                return
            pid = writer_pid(self.folder.parent)
            if pid is None:  # another reader, which never hands over: do not wait
                raise UserError(f"the index at {self.folder.parent} is open in another "
                                "codesearch process; close it and try again")
            if deadline is None:
                deadline = time.monotonic() + (WRITER_WAIT if self.writer else READER_WAIT)
            if time.monotonic() >= deadline:
                raise UserError(
                    f"the index at {self.folder.parent} is open in another codesearch process "
                    + ("(a TUI or editor?); close it and try again" if self.writer else
                       f"(index run, pid {pid}); try again when it finishes"))
            time.sleep(0.05)

    def _load(self):
        self._take_engine()
        try:
            return self.qe.EdgeShard.load(str(self.folder))
        except Exception as err:  # the engine reports locks and corruption as RuntimeError
            self.release()
            message = str(err)
            if "WouldBlock" in message or "lock" in message.lower():  # a codesearch before engine.lock
                raise UserError(f"the index at {self.folder.parent} is open in another "
                                "codesearch process; close it and try again") from err
            raise UserError(f"cannot open the index at {self.folder.parent}: {message}") from err

    def release(self) -> None:
        # Forget the handle before closing it: a Ctrl-C that lands just after close()
        # must not leave a closed shard behind for the run's final flush to trip on.
        shard, self._shard = self._shard, None
        if shard is not None:
            shard.close()  # persists everything written so far
        if self._engine_fd is not None:
            os.close(self._engine_fd)  # drops the flock
            self._engine_fd = None

    def _yield_to_writer(self) -> None:
        """A reader closes the engine after each call while an index run wants it."""
        if not self.writer and self._shard is not None and writer_pid(self.folder.parent):
            self.release()

    _after_read = _yield_to_writer

    def read_meta(self) -> dict | None:
        records = self.shard.retrieve([META_ID], with_payload=True, with_vector=False)
        self._yield_to_writer()
        return _payload_of_meta(records[0].payload) if records else None

    def write_meta(self, meta: dict) -> None:
        self.shard.update(self.qe.UpdateOperation.upsert_points(
            [self.qe.Point(META_ID, {}, {"meta": meta})]))

    def _scroll(self, fields: list[str], flt=None) -> Iterator[tuple[str, dict]]:
        offset = None
        while True:
            records, offset = self.shard.scroll(self.qe.ScrollRequest(
                offset=offset, limit=4096, filter=flt, with_payload=fields, with_vector=False))
            yield from ((str(r.id), r.payload or {}) for r in records)
            if offset is None:
                return

    def files(self) -> dict[str, StoredFile]:
        qe = self.qe
        facet = self.shard.facet(qe.FacetRequest(key="path", limit=10_000_000, exact=True))
        first = qe.Filter(should=[qe.FieldCondition(key="ordinal", match=qe.MatchValue(0)),
                                  qe.IsEmptyCondition("ordinal")])  # markers have none
        files = stored_files((payload for _, payload in self._scroll(FILE_FIELDS, first)),
                             {str(hit.value): hit.count for hit in facet.hits})
        self._yield_to_writer()
        return files

    def vectors(self, ids: list[str]) -> dict[str, tuple[list[float], SparseVector]]:
        out = {}
        for r in self.shard.retrieve(ids, with_payload=False, with_vector=True):
            vec = r.vector
            sp = vec[SPARSE]
            out[str(r.id)] = (vec[DENSE], SparseVector(list(sp.indices), list(sp.values)))
        return out

    def upsert(self, points: list[Point]) -> None:
        qe = self.qe
        self.shard.update(qe.UpdateOperation.upsert_points([
            qe.Point(p.id, {} if p.dense is None else {
                DENSE: p.dense.tolist(), SPARSE: qe.SparseVector(p.sparse.indices, p.sparse.values)},
                _with_dirs(p))
            for p in points
        ]))

    def delete_path(self, path: str, keep_file_hash: str | None = None) -> None:
        qe = self.qe
        must = [qe.FieldCondition(key="path", match=qe.MatchValue(path))]
        must_not = ([qe.FieldCondition(key="file_hash", match=qe.MatchValue(keep_file_hash))]
                    if keep_file_hash else None)
        self.shard.update(qe.UpdateOperation.delete_points_by_filter(
            qe.Filter(must=must, must_not=must_not)))

    def set_file_stat(self, path: str, mtime_ns: int, size: int) -> None:
        qe = self.qe
        self.shard.update(qe.UpdateOperation.set_payload_by_filter(
            qe.Filter(must=[qe.FieldCondition(key="path", match=qe.MatchValue(path))]),
            {"mtime_ns": mtime_ns, "size": size}))

    def add_dirs(self, paths: Iterable[str]) -> None:
        qe = self.qe
        for path in paths:
            self.shard.update(qe.UpdateOperation.set_payload_by_filter(
                qe.Filter(must=[qe.FieldCondition(key="path", match=qe.MatchValue(path))],
                          must_not=[qe.IsEmptyCondition("content_hash")]),
                {"dir_ids": folder_ids(path)}))

    def _filter(self, filters: Filters):
        qe = self.qe
        must = []
        if filters.languages:
            must.append(qe.FieldCondition(key="language", match=qe.MatchAny(any=filters.languages)))
        if filters.kinds:
            must.append(qe.FieldCondition(key="kind", match=qe.MatchAny(any=filters.kinds)))
        must, should = self._with_path_scope(must, filters)
        return qe.Filter(must=must or None, should=should or None) if must or should else None

    def query(self, dense, sparse, filters, limit, fusion: Fusion) -> list[ScoredHit]:
        qe = self.qe
        if filters.empty_result():
            return []
        flt = self._filter(filters)
        dense_q = qe.Query.Nearest(dense.tolist(), using=DENSE) if dense is not None else None
        sparse_q = (qe.Query.Nearest(qe.SparseVector(sparse.indices, sparse.values), using=SPARSE)
                    if sparse is not None and sparse.indices else None)
        # The graph walk compares int8 codes; the candidates it keeps are scored again on
        # the float vectors, which the engine does only when asked: unasked, cosines were
        # 1e-3 off and recall@10 fell from 0.965 to 0.945 on the corpus's vectors.
        graph = qe.SearchParams(hnsw_ef=self.search_ef,
                                quantization=qe.QuantizationSearchParams(rescore=True))
        single = _single_retriever(fusion.method, dense_q, sparse_q)
        if single is not None:
            request = qe.QueryRequest(limit=limit, query=single, filter=flt, with_payload=True,
                                      params=graph if single is dense_q else None)
        elif dense_q is None and sparse_q is None:
            return []
        else:
            # The filter goes at the root only: the engine applies it inside each
            # prefetch too (test_a_filter_reaches_each_retriever...). Given to the
            # prefetches as well, every candidate was tested twice: 10-30% slower at
            # 300k chunks in a direct probe, less end to end (BENCHMARKS.md).
            prefetch = [qe.Prefetch(limit=fusion.candidates, query=q, params=p)
                        for q, p in ((dense_q, graph), (sparse_q, None))]
            request = qe.QueryRequest(limit=limit, prefetches=prefetch, query=self._fuse(fusion),
                                      filter=flt, with_payload=True)
        hits = [ScoredHit(str(p.id), p.score, p.payload or {}) for p in self.shard.query(request)]
        self._yield_to_writer()
        return hits

    def _fuse(self, fusion: Fusion):
        qe = self.qe
        if fusion.method == "rrf":
            return qe.Fusion.Rrf(k=fusion.rrf_k)
        if fusion.method == "dbsf":
            return qe.Fusion.Dbsf()
        e = qe.Expression
        lexical = e.Variable("$score[1]")
        saturated = e.Div(lexical, e.Sum([lexical, e.Constant(fusion.sparse_saturation)]), 0.0)
        return qe.Formula(e.Sum([e.Variable("$score[0]"),
                                 e.Mult([e.Constant(fusion.sparse_weight), saturated])]),
                          defaults={"$score[0]": 0.0, "$score[1]": 0.0})

    def paths(self) -> list[str]:
        qe = self.qe
        facet = self.shard.facet(qe.FacetRequest(
            key="path", limit=10_000_000, exact=True,
            filter=qe.Filter(must_not=[qe.IsEmptyCondition("content_hash")])))
        self._yield_to_writer()
        # The engine keeps a deleted value with count 0 until the shard is reopened.
        return sorted(str(h.value) for h in facet.hits if h.count > 0)

    def count(self) -> int:
        """Chunks in the index (neither the metadata point nor file markers)."""
        qe = self.qe
        count = self.shard.count(qe.CountRequest(
            exact=True, filter=qe.Filter(must_not=[qe.IsEmptyCondition("content_hash")])))
        self._yield_to_writer()
        return count

    def flush(self) -> None:
        if self._shard is not None:  # a released engine has nothing pending
            self._shard.flush()

    def optimize(self) -> None:
        # Merges small segments and builds HNSW and payload indexes; without it,
        # fresh points sit in plain segments that every query scans.
        self.shard.optimize()

    def close(self) -> None:
        self.release()


def _stored(pid: str, payload: dict) -> StoredChunk:
    return StoredChunk(pid, payload["path"], payload.get("file_hash", ""),
                       int(payload.get("n_chunks", 0)), payload.get("content_hash", ""),
                       int(payload.get("mtime_ns", 0)), int(payload.get("size", -1)),
                       payload.get("skipped", ""))


# ------------------------------------------------------------------------- client


class ClientStore(_PayloadReads):
    """A collection in a Qdrant server or cluster (or qdrant-client's local mode)."""

    def __init__(self, collection: str, dim: int | None, url: str = "", api_key: str | None = None,
                 timeout: float = 10.0, local_path: str | None = None,
                 api_key_env: str = "QDRANT_API_KEY"):
        import warnings

        from qdrant_client import QdrantClient, models

        self.m = self.models = models
        self.collection = collection
        where = url or local_path or "memory"
        try:
            if url:
                with warnings.catch_warnings():  # errors are one line; no warning lines before it
                    warnings.filterwarnings("ignore", "Api key is used with an insecure connection")
                    self.client = QdrantClient(url=url, api_key=api_key, timeout=int(timeout))
            else:
                self.client = QdrantClient(path=local_path) if local_path else QdrantClient(":memory:")
            exists = self.client.collection_exists(collection)
        except Exception as err:
            status = getattr(err, "status_code", None)
            if status in (401, 403):  # never echo the key itself
                given = "was refused" if api_key else "is missing"
                raise UserError(f"Qdrant at {where} answered {status}: the API key {given}; set the "
                                f"right key in ${api_key_env} (see [qdrant] api_key_env)") from err
            raise UserError(f"cannot reach Qdrant at {where}: {_short(err)}") from err
        if not exists:
            if dim is None:
                raise UserError(f"no index in Qdrant collection '{collection}' at {where}: "
                                "run 'codesearch index' first")
            self._create(dim)
        elif dim is not None:  # a collection made by an older codesearch may lack one
            self._create_indexes()

    def _create(self, dim: int) -> None:
        m = self.m
        self.client.create_collection(
            self.collection,
            vectors_config={DENSE: m.VectorParams(size=dim, distance=m.Distance.COSINE)},
            sparse_vectors_config={SPARSE: m.SparseVectorParams(modifier=m.Modifier.IDF)},
        )
        self._create_indexes()

    def _create_indexes(self) -> None:
        m = self.m
        kinds = {"keyword": m.KeywordIndexParams(type=m.KeywordIndexType.KEYWORD, on_disk=True),
                 "keyword in RAM": m.KeywordIndexParams(type=m.KeywordIndexType.KEYWORD,
                                                        on_disk=False),
                 "integer": m.IntegerIndexParams(type=m.IntegerIndexType.INTEGER, lookup=True,
                                                 range=False, on_disk=True),
                 "integer in RAM": m.IntegerIndexParams(type=m.IntegerIndexType.INTEGER,
                                                        lookup=True, range=False, on_disk=False)}
        for name, kind in INDEXED_FIELDS.items():
            self.client.create_payload_index(self.collection, name, kinds[kind])

    def read_meta(self) -> dict | None:
        records = self.client.retrieve(self.collection, [META_ID], with_payload=True)
        return _payload_of_meta(records[0].payload) if records else None

    def write_meta(self, meta: dict) -> None:
        self.client.upsert(self.collection, [self.m.PointStruct(id=META_ID, vector={},
                                                                 payload={"meta": meta})])

    def _scroll(self, fields: list[str], flt=None) -> Iterator[tuple[str, dict]]:
        offset = None
        while True:
            records, offset = self.client.scroll(self.collection, scroll_filter=flt, limit=4096,
                                                 offset=offset, with_payload=fields,
                                                 with_vectors=False)
            yield from ((str(r.id), r.payload or {}) for r in records)
            if offset is None:
                return

    def files(self) -> dict[str, StoredFile]:
        m = self.m
        facet = self.client.facet(self.collection, key="path", limit=10_000_000, exact=True)
        first = m.Filter(should=[m.FieldCondition(key="ordinal", match=m.MatchValue(value=0)),
                                 m.IsEmptyCondition(is_empty=m.PayloadField(key="ordinal"))])
        return stored_files((payload for _, payload in self._scroll(FILE_FIELDS, first)),
                            {str(hit.value): hit.count for hit in facet.hits})

    def vectors(self, ids: list[str]) -> dict[str, tuple[list[float], SparseVector]]:
        out = {}
        for r in self.client.retrieve(self.collection, ids, with_vectors=True):
            sp = r.vector[SPARSE]
            out[str(r.id)] = (r.vector[DENSE], SparseVector(list(sp.indices), list(sp.values)))
        return out

    def upsert(self, points: list[Point]) -> None:
        m = self.m
        self.client.upsert(self.collection, [
            m.PointStruct(id=p.id, payload=_with_dirs(p), vector={} if p.dense is None else {
                DENSE: p.dense.tolist(),
                SPARSE: m.SparseVector(indices=p.sparse.indices, values=p.sparse.values)})
            for p in points
        ], wait=True)

    def _path_filter(self, path: str, keep_file_hash: str | None = None):
        m = self.m
        must_not = ([m.FieldCondition(key="file_hash", match=m.MatchValue(value=keep_file_hash))]
                    if keep_file_hash else None)
        return m.Filter(must=[m.FieldCondition(key="path", match=m.MatchValue(value=path))],
                        must_not=must_not)

    def delete_path(self, path: str, keep_file_hash: str | None = None) -> None:
        self.client.delete(self.collection, self.m.FilterSelector(
            filter=self._path_filter(path, keep_file_hash)), wait=True)

    def set_file_stat(self, path: str, mtime_ns: int, size: int) -> None:
        self.client.set_payload(self.collection, {"mtime_ns": mtime_ns, "size": size},
                                points=self._path_filter(path), wait=True)

    def add_dirs(self, paths: Iterable[str]) -> None:
        m = self.m
        for path in paths:
            self.client.set_payload(self.collection, {"dir_ids": folder_ids(path)}, wait=True,
                                    points=m.Filter(must=[m.FieldCondition(
                                        key="path", match=m.MatchValue(value=path))], must_not=[
                                        m.IsEmptyCondition(is_empty=m.PayloadField(
                                            key="content_hash"))]))

    def _filter(self, filters: Filters):
        m = self.m
        must = []
        for key, values in (("language", filters.languages), ("kind", filters.kinds)):
            if values:
                must.append(m.FieldCondition(key=key, match=m.MatchAny(any=list(values))))
        must, should = self._with_path_scope(must, filters)
        return m.Filter(must=must or None, should=should or None) if must or should else None

    def query(self, dense, sparse, filters, limit, fusion: Fusion) -> list[ScoredHit]:
        m = self.m
        if filters.empty_result():
            return []
        flt = self._filter(filters)
        dense_q = dense.tolist() if dense is not None else None
        sparse_q = (m.SparseVector(indices=sparse.indices, values=sparse.values)
                    if sparse is not None and sparse.indices else None)
        kwargs: dict[str, Any] = {"limit": limit, "query_filter": flt, "with_payload": True}
        single = _single_retriever(fusion.method, dense_q, sparse_q)
        if single is not None:
            kwargs.update(query=single, using=DENSE if single is dense_q else SPARSE)
        elif dense_q is None and sparse_q is None:
            return []
        else:
            kwargs["prefetch"] = [
                m.Prefetch(query=dense_q, using=DENSE, limit=fusion.candidates, filter=flt),
                m.Prefetch(query=sparse_q, using=SPARSE, limit=fusion.candidates, filter=flt)]
            kwargs["query"] = self._fuse(fusion)
        result = self.client.query_points(self.collection, **kwargs)
        return [ScoredHit(str(p.id), p.score, p.payload or {}) for p in result.points]

    def _fuse(self, fusion: Fusion):
        m = self.m
        if fusion.method == "rrf":
            return m.RrfQuery(rrf=m.Rrf(k=fusion.rrf_k))
        if fusion.method == "dbsf":
            return m.FusionQuery(fusion=m.Fusion.DBSF)
        saturated = m.DivExpression(div=m.DivParams(
            left="$score[1]", right=m.SumExpression(sum=["$score[1]", fusion.sparse_saturation]),
            by_zero_default=0.0))
        return m.FormulaQuery(
            formula=m.SumExpression(sum=["$score[0]", m.MultExpression(
                mult=[fusion.sparse_weight, saturated])]),
            defaults={"$score[0]": 0.0, "$score[1]": 0.0})

    def paths(self) -> list[str]:
        m = self.m
        facet = self.client.facet(self.collection, key="path", limit=10_000_000, exact=True,
                                  facet_filter=m.Filter(must_not=[m.IsEmptyCondition(
                                      is_empty=m.PayloadField(key="content_hash"))]))
        return sorted(str(h.value) for h in facet.hits if h.count > 0)

    def count(self) -> int:
        """Chunks in the index (neither the metadata point nor file markers)."""
        m = self.m
        flt = m.Filter(must_not=[m.IsEmptyCondition(is_empty=m.PayloadField(key="content_hash"))])
        return self.client.count(self.collection, count_filter=flt, exact=True).count

    def flush(self) -> None:
        pass  # the server persists each acknowledged write

    def optimize(self) -> None:
        pass

    def release(self) -> None:
        pass  # a server serves many clients at once

    def close(self) -> None:
        self.client.close()


def _single_retriever(method: str, dense_q, sparse_q):
    """The one query to run when fusion is off or one side is missing, else None."""
    if method == "dense" or sparse_q is None:
        return dense_q
    if method == "sparse" or dense_q is None:
        return sparse_q
    return None


def _short(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__
