"""Embedded store comparison: qdrant-edge (our default) vs qdrant-client's local mode.

Same random 384-d unit vectors, same sparse vectors and payloads, through the
product's own `EdgeStore` and `ClientStore` classes: upsert, hybrid query, filtered
hybrid query, reopen, disk size. Ratios are client/edge measured in the same run.

    python benchmarks/bench_store.py --points 50000 --queries 200
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from codesearch.sparse import SparseVector
from codesearch.store import ClientStore, EdgeStore, Filters, Fusion, Point

LANGS = ["python", "go", "rust", "java", "javascript", "c", "cpp", "ruby"]


def make_points(n: int, dim: int, seed: int = 0) -> list[Point]:
    rng = np.random.default_rng(seed)
    dense = rng.normal(size=(n, dim)).astype(np.float32)
    dense /= np.linalg.norm(dense, axis=1, keepdims=True)
    points = []
    for i in range(n):
        idx = sorted(set(rng.integers(0, 50_000, size=12).tolist()))
        points.append(Point(
            id=f"00000000-0000-4000-8000-{i:012d}", dense=dense[i],
            sparse=SparseVector(idx, [1.0] * len(idx)),
            payload={"path": f"src/f{i // 8}.x", "language": LANGS[i % len(LANGS)],
                     "kind": "function", "file_hash": "h", "content_hash": f"c{i}",
                     "n_chunks": 8, "start_line": 1, "end_line": 2, "code": "x" * 200}))
    return points


def disk_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def bench(name: str, open_store, folder: Path, points: list[Point], queries: int, dim: int) -> dict:
    rng = np.random.default_rng(1)
    t = time.perf_counter()
    store = open_store(dim)
    for i in range(0, len(points), 256):
        store.upsert(points[i:i + 256])
    if hasattr(store, "optimize"):
        store.optimize()  # build HNSW now rather than during the first queries
    store.flush()
    upsert_s = time.perf_counter() - t

    def timed(filters: Filters) -> list[float]:
        times = []
        for _ in range(queries):
            q = rng.normal(size=dim).astype(np.float32)
            q /= np.linalg.norm(q)
            sp = SparseVector(sorted(set(rng.integers(0, 50_000, size=4).tolist())), [1.0] * 4)
            t0 = time.perf_counter()
            store.query(q, sp, filters, 10, Fusion("blend"))
            times.append((time.perf_counter() - t0) * 1000)
        return times

    timed(Filters())  # warm-up
    plain = timed(Filters())
    filtered = timed(Filters(languages=["go"], kinds=["function"]))
    store.close()
    t = time.perf_counter()
    store = open_store(None)
    reopen_s = time.perf_counter() - t
    store.close()
    return {"store": name, "upsert_s": upsert_s, "reopen_s": reopen_s,
            "query_p50_ms": statistics.median(plain),
            "query_p95_ms": float(np.percentile(plain, 95)),
            "filtered_p50_ms": statistics.median(filtered),
            "filtered_p95_ms": float(np.percentile(filtered, 95)),
            "disk_mb": disk_size(folder) / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--dim", type=int, default=384)
    args = parser.parse_args()
    points = make_points(args.points, args.dim)
    work = Path(tempfile.mkdtemp(prefix="bench_store_"))
    try:
        edge_dir, client_dir = work / "edge", work / "client"
        rows = [
            bench("qdrant-edge (EdgeStore)", lambda d: EdgeStore(edge_dir, d), edge_dir,
                  points, args.queries, args.dim),
            bench("qdrant-client local (ClientStore)",
                  lambda d: ClientStore("bench", d, local_path=str(client_dir)), client_dir,
                  points, args.queries, args.dim),
        ]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    keys = list(rows[0])[1:]
    print(f"{args.points} points, dim {args.dim}, {args.queries} hybrid RRF queries\n")
    print("| store | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for row in rows:
        print(f"| {row['store']} | " + " | ".join(f"{row[k]:.2f}" for k in keys) + " |")
    ratio = {k: rows[1][k] / rows[0][k] for k in keys if rows[0][k]}
    print("| ratio client/edge | " + " | ".join(f"{ratio.get(k, 0):.1f}x" for k in keys) + " |")


if __name__ == "__main__":
    main()
