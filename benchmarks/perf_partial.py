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

STAGES = ("reindex", "warm", "cold", "encoder", "store", "scale")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES),
                        help="which tables, in this order (default: all)")
    parser.add_argument("--cache", type=Path, default=corpus.DEFAULT_CACHE)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "perf-partial.md")
    args = parser.parse_args()
    started = time.perf_counter()
    tree = corpus.build(args.cache)
    if not (tree / ".codesearch").exists():
        raise SystemExit(f"no index in {tree}: run benchmarks/run_perf.py first")
    big = args.cache / f"synthetic-{args.sizes[-1]}"
    stages = {
        "reindex": lambda: bench_index.bench_reindex(tree),
        "warm": lambda: bench_query.warm_table(tree, big, 5)[0],
        "cold": lambda: bench_query.cold_table(tree, 5),
        "encoder": lambda: bench_encoder.bench(bench_encoder.sample_texts(tree, 400)),
        "store": lambda: store_table(50_000, 100),
        "scale": lambda: bench_scale.bench(args.sizes, None, args.cache),
    }
    command = (f"`python benchmarks/perf_partial.py --sizes {' '.join(map(str, args.sizes))} "
               f"--stages {' '.join(args.stages)}`")
    tables = []
    for name in args.stages:
        log(name)
        tables.append(stages[name]().markdown())
        # Written after every stage: a long run that is stopped keeps what it measured.
        report = "\n".join([f"{command}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
                            f"{(time.perf_counter() - started) / 60:.0f} min", "", *tables])
        args.out.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
