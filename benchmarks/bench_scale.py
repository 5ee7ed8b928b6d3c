"""How cost grows: index time, index size and query latency at 10k, 100k and 1M chunks.

The stores are synthetic.py's (random vectors, the corpus's real payloads and lexical
vectors) written and optimised through EdgeStore. Index time = the store's measured
build time + the embedding time those chunks would need at the indexing throughput
measured on the real corpus (tokens per chunk and tokens/s from bench_index), so the
projection is labelled as such. Query latency is the Qdrant hybrid query (the
encoder's cost does not depend on the index size; see the warm-query table).

    python benchmarks/bench_scale.py [--sizes 10000 100000 1000000]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import corpus
import synthetic
from perf_common import Table, load_encoder, log, median, pct

from codesearch import sparse
from codesearch.store import PATH_DIRS, EdgeStore, Filters, Fusion

QUERIES = ["retry an http request with exponential backoff", "parse a json document",
           "open a tls connection", "sort a slice in place", "walk a directory tree",
           "decode base64 data", "lock a mutex", "render a template", "split a string",
           "compute a sha256 hash"]
TITLE = "How cost grows with the number of chunks"


def query_times(folder: Path, vectors, rounds: int = 10) -> dict[str, list[float]]:
    store = EdgeStore(folder / "qdrant", None)
    out = {"plain": [], "filtered": []}
    try:
        for label, filters in (("plain", Filters()),
                               ("filtered", Filters(languages=["python"], kinds=["function"]))):
            for r in range(rounds + 1):
                for q, dense in zip(QUERIES, vectors, strict=True):
                    t = time.perf_counter()
                    store.query(dense, sparse.query_vector(q), filters, 10, Fusion("blend"))
                    if r:  # round 0 warms the caches
                        out[label].append((time.perf_counter() - t) * 1000)
    finally:
        store.close()
    return out


def meta() -> dict:
    from codesearch.embed import DEFAULT_MODEL, read_model_info, resolve_model_path
    from codesearch.indexer import model_meta

    return dict(model_meta(read_model_info(resolve_model_path(DEFAULT_MODEL))), complete=True,
                generation=1, path_dirs=PATH_DIRS)


def bench(sizes: list[int], index_facts: dict | None, cache: Path = corpus.DEFAULT_CACHE) -> Table:
    source = synthetic.source_points(corpus.build(cache))
    vectors = load_encoder().encode_queries(QUERIES)
    facts = index_facts or {}
    tok_per_chunk = facts.get("tokens_per_chunk", 150.0)
    tok_s = facts.get("tok_s_index", 14_000.0)
    rows = []
    if index_facts:
        rows.append([f"{facts['chunks']:,} (real corpus, measured)", f"{facts['wall']:.0f}",
                     f"{facts['disk_mb']:.0f}", "see warm-query table", ""])
    for n in sizes:
        log(f"scale: {n:,} chunks")
        built = synthetic.build(cache / f"synthetic-{n}", n, source, meta=meta())
        times = query_times(cache / f"synthetic-{n}", vectors)
        embed_s = n * tok_per_chunk / tok_s
        store_s = built["upsert_s"] + built["optimize_s"]
        rows.append([f"{n:,}", f"{embed_s + store_s:,.0f} (store {store_s:,.0f} measured "
                     f"+ embed {embed_s:,.0f} projected)", f"{built['disk_mb']:,.0f}",
                     f"{median(times['plain']):.1f} / {pct(times['plain'], 95):.1f}",
                     f"{median(times['filtered']):.1f} / {pct(times['filtered'], 95):.1f}"])
    return Table(TITLE,
                 ["chunks", "index time (s)", "index size on disk (MB)",
                  "Qdrant query p50 / p95 (ms)", "filtered p50 / p95 (ms)"], rows,
                 [f"embed projection: {tok_per_chunk:.0f} tokens/chunk at {tok_s:,.0f} tokens/s "
                  "(the corpus's full index in this run)",
                  "filtered: language = python and kind = function; hybrid blend query, limit 10"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    args = parser.parse_args()
    print(bench(args.sizes, None).markdown())


if __name__ == "__main__":
    main()
