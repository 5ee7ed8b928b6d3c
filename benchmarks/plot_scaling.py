"""Draw the "How cost grows" table as a picture: index time, disk size and query latency.

Reads the table from a results file that run_perf.py wrote (run_perf.py also calls
this at its end), so the picture only ever shows figures a run measured or, for
embedding time, projected and labelled so:

    python benchmarks/plot_scaling.py [--results benchmarks/results/perf.md] [--out docs/scaling.png]
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

from bench_scale import TITLE
from perf_common import REPO

_NUMBER = r"([\d,.]+)"


@dataclass
class Row:
    chunks: int
    store_s: float        # measured
    embed_s: float        # projected from the corpus's indexing throughput
    disk_mb: float
    query_ms: tuple[float, float]     # p50, p95
    filtered_ms: tuple[float, float]


def _num(text: str) -> float:
    return float(text.replace(",", ""))


def _pair(cell: str) -> tuple[float, float]:
    p50, p95 = (_num(x) for x in re.findall(_NUMBER, cell)[:2])
    return p50, p95


def read_rows(results: Path) -> list[Row]:
    """The synthetic-store rows of the table (the real corpus's row has no latencies)."""
    lines = results.read_text().splitlines()
    try:
        start = lines.index(f"### {TITLE}")
    except ValueError:
        raise SystemExit(f"{results} has no table '{TITLE}'") from None
    rows = []
    for line in lines[start + 4:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        times = re.fullmatch(rf"{_NUMBER} \(store {_NUMBER} measured \+ embed {_NUMBER} projected\)",
                             cells[1])
        if times is None:  # the real corpus's row: measured whole, no synthetic store
            continue
        rows.append(Row(int(_num(cells[0])), _num(times[2]), _num(times[3]), _num(cells[2]),
                        _pair(cells[3]), _pair(cells[4])))
    if not rows:
        raise SystemExit(f"{results}: the table '{TITLE}' has no synthetic-store rows")
    return rows


def plot(rows: list[Row], out: Path, source: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no screen
    import matplotlib.pyplot as plt

    n = [r.chunks for r in rows]
    fig, (time_ax, disk_ax, query_ax) = plt.subplots(1, 3, figsize=(13, 4), layout="constrained")
    time_ax.plot(n, [r.store_s + r.embed_s for r in rows], "o-", label="total")
    time_ax.plot(n, [r.embed_s for r in rows], "s--", label="embed (projected)")
    time_ax.plot(n, [r.store_s for r in rows], "^-", label="store (measured)")
    time_ax.set(title="Index time", ylabel="seconds")
    disk_ax.plot(n, [r.disk_mb for r in rows], "o-")
    disk_ax.set(title="Index size on disk", ylabel="MB")
    for label, values, marker in (("query", [r.query_ms for r in rows], "o"),
                                  ("filtered", [r.filtered_ms for r in rows], "s")):
        query_ax.plot(n, [v[0] for v in values], f"{marker}-", label=f"{label} p50")
        query_ax.plot(n, [v[1] for v in values], f"{marker}:", label=f"{label} p95")
    query_ax.set(title="Qdrant hybrid query", ylabel="ms")
    for ax in (time_ax, disk_ax, query_ax):
        ax.set(xscale="log", yscale="log", xlabel="chunks")
        ax.grid(True, which="both", alpha=0.3)
    time_ax.legend()
    query_ax.legend()
    fig.suptitle(f"{TITLE} ({source})")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results" / "perf.md")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "scaling.png")
    args = parser.parse_args()
    plot(read_rows(args.results), args.out, args.results.name)
    print(args.out)


if __name__ == "__main__":
    main()
