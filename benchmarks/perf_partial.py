"""The stages of run_perf.py that reuse an existing full index of the corpus.

For a session that cannot afford the whole run again: re-index, warm and cold queries,
encoder, store and scaling (sizes given) against the corpus index run_perf.py built.

    python benchmarks/perf_partial.py --sizes 10000 100000
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import bench_encoder
import bench_index
import bench_query
import bench_scale
import corpus
from perf_common import log
from run_perf import store_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--cache", type=Path, default=corpus.DEFAULT_CACHE)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "perf-partial.md")
    args = parser.parse_args()
    started = time.perf_counter()
    tree = corpus.build(args.cache)
    if not (tree / ".codesearch").exists():
        raise SystemExit(f"no index in {tree}: run benchmarks/run_perf.py first")
    tables = []
    log("re-index")
    tables.append(bench_index.bench_reindex(tree))
    log("warm queries")
    big = args.cache / f"synthetic-{args.sizes[-1]}"
    tables.append(bench_query.warm_table(tree, big, 5)[0])
    log("cold search")
    tables.append(bench_query.cold_table(tree, 5))
    log("encoder")
    tables.append(bench_encoder.bench(bench_encoder.sample_texts(tree, 400)))
    log("store")
    tables.append(store_table(50_000, 100))
    log("scaling")
    tables.append(bench_scale.bench(args.sizes, None, args.cache))
    report = "\n".join([f"`python benchmarks/perf_partial.py --sizes {' '.join(map(str, args.sizes))}`"
                        f", {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
                        f"{(time.perf_counter() - started) / 60:.0f} min", ""]
                       + [t.markdown() for t in tables])
    print(report)
    args.out.write_text(report)


if __name__ == "__main__":
    main()
