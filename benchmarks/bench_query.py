"""Query latency: warm library API (corpus index and a 1M-chunk index) and cold command.

Warm: one `Searcher`, queries through `Searcher.search` end to end (filters, hit
building included), with the time split into query encoding and the Qdrant query by
timing wrappers around the searcher's own encoder and store. No result caching
exists to help: every call encodes and queries.

Cold: `codesearch search` as a fresh process, end to end; and a probe process that
walks the same path step by step to say where the time goes.

    python benchmarks/bench_query.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import corpus
from perf_common import PYTHON, Table, codesearch, log, median, pct, run_command, verdict

QUERIES = [
    "retry an http request with exponential backoff", "parse a json document from a string",
    "read a configuration file", "compare two strings ignoring case", "sort a slice in place",
    "open a tls connection to a server", "spawn a worker thread pool", "escape html entities",
    "convert a timestamp to a date", "walk a directory tree recursively",
    "split a string on whitespace", "compute a sha256 hash of bytes", "render a template",
    "parse command line arguments", "handle a timeout on a network read",
    "serialize a struct to bytes", "find the longest common prefix", "lock a mutex",
    "decode base64 data", "match a regular expression against text",
]
FILTERS = {
    "no filter": {},
    "language": {"languages": ["go"]},
    "language + kind": {"languages": ["python"], "kinds": ["function", "method"]},
    "path glob": {"glob": "**/rust/**"},  # at any depth: the synthetic paths are copyN/...
}


def warm(searcher, rounds: int) -> dict[str, dict[str, list[float]]]:
    """Per filter: end-to-end, encode and Qdrant milliseconds of every query."""
    spent = {"encode": 0.0, "qdrant": 0.0}
    encoder, store = searcher.encoder, searcher.store

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - t
        return wrapper

    encode, query = encoder.encode_queries, store.query
    encoder.encode_queries, store.query = timed("encode", encode), timed("qdrant", query)
    try:
        out = {}
        for label, kwargs in FILTERS.items():
            # Warm-up, untimed: each filter reads its own payload-index pages and, on a
            # large index, the first pass over them comes from disk, not memory.
            for q in QUERIES:
                searcher.search(q, limit=10, **kwargs)
            rows = {"total": [], "encode": [], "qdrant": [], "hits": []}
            for _ in range(rounds):
                for q in QUERIES:
                    spent["encode"] = spent["qdrant"] = 0.0
                    t = time.perf_counter()
                    hits = searcher.search(q, limit=10, **kwargs)
                    rows["total"].append((time.perf_counter() - t) * 1000)
                    rows["hits"].append(len(hits))
                    rows["encode"].append(spent["encode"] * 1000)
                    rows["qdrant"].append(spent["qdrant"] * 1000)
            out[label] = rows
        return out
    finally:
        del encoder.encode_queries, store.query


def warm_rows(name: str, results: dict) -> list[list]:
    rows = []
    for label, r in results.items():
        p50, p95 = median(r["total"]), pct(r["total"], 95)
        # A filter that matches nothing is answered without a search: no figure at all.
        rows.append([name, label, p50, p95, median(r["encode"]), median(r["qdrant"]),
                     verdict(p50 <= 20 and p95 <= 50) if any(r["hits"]) else "no hits: not a measure"])
    return rows


def warm_table(tree: Path, synthetic_1m: Path | None, rounds: int) -> tuple[Table, dict]:
    from codesearch.config import Config
    from codesearch.search import Searcher
    from codesearch.store import EdgeStore

    rows, facts = [], {}
    with Searcher.open(tree) as searcher:
        res = warm(searcher, rounds)
        rows += warm_rows(f"corpus ({searcher.store.count():,} chunks)", res)
        facts["corpus"] = res
        if synthetic_1m is not None:
            # Same encoder, the 1M-point store (synthetic vectors, real payloads).
            big = Searcher(synthetic_1m, Config(), EdgeStore(synthetic_1m / "qdrant", None),
                           encoder=searcher.encoder)
            try:
                res = warm(big, rounds)
                rows += warm_rows(f"synthetic ({big.store.count():,} chunks)", res)
                facts["1m"] = res
            finally:
                big.close()
    n = rounds * len(QUERIES)
    return Table("Warm query latency, library API (`Searcher.search`, ms)",
                 ["index", "filter", "p50", "p95", "encode p50", "Qdrant p50",
                  "p50 <= 20, p95 <= 50"], rows,
                 [f"{n} queries per row ({len(QUERIES)} distinct, {rounds} rounds after an "
                  "untimed one), limit 10, "
                  "default fusion; p50/p95 are end to end, encode and Qdrant medians of "
                  "their parts; the rest is filter resolution and building hits"]), facts


PROBE = r"""
import json, sys, time
t0 = time.perf_counter(); marks = {}
def mark(name):
    global t0
    t = time.perf_counter(); marks[name] = t - t0; t0 = t
from codesearch.cli import build_parser
from codesearch.search import Searcher
from codesearch.locate import find_root, open_store, resolve_config
mark("import codesearch")
root = find_root(__import__("pathlib").Path(sys.argv[1]))
config = resolve_config(root, None)
store = open_store(root, config)
mark("open Qdrant store")
s = Searcher(root, config, store)
mark("load model (tokenizer; weights lazily)")
v = s.encoder.encode_queries([sys.argv[2]])[0]
mark("encode query (first: loads weights)")
from codesearch import sparse
from codesearch.store import Filters, Fusion
hits = store.query(v, sparse.query_vector(sys.argv[2]), Filters(), 10, Fusion("blend"))
mark("Qdrant query")
s.close()
mark("close")
marks["torch imported"] = "torch" in sys.modules
marks["transformers imported"] = "transformers" in sys.modules
print(json.dumps(marks))
"""


def cold_table(tree: Path, repeats: int) -> Table:
    query = "retry an http request with exponential backoff"
    runs = []
    for _ in range(repeats):
        run = run_command(codesearch("search", query, str(tree), "-k", "10"))
        assert run.rc == 0, run.stderr
        runs.append(run.seconds)
    base = [run_command([PYTHON, "-c", "pass"]).seconds for _ in range(repeats)]
    probes = []
    for _ in range(repeats):
        run = run_command([PYTHON, "-c", PROBE, str(tree), query])
        assert run.rc == 0, run.stderr
        probes.append(json.loads(run.stdout))
    wall = median(runs)
    rows = [["`codesearch search` end to end (median)", f"{wall:.2f} s",
             ", ".join(f"{x:.2f}" for x in runs), f"<= 2.5 s: {verdict(wall <= 2.5)}"],
            ["python start (`python -c pass`)", f"{median(base):.3f} s", "", ""]]
    for key in probes[0]:
        if isinstance(probes[0][key], bool):
            rows.append([key, str(probes[0][key]), "", ""])
        else:
            rows.append([key, f"{median([p[key] for p in probes]):.3f} s", "", ""])
    return Table("Cold search command (fresh process each run)",
                 ["what", "time", "runs (s)", "target"], rows,
                 ["the breakdown comes from a probe process that takes the same steps as the "
                  "command (medians); torch is not imported on this path at all"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--tree", type=Path, help="an indexed tree (default: the corpus)")
    args = parser.parse_args()
    tree = args.tree or corpus.build(corpus.DEFAULT_CACHE)
    big = corpus.DEFAULT_CACHE / "synthetic-1000000"
    big = big if (big / "synthetic.json").exists() else None
    log("warm queries")
    print(warm_table(tree, big, 2 if args.quick else 5)[0].markdown())
    log("cold queries")
    print(cold_table(tree, 3 if args.quick else 5).markdown())


if __name__ == "__main__":
    main()
