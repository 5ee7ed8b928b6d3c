"""Run every performance benchmark, print one report, write it to BENCHMARKS.md.

    python benchmarks/run_perf.py            # full: ~600k-line corpus, 1M-chunk store
    python benchmarks/run_perf.py --quick    # a twelfth of the corpus, 10k-chunk store

Writes benchmarks/results/perf.md (perf-quick.md with --quick) and replaces the part
of BENCHMARKS.md between `<!-- perf:start -->` and `<!-- perf:end -->` (appended
when the markers are missing; --no-write leaves BENCHMARKS.md alone). The training
table is bench_train.py's own output (that benchmark belongs to the trainer).
"""

from __future__ import annotations

import argparse
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import bench_encoder
import bench_index
import bench_query
import bench_scale
import bench_store
import corpus
import plot_scaling
from perf_common import PYTHON, REPO, Table, log, run_command

START, END = "<!-- perf:start -->", "<!-- perf:end -->"


def store_table(points: int, queries: int = 200) -> Table:
    """bench_store.py's comparison through the product's store classes."""
    from codesearch.store import ClientStore, EdgeStore

    made = bench_store.make_points(points, 384)
    work = Path(tempfile.mkdtemp(prefix="bench_store_"))
    try:
        edge, client = work / "edge", work / "client"
        rows = [bench_store.bench("qdrant-edge (EdgeStore, default)", lambda d: EdgeStore(edge, d),
                                  edge, made, queries, 384),
                bench_store.bench("qdrant-client local mode (ClientStore)",
                                  lambda d: ClientStore("bench", d, local_path=str(client)),
                                  client, made, queries, 384)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    keys = list(rows[0])[1:]
    table = Table(f"Store: the two embedded Qdrant options on the same {points:,} points",
                  ["store", *keys])
    table.rows = [[r["store"], *(r[k] for k in keys)] for r in rows]
    table.rows.append(["ratio client / edge",
                       *(f"{rows[1][k] / rows[0][k]:.1f}x" if rows[0][k] else "" for k in keys)])
    table.notes.append(f"{queries} hybrid queries each (blend fusion); filtered = language and "
                       "kind; upsert includes optimize (HNSW, payload indexes)")
    return table


def train_section(quick: bool) -> str:
    args = ["--steps", "1", "--repeats", "1"] if quick else []
    run = run_command([PYTHON, str(REPO / "benchmarks" / "bench_train.py"), *args], cwd=REPO)
    if run.rc != 0:
        return f"bench_train.py failed ({run.rc}):\n\n```\n{run.stderr[-1500:]}\n```\n"
    return run.stdout


def summary(index_facts: dict, tables: dict[str, Table]) -> Table:
    rows = [["indexing throughput / raw encoder", ">= 85%", f"{index_facts['ratio']:.1%}",
             "met" if index_facts["ratio"] >= 0.85 else "MISSED"],
            ["peak RSS of the full index", "<= 2 GB", f"{index_facts['rss_mb']:,.0f} MB",
             "met" if index_facts["rss_mb"] <= 2048 else "MISSED"]]
    for row in tables["reindex"].rows:
        rows.append([f"re-index, {row[0]}", row[3], f"{row[1]:.2f} s", row[4]])
    for row in tables["warm"].rows:
        rows.append([f"warm query, {row[0]}, {row[1]}", "p50 <= 20 ms, p95 <= 50 ms",
                     f"{row[2]:.1f} / {row[3]:.1f} ms", row[6]])
    cold = tables["cold"].rows[0]
    rows.append(["cold `codesearch search`", "<= 2.5 s", cold[1], cold[3].split(": ")[1]])
    for row in tables["encoder"].rows:
        rows.append([f"encoder vs sentence-transformers, {row[0]}", "at least as fast",
                     row[3], row[4]])
    return Table("Targets", ["what", "target", "measured", "verdict"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--cache", type=Path, default=corpus.DEFAULT_CACHE)
    args = parser.parse_args()
    started = time.perf_counter()
    out = REPO / "benchmarks" / "results" / ("perf-quick.md" if args.quick else "perf.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    tree = bench_index.quick_tree(args.cache) if args.quick else corpus.build(args.cache)
    tables: dict[str, Table] = {}

    def stage(name: str, table: Table) -> None:
        # Every finished table is on disk at once: a run stopped later keeps it.
        tables[name] = table
        out.with_suffix(".partial.md").write_text("\n".join(t.markdown() for t in tables.values()))

    log("full index")
    index_table, facts = bench_index.bench_full(tree)
    stage("index", index_table)
    log("re-index")
    stage("reindex", bench_index.bench_reindex(tree))
    sizes = [10_000] if args.quick else [10_000, 100_000, 1_000_000]
    log("scaling (builds the synthetic stores once)")
    stage("scale", bench_scale.bench(sizes, facts, args.cache))
    big = args.cache / f"synthetic-{sizes[-1]}"
    log("warm queries")
    stage("warm", bench_query.warm_table(tree, big, 2 if args.quick else 5)[0])
    log("cold search")
    stage("cold", bench_query.cold_table(tree, 3 if args.quick else 5))
    log("encoder")
    stage("encoder", bench_encoder.bench(
        bench_encoder.sample_texts(tree, 200 if args.quick else 1000)))
    log("store")
    stage("store", store_table(10_000 if args.quick else 50_000, 50 if args.quick else 100))
    log("training (bench_train.py)")
    train = train_section(args.quick)
    report = render(args.quick, tables, facts, train, time.perf_counter() - started)
    print(report)
    out.write_text(report)
    out.with_suffix(".partial.md").unlink(missing_ok=True)
    if not args.no_write and not args.quick:
        write_section(REPO / "BENCHMARKS.md", report)
        plot_scaling.plot(plot_scaling.read_rows(out), REPO / "docs" / "scaling.png", out.name)


def render(quick: bool, tables: dict[str, Table], facts: dict, train: str, seconds: float) -> str:
    command = "python benchmarks/run_perf.py" + (" --quick" if quick else "")
    head = [f"## Performance{' (quick run)' if quick else ''}", "",
            f"`{command}` on {platform.node()}: {platform.processor() or platform.machine()}, "
            f"2 CPU cores, no GPU, Python {sys.version.split()[0]}; "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {seconds / 60:.0f} min. "
            "Each ratio is measured beside its baseline in the same run.", ""]
    parts = ["\n".join(head), summary(facts, tables).markdown()]
    parts += [tables[k].markdown() for k in ("index", "reindex", "warm", "cold", "encoder",
                                             "store", "scale")]
    if not quick:  # main() draws it from this report once written
        parts.append(f"![{bench_scale.TITLE}](docs/scaling.png)\n\n(the table above, drawn by "
                     "`python benchmarks/plot_scaling.py`)\n")
    parts.append("### Training (benchmarks/bench_train.py)\n\n" + train)
    return "\n".join(parts)


def write_section(path: Path, report: str) -> None:
    text = path.read_text() if path.exists() else ""
    block = f"{START}\n{report.rstrip()}\n{END}"
    if START in text and END in text:
        text = text[:text.index(START)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)


if __name__ == "__main__":
    main()
