"""How the embedded store builds and searches its HNSW graph, on real embeddings.

The corpus index's own points (real MiniLM vectors, sparse vectors and payloads) are
copied into fresh `EdgeStore`s, one per setting, each in a fresh process: upserts,
then the final optimize an index run ends with (HNSW graph and payload indexes).
Each store then answers dense queries through `EdgeStore.query`; the queries are
vectors of chunks drawn at random, and the truth is an exact float32 search of all
vectors in numpy. Recall@k = share of the true top k that the store returned; the
filtered recall is against the exact top 10 of the chunks the filter admits.

    python benchmarks/bench_vectors.py [--queries 1000] [--repeats 2] [--settings 0 4]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import corpus
import numpy as np
from perf_common import PYTHON, Table, log, median

from codesearch.store import EF_CONSTRUCT, QUANTIZE, EdgeStore, Filters, Fusion, Point

PAYLOAD_FIELDS = ["path", "language", "kind", "symbol", "parent", "signature", "start_line",
                  "end_line", "code", "content_hash", "file_hash", "n_chunks", "ordinal",
                  "mtime_ns", "size"]
# (name, float16 storage, int8 quantization, ef_construct, search ef): the product's
# setting and the others tried.
SETTINGS = [("ef_construct 100, ef 100 (product)", False, QUANTIZE, EF_CONSTRUCT, None),
            ("ef_construct 64, ef 100", False, QUANTIZE, 64, 100),
            ("ef_construct 64, ef 128", False, QUANTIZE, 64, 128),
            ("float16, ef_construct 100, ef 128", True, QUANTIZE, 100, 128),
            (f"int8 quantization {'off' if QUANTIZE else 'on'}", False, not QUANTIZE,
             EF_CONSTRUCT, None)]
FILTER = Filters(languages=["python"], kinds=["method"])  # 8k of the corpus's 40k chunks


def corpus_points(index: Path) -> list[Point]:
    """Every chunk point of an index, as the indexer handed it to the store."""
    store = EdgeStore(index, None)
    try:
        payloads = {pid: payload for pid, payload in store._scroll(PAYLOAD_FIELDS)
                    if payload.get("content_hash")}  # not the metadata point or file markers
        ids = sorted(payloads)
        points = []
        for start in range(0, len(ids), 2048):
            for pid, (dense, sparse) in store.vectors(ids[start:start + 2048]).items():
                points.append(Point(pid, np.asarray(dense, dtype=np.float32), sparse,
                                    payloads[pid]))
    finally:
        store.close()
    return sorted(points, key=lambda p: p.id)


def one_setting(index: Path, float16: bool, quantize: bool, ef_construct: int, ef: int,
                queries: int) -> dict:
    points = corpus_points(index)
    with tempfile.TemporaryDirectory() as folder:
        store = EdgeStore(Path(folder) / "qdrant", len(points[0].dense),
                          ef_construct=ef_construct, search_ef=ef, float16=float16,
                          quantize=quantize)
        t = time.perf_counter()
        for start in range(0, len(points), 256):
            store.upsert(points[start:start + 256])
        upsert = time.perf_counter() - t
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        t = time.perf_counter()
        store.optimize()
        optimize = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_SELF)
        optimize_cpu = after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime
        store.flush()
        disk = sum(f.stat().st_size for f in (Path(folder) / "qdrant").rglob("*")
                   if f.is_file() and "wal" not in f.parts)

        matrix = np.stack([p.dense for p in points])
        matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
        ids = np.array([p.id for p in points])
        admitted = np.array([p.payload["language"] in FILTER.languages
                             and p.payload["kind"] in FILTER.kinds for p in points])
        drawn = np.random.default_rng(0).choice(len(points), queries, replace=False)
        recall10 = recall100 = filtered_recall10 = 0.0
        times, filtered = [], []
        for row in drawn:
            scores = matrix @ matrix[row]
            truth = ids[np.argsort(-scores)[:100]]
            t = time.perf_counter()
            hits = store.query(matrix[row], None, Filters(), 100, Fusion(method="dense"))
            times.append(time.perf_counter() - t)
            got = [h.id for h in hits]
            recall10 += len(set(got[:10]) & set(truth[:10])) / 10
            recall100 += len(set(got) & set(truth)) / 100
            t = time.perf_counter()
            hits = store.query(matrix[row], None, FILTER, 100, Fusion(method="dense"))
            filtered.append(time.perf_counter() - t)
            truth = ids[np.argsort(-np.where(admitted, scores, -np.inf))[:10]]
            filtered_recall10 += len({h.id for h in hits[:10]} & set(truth)) / 10
        store.close()
    return {"points": len(points), "upsert s": upsert, "optimize s": optimize,
            "optimize CPU s": optimize_cpu, "recall@10": recall10 / queries,
            "recall@100": recall100 / queries, "filtered recall@10": filtered_recall10 / queries,
            "query p50 ms": median(times) * 1e3, "filtered p50 ms": median(filtered) * 1e3,
            "disk MB": disk / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=corpus.DEFAULT_CACHE)
    parser.add_argument("--settings", nargs="+", type=int, metavar="I",
                        help="only these rows of SETTINGS (0: the product)")
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)  # SETTING INDEX, here
    args = parser.parse_args()
    if args.one:
        _, *setting = next(s for s in SETTINGS if s[0] == args.one[0])
        print(json.dumps(one_setting(Path(args.one[1]), *setting, args.queries)))
        return
    index = corpus.build(args.cache) / ".codesearch" / "qdrant"
    if not index.exists():
        raise SystemExit(f"no index at {index}: run benchmarks/bench_index.py first")
    with tempfile.TemporaryDirectory() as folder:
        # A copy: the store is opened for reading, which must not wait on or for anyone.
        copy = Path(folder) / "qdrant"
        shutil.copytree(index, copy)
        chosen = [SETTINGS[i] for i in args.settings] if args.settings else SETTINGS
        runs: dict[str, list[dict]] = {name: [] for name, *_ in chosen}
        for i in range(args.repeats):  # settings interleaved: the machine drifts
            for name, *_ in chosen:
                log(f"{name}, run {i + 1} of {args.repeats}")
                out = subprocess.run([PYTHON, __file__, "--one", name, str(copy),
                                      "--queries", str(args.queries)],
                                     capture_output=True, text=True, check=True)
                runs[name].append(json.loads(out.stdout.splitlines()[-1]))
    keys = [k for k in next(iter(runs.values()))[0] if k != "points"]
    points = next(iter(runs.values()))[0]["points"]
    table = Table(f"HNSW graph and vector storage settings, {points:,} real corpus points (medians of "
                  f"{args.repeats} runs, {args.queries} queries)",
                  ["setting", *keys],
                  [[name, *(median([r[k] for r in rs]) for k in keys)]
                   for name, rs in runs.items()],
                  ["optimize: the final optimize of an index run (HNSW graph, payload "
                   "indexes); CPU: both cores' time in it; recall against exact float32 "
                   "search; query: dense, top 100, through EdgeStore.query; filtered: "
                   "language python and kind method; disk without the WAL"])
    print(table.markdown())


if __name__ == "__main__":
    main()
