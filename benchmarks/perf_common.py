"""Shared pieces of the performance benchmarks: timing commands, tables, the corpus's chunks.

Every benchmark returns `Table`s; `run_perf.py` prints them and writes them to
BENCHMARKS.md (between its own markers) and benchmarks/results/perf.md.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", "| " + " | ".join(self.header) + " |",
                 "|" + "---|" * len(self.header)]
        lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in self.rows]
        if self.notes:
            lines += [""] + [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"


def _fmt(value) -> str:
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        return f"{value:.3g}" if value < 10 else f"{value:.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class Timed:
    seconds: float
    rc: int
    stdout: str
    stderr: str
    max_rss_mb: float


def run_command(argv: list[str], cwd: Path | None = None, env: dict | None = None) -> Timed:
    """Run a whole command (process start included); peak RSS of that process alone.

    The peak is the child's own VmHWM, read while it runs. Not wait4's ru_maxrss:
    Linux starts a forked child's count at its parent's resident size, so a child of
    this benchmark process (which holds a loaded model) was reported at 2.7 GB when
    its own peak was 1.4 GB."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=err, text=True)
        peak_kb = 0
        while proc.poll() is None:
            peak_kb = max(peak_kb, _vm_hwm_kb(proc.pid))
            time.sleep(0.05)
        seconds = time.perf_counter() - t
        out.seek(0)
        err.seek(0)
        return Timed(seconds, proc.returncode, out.read(), err.read(), peak_kb / 1024)


def _vm_hwm_kb(pid: int) -> int:
    """A running process's peak resident set (its high-water mark), 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def codesearch(*args: str) -> list[str]:
    """The real CLI, as a user runs it (the console script's entry point)."""
    return [PYTHON, "-c", "import sys; from codesearch.cli import main; sys.exit(main())", *args]


def corpus_chunks(tree: Path, chunk_tokens: int = 256):
    """Walk and chunk `tree` exactly as the indexer does: (files, chunks, walk_s, parse_s)."""
    from codesearch.chunk import chunk_file
    from codesearch.walk import read_source, walk

    t = time.perf_counter()
    walked = walk(tree, 1_000_000, [], None)
    walk_s = time.perf_counter() - t
    t = time.perf_counter()
    chunks = []
    for f in walked.files:
        text, _ = read_source(f)
        if text is not None:
            chunks.extend(chunk_file(f.path, text, f.language, chunk_tokens).chunks)
    return walked.files, chunks, walk_s, time.perf_counter() - t


def unique_texts(chunks) -> list[str]:
    """The texts an index embeds: identical chunks are embedded once (see indexer._write)."""
    seen: dict[str, str] = {}
    for c in chunks:
        seen.setdefault(c.content_hash, c.embedding_text())
    return list(seen.values())


def load_encoder(precision: str = "auto"):
    from codesearch.embed import DEFAULT_MODEL, Encoder, read_model_info, resolve_model_path

    return Encoder(read_model_info(resolve_model_path(DEFAULT_MODEL)), device="cpu",
                   precision=precision)


def line_count(tree: Path, files) -> int:
    total = 0
    for f in files:
        with (tree / f.path).open("rb") as fh:
            total += sum(1 for _ in fh)
    return total


def log(message: str) -> None:
    print(f"[perf {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
