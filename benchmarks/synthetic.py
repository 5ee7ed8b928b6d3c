"""Synthetic indexes of 10k to 1M chunks for the scaling and 1M-query benchmarks.

Embedding a million real chunks would take days on 2 cores, so the dense vectors are
random unit vectors; everything else is real: the chunks of the benchmark corpus
(payloads, languages, kinds, code) and their lexical vectors, cycled with a copy
number in the path, written through the product's EdgeStore and optimised as the
indexer does. A finished store is cached next to the corpus and reused.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
from perf_common import corpus_chunks, log

from codesearch import sparse
from codesearch.store import EdgeStore, Point, point_id

BATCH = 1024
VERSION = 4  # 2: chunks carry their folders; 3: int8 codes; 4: folder ids ("dir_ids")


def source_points(tree: Path) -> list[tuple[dict, sparse.SparseVector]]:
    """(payload, lexical vector) of every real chunk of the corpus."""
    _, chunks, _, _ = corpus_chunks(tree)
    out = []
    for c in chunks:
        payload = {"path": c.path, "language": c.language, "kind": c.kind, "symbol": c.symbol,
                   "parent": c.parent, "signature": c.signature, "start_line": c.start_line,
                   "end_line": c.end_line, "code": c.code, "content_hash": c.content_hash,
                   "file_hash": "synthetic", "n_chunks": 1, "ordinal": 0, "mtime_ns": 0, "size": 0}
        out.append((payload, sparse.document_vector(f"{c.path}\n{c.symbol}\n{c.code}", c.symbol)))
    return out


def build(folder: Path, n: int, source: list, dim: int = 384, meta: dict | None = None) -> dict:
    """Create (or reuse) an n-point EdgeStore at folder/qdrant; build timings and size."""
    stamp = folder / "synthetic.json"
    if stamp.exists():
        facts = json.loads(stamp.read_text())
        if facts.get("n") == n and facts.get("version") == VERSION:
            # A writer's open brings the payload indexes to the product's current kind.
            EdgeStore(folder / "qdrant", dim).close()
            return facts
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(n)
    store = EdgeStore(folder / "qdrant", dim)
    t = time.perf_counter()
    for start in range(0, n, BATCH):
        count = min(BATCH, n - start)
        dense = rng.standard_normal((count, dim), dtype=np.float32)
        dense /= np.linalg.norm(dense, axis=1, keepdims=True)
        points = []
        for j in range(count):
            i = start + j
            payload, lexical = source[i % len(source)]
            copy = i // len(source)
            payload = dict(payload, path=f"copy{copy}/{payload['path']}",
                           content_hash=f"{payload['content_hash']}{copy}")
            points.append(Point(point_id(payload["path"], "synthetic", i), dense[j], lexical,
                                payload))
        store.upsert(points)
        if start // BATCH % 100 == 0:
            log(f"synthetic {n}: {start + count:,} points")
    upsert_s = time.perf_counter() - t
    t = time.perf_counter()
    store.optimize()
    store.flush()
    optimize_s = time.perf_counter() - t
    if meta:
        store.write_meta(meta)
    store.close()
    facts = {"n": n, "version": VERSION, "upsert_s": upsert_s, "optimize_s": optimize_s,
             "disk_mb": sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6}
    stamp.write_text(json.dumps(facts))
    return facts
