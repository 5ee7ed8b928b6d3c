"""Index a repository: walk -> parse/chunk -> embed -> store, touching only what changed.

Incremental by construction. Every point carries its file's content hash and
chunk count, so what Qdrant holds says exactly which files are complete:
- a file whose size and mtime match its stored chunks is not even read;
- a file whose content hash matches is not re-chunked;
- a changed file's new chunks are written first and its old ones deleted after,
  so a crash at any moment leaves either the old or the new version searchable,
  and the next run finishes the job (an incomplete file has fewer chunks than its
  recorded count);
- chunks whose content hash already exists anywhere in the index (moved or copied
  code) reuse the stored vector instead of being embedded again.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from codesearch import __version__, sparse
from codesearch.chunk import Chunk, chunk_file
from codesearch.config import Config
from codesearch.embed import (
    Embedder,
    Encoder,
    ModelInfo,
    read_model_info,
    resolve_model_path,
    return_freed_memory,
)
from codesearch.errors import UserError
from codesearch.locate import drop_store, index_dir, open_store, save_settings
from codesearch.lock import IndexLock
from codesearch.store import PATH_DIRS, Point, Store, StoredFile, point_id
from codesearch.walk import Skipped, SourceFile, WalkResult, read_source, walk

# Chunks gathered before one embedding pass: large enough for well-filled length
# buckets and few engine hand-overs, small enough that an interrupted run loses little
# work. Measured on the benchmark corpus (benchmarks/bench_index.py): padding costs 8%
# extra compute with 1024, 2.6% with 4096; 8192 indexed 2.5% faster than 4096 (bf16,
# a third of the corpus, two runs each) for 150-250 MB more peak memory. At bf16 on 2
# cores one batch is about a minute of embedding, the most an interrupt loses.
EMBED_BATCH_CHUNKS = 8192
UPSERT_BATCH = 256
# The engine is handed to waiting searchers while a batch embeds, unless the batch is
# this small: embedding it takes about a second, and closing and reopening the engine
# would cost as much again (a one-file re-index).
RELEASE_ABOVE_CHUNKS = 32
# Bump when chunking changes so that existing indexes re-chunk (vectors are reused).
CHUNKER_VERSION = 1


@dataclass
class IndexSummary:
    files_seen: int = 0
    files_indexed: int = 0        # new or changed, (re-)chunked
    files_unchanged: int = 0
    files_deleted: int = 0
    chunks_total: int = 0
    chunks_embedded: int = 0
    chunks_reused: int = 0        # vector taken from identical content already indexed
    tokens: int = 0
    seconds: float = 0.0
    skipped: list[Skipped] = field(default_factory=list)
    parse_fallbacks: list[Skipped] = field(default_factory=list)
    stage_seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    @property
    def tokens_per_second(self) -> float:
        embed = self.stage_seconds.get("embed", 0.0)
        return self.tokens / embed if embed else 0.0


@dataclass
class Plan:
    walked: WalkResult
    todo: list[SourceFile] = field(default_factory=list)   # new, or stat differs
    gone: list[str] = field(default_factory=list)          # indexed, no longer in the tree
    states: dict[str, StoredFile] = field(default_factory=dict)
    same_chunker: bool = True


@dataclass
class _PendingFile:
    file: SourceFile
    file_hash: str
    chunks: list[Chunk]


def model_meta(info: ModelInfo) -> dict:
    meta = {"model_id": info.model_id, "model_path": info.path, "dim": info.dim,
            "pooling": info.pooling, "max_length": info.max_length}
    if info.text_path:  # a dual model: model_id names both towers; the text one also apart
        meta.update(text_model_id=info.text_id, text_model_path=info.text_path)
    return meta


def check_model(meta: dict | None, info: ModelInfo) -> None:
    """Refuse to mix vectors of different models in one index."""
    if meta and (meta.get("model_id") != info.model_id or meta.get("dim") != info.dim):
        raise UserError(
            f"this index was built with model {meta.get('model_id')} (dim {meta.get('dim')}) "
            f"but the config names {info.model_id} (dim {info.dim}); rebuild it with "
            "'codesearch index --full PATH' or use the index's model")


class Indexer:
    def __init__(self, root: Path, config: Config, progress: bool = False,
                 encoder: Encoder | Embedder | None = None,
                 log: Callable[[str], None] | None = None):
        if not root.is_dir():
            raise UserError(f"{root} is not a directory")
        self.root = root.resolve()
        self.config = config
        self.progress = progress
        self.encoder = Embedder.of(encoder) if encoder is not None else None
        self.log = log or (lambda message: None)
        self.info = encoder.info if encoder else read_model_info(
            resolve_model_path(config.model.name), config.model.max_length)
        self.summary = IndexSummary()

    def run(self, full: bool = False, store: Store | None = None) -> IndexSummary:
        # One writer per index at a time; the kernel frees a killed run's lock (lock.py).
        with IndexLock(index_dir(self.root, self.config)):
            return self._run(full, store)

    def _run(self, full: bool, store: Store | None) -> IndexSummary:
        started = time.perf_counter()
        if full and store is None:
            drop_store(self.root, self.config)
        own_store = store is None
        store = store or open_store(self.root, self.config, self.info.dim)
        try:
            meta = store.read_meta()
            check_model(meta, self.info)
            save_settings(self.root, self.config)
            self._index(store, meta or {})
            if self.encoder is not None:  # torch is loaded: now cheap to export (runtime.py)
                self.encoder.export_runtime()
        finally:
            self.summary.seconds = time.perf_counter() - started
            store.flush()
            if own_store:
                store.close()
        return self.summary

    # -- planning -------------------------------------------------------------

    def plan(self, store: Store, meta: dict) -> Plan:
        """Compare the tree with what the store holds, without reading unchanged files."""
        cfg = self.config.index
        t = time.perf_counter()
        walked = walk(self.root, cfg.max_file_bytes, cfg.exclude, cfg.languages or None)
        self.summary.stage_seconds["walk"] += time.perf_counter() - t
        t = time.perf_counter()
        plan = Plan(walked=walked, states=store.files())
        self.summary.stage_seconds["store"] += time.perf_counter() - t
        plan.same_chunker = (meta.get("chunker") == CHUNKER_VERSION
                             and meta.get("chunk_tokens") == cfg.chunk_tokens)
        current = {f.path for f in walked.files}
        plan.gone = sorted(path for path in plan.states if path not in current)
        for f in walked.files:
            state = plan.states.get(f.path)
            if not (plan.same_chunker and state and state.complete
                    and state.mtime_ns == f.mtime_ns and state.size == f.size):
                plan.todo.append(f)
            elif state.skipped:
                plan.walked.skipped.append(Skipped(f.path, state.skipped))
        return plan

    def file_changed(self, file: SourceFile, state: StoredFile | None) -> bool:
        """Whether a file the plan flagged really differs from its indexed version."""
        text, _ = read_source(file)
        return not (state and state.complete and text is not None
                    and state.file_hash == self._file_hash(text))

    def _index(self, store: Store, meta: dict) -> None:
        s = self.summary
        plan = self.plan(store, meta)
        s.files_seen = len(plan.walked.files)
        s.skipped = plan.walked.skipped
        todo = {f.path for f in plan.todo}
        s.files_unchanged = sum(1 for f in plan.walked.files
                                if f.path not in todo and not plan.states[f.path].skipped)
        if meta.get("path_dirs") != PATH_DIRS:  # made before chunks carried folder ids (store.py)
            t = time.perf_counter()
            store.add_dirs(path for path, state in plan.states.items()
                           if state.n_chunks and path not in plan.gone)
            s.stage_seconds["store"] += time.perf_counter() - t
        meta.update(model_meta(self.info), root=str(self.root), complete=False,
                    chunker=CHUNKER_VERSION, chunk_tokens=self.config.index.chunk_tokens,
                    version=__version__)
        store.write_meta(meta)
        self._update(store, plan.todo, plan.states if plan.same_chunker else {})
        t = time.perf_counter()
        for path in plan.gone:
            store.delete_path(path)
        s.files_deleted = sum(1 for path in plan.gone if plan.states[path].n_chunks)
        if s.files_indexed or s.files_deleted:
            store.optimize()
        s.chunks_total = store.count()
        s.stage_seconds["store"] += time.perf_counter() - t
        meta.update(complete=True, path_dirs=PATH_DIRS,
                    indexed_at=datetime.now(UTC).isoformat(timespec="seconds"),
                    generation=int(meta.get("generation", 0)) + 1, files=s.files_seen,
                    chunks=s.chunks_total,
                    skipped=[[x.path, x.reason] for x in (s.skipped + s.parse_fallbacks)][:1000])
        store.write_meta(meta)

    # -- updating -------------------------------------------------------------

    def _update(self, store: Store, todo: list[SourceFile], states: dict[str, StoredFile]) -> None:
        bar = _progress_bar(len(todo), self.progress)
        pending: list[_PendingFile] = []
        pending_chunks = 0
        try:
            for file in todo:
                item = self._read_and_chunk(store, file, states.get(file.path))
                bar.update(1)
                if item is None:
                    continue
                pending.append(item)
                pending_chunks += len(item.chunks)
                if pending_chunks >= EMBED_BATCH_CHUNKS:
                    self._write(store, pending, bar)
                    pending, pending_chunks = [], 0
            if pending:
                self._write(store, pending, bar)
        finally:
            bar.close()

    def _read_and_chunk(self, store: Store, file: SourceFile,
                        state: StoredFile | None) -> _PendingFile | None:
        s = self.summary
        t = time.perf_counter()
        text, reason = read_source(file)
        s.stage_seconds["read"] += time.perf_counter() - t
        if text is None:
            s.skipped.append(Skipped(file.path, reason))
            if reason.startswith("unreadable"):  # may be transient: try again next run
                store.delete_path(file.path)
            else:
                self._mark(store, file, f"skip:{reason}:{file.size}:{file.mtime_ns}", reason)
            return None
        file_hash = self._file_hash(text)
        if state and state.complete and state.file_hash == file_hash:
            store.set_file_stat(file.path, file.mtime_ns, file.size)  # touched, not changed
            s.files_unchanged += 1
            return None
        t = time.perf_counter()
        result = chunk_file(file.path, text, file.language, self.config.index.chunk_tokens)
        s.stage_seconds["parse"] += time.perf_counter() - t
        if result.parse_error:
            s.parse_fallbacks.append(Skipped(file.path, f"parsed as line windows: {result.parse_error}"))
        s.files_indexed += 1
        if not result.chunks:  # empty file: nothing to search, but remember we saw it
            self._mark(store, file, file_hash, "")
            return None
        return _PendingFile(file, file_hash, result.chunks)

    def _mark(self, store: Store, file: SourceFile, file_hash: str, reason: str) -> None:
        """Record a file that yields no chunks, replacing whatever it held before."""
        store.upsert([Point(point_id(file.path, file_hash, 0), None, None, {
            "path": file.path, "file_hash": file_hash, "n_chunks": 0, "skipped": reason,
            "mtime_ns": file.mtime_ns, "size": file.size})])
        store.delete_path(file.path, keep_file_hash=file_hash)

    def _file_hash(self, text: str) -> str:
        # The chunker's settings are part of a file's identity: changing them re-chunks
        # (with deterministic ids per version, so no stale chunk can survive).
        h = hashlib.blake2b(digest_size=16)
        h.update(f"{CHUNKER_VERSION}:{self.config.index.chunk_tokens}\0".encode())
        h.update(text.encode("utf-8", "surrogatepass"))
        return h.hexdigest()

    def _write(self, store: Store, pending: list[_PendingFile], bar) -> None:
        s = self.summary
        chunks = [c for item in pending for c in item.chunks]
        texts = [c.embedding_text() for c in chunks]
        hashes = [c.content_hash for c in chunks]

        t = time.perf_counter()
        # Moved or copied code, and chunks an earlier batch of this run wrote: their
        # vector is in the store already.
        reusable = store.ids_of_content(sorted(set(hashes)))
        stored = store.vectors(sorted(set(reusable.values()))) if reusable else {}
        s.stage_seconds["store"] += time.perf_counter() - t
        dense: dict[str, np.ndarray] = {h: np.asarray(stored[pid][0], dtype=np.float32)
                                        for h, pid in reusable.items() if pid in stored}
        # Identical new chunks (copies within this batch) are embedded once.
        to_embed = {h: text for h, text in zip(hashes, texts, strict=True) if h not in dense}
        s.chunks_reused += len(chunks) - sum(1 for h in hashes if h in to_embed)

        if to_embed:
            if len(to_embed) > RELEASE_ABOVE_CHUNKS:
                store.release()  # searchers may use the index while we embed (store.py)
            t = time.perf_counter()
            encoder = self._encoder()
            before = encoder.tokens_seen
            # Prose chunks go to a dual model's text tower, code to its code tower.
            languages = {c.content_hash: c.language for c in chunks}
            vectors = encoder.encode_documents(list(to_embed.values()),
                                               [languages[h] for h in to_embed])
            dense.update(zip(to_embed, vectors, strict=True))
            if len(to_embed) > RELEASE_ABOVE_CHUNKS:
                return_freed_memory()
            s.tokens += encoder.tokens_seen - before
            s.chunks_embedded += len(to_embed)
            s.stage_seconds["embed"] += time.perf_counter() - t
            bar.set_postfix(chunks=s.chunks_embedded + s.chunks_reused,
                            tok_s=f"{s.tokens_per_second:,.0f}", refresh=False)

        t = time.perf_counter()
        for item in pending:
            points = [self._point(item, i, c, dense[c.content_hash]) for i, c in enumerate(item.chunks)]
            for start in range(0, len(points), UPSERT_BATCH):
                store.upsert(points[start:start + UPSERT_BATCH])
            # Only now that every new chunk is in, the old version of the file goes.
            store.delete_path(item.file.path, keep_file_hash=item.file_hash)
        s.stage_seconds["store"] += time.perf_counter() - t

    def _point(self, item: _PendingFile, ordinal: int, chunk: Chunk, vector: np.ndarray) -> Point:
        return Point(
            id=point_id(item.file.path, item.file_hash, ordinal),
            dense=vector,
            sparse=sparse.document_vector(_lexical_text(chunk), chunk.symbol),
            payload={
                "path": chunk.path, "language": chunk.language, "kind": chunk.kind,
                "symbol": chunk.symbol, "parent": chunk.parent, "signature": chunk.signature,
                "start_line": chunk.start_line, "end_line": chunk.end_line, "code": chunk.code,
                "content_hash": chunk.content_hash, "file_hash": item.file_hash,
                "n_chunks": len(item.chunks), "ordinal": ordinal,
                "mtime_ns": item.file.mtime_ns, "size": item.file.size,
            },
        )

    def _encoder(self) -> Embedder:
        if self.encoder is None:
            m = self.config.model
            self.log(f"loading model {self.info.model_id}")
            self.encoder = Embedder.open(self.info, device=m.device, precision=m.precision,
                                         batch_tokens=m.batch_tokens)
        return self.encoder


def _lexical_text(chunk: Chunk) -> str:
    # The path's words help queries like "config loader"; symbol and code carry the rest.
    return f"{chunk.path}\n{chunk.symbol}\n{chunk.code}"


class _NoProgress:
    """The progress bar of a quiet run (--json, -q, no terminal, the TUI), which
    need not import tqdm: 60-90 ms on our 2-core machines, per re-index command."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, **values) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return _NoProgress()
    from tqdm import tqdm

    return tqdm(total=total, unit="file", file=sys.stderr, dynamic_ncols=True, desc="indexing")
