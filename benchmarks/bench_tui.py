"""Keystroke -> results latency of the TUI, driven by Textual's Pilot on a real index.

Types each query one key at a time with a human gap between keys (so searches for
prefixes are in flight, as they are for a real typist), and measures from the last
keystroke to the refresh that puts that query's results on screen. The target is
150 ms with a warm index (model loaded, first query done).

    python benchmarks/bench_tui.py                 # a temporary copy of this repository
    python benchmarks/bench_tui.py --path ~/src/x  # an existing index (built if missing)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from textual import events

from codesearch.config import load_config
from codesearch.indexer import Indexer
from codesearch.tui.app import CodeSearchApp
from codesearch.tui.history import QueryHistory
from codesearch.tui.query_input import QueryInput
from codesearch.tui.session import IndexSession

REPO = Path(__file__).resolve().parent.parent
QUERIES = [
    "walk a repository respecting gitignore rules",
    "load the toml config file",
    "embed texts in batches of similar length",
    "reciprocal rank fusion of dense and sparse results",
    "skip minified javascript bundles",
    "open the qdrant store",
    "split a large class into methods",
    "print search hits with colors",
    "resolve a glob against indexed paths",
    "hash file content to detect changes",
    "lang:python delete points of a removed file",
    "kind:function tokenize identifiers camel case",
    "path:codesearch/** progress bar while indexing",
    "exit code when nothing is found",
    "mean pooling of token embeddings",
    "markdown heading sections",
    "model fingerprint of weights",
    "reuse vectors of moved code",
    "bf16 autocast on cpu",
    "retry when the index is locked",
]


def copy_tracked_files(dest: Path) -> Path:
    """This repository's tracked files, so the benchmark never writes into the checkout."""
    files = subprocess.run(["git", "ls-files"], cwd=REPO, check=True, capture_output=True,
                           text=True).stdout.split()
    for rel in files:
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    return dest


async def measure(root: Path, queries: list[str], gap: float, rounds: int) -> list[float]:
    session = IndexSession.locate(root)
    with tempfile.TemporaryDirectory() as state:
        app = CodeSearchApp(session, history=QueryHistory(Path(state) / "history.json"))
        latencies: list[float] = []
        try:
            async with app.run_test(size=(120, 40)) as pilot:
                while not app.ready:
                    await pilot.pause(0.05)
                for _ in range(rounds):
                    for query in queries:
                        app.query_one(QueryInput).value = ""
                        await pilot.pause(0.3)
                        for char in query:
                            last_key = time.perf_counter()
                            type_key(app, char)
                            await asyncio.sleep(gap)
                        while not app.results_current:
                            await asyncio.sleep(0.001)
                        latencies.append(app.results_shown[1] - last_key)
        finally:
            session.close()
    return latencies


def type_key(app: CodeSearchApp, char: str) -> None:
    """One keystroke, as the terminal driver delivers it.

    Not `Pilot.press`: that waits until the process is idle after each key, which
    (with a search thread busy) spaces keys far wider than anyone types.
    """
    names = {" ": "space", "*": "asterisk", "/": "slash", ":": "colon", ".": "full_stop",
             ",": "comma", "-": "minus", "_": "underscore"}
    app.post_message(events.Key(names.get(char, char), char))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", type=Path, help="repository (default: a copy of this one)")
    parser.add_argument("--gap", type=float, default=0.12, help="seconds between keys")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.path.resolve() if args.path else copy_tracked_files(Path(tmp) / "repo")
        session = IndexSession.locate(root)
        if not session.open():
            started = time.perf_counter()
            summary = Indexer(session.root, load_config(None, session.root)).run()
            print(f"indexed {summary.files_seen} files, {summary.chunks_total} chunks "
                  f"in {time.perf_counter() - started:.0f} s")
        session.close()
        latencies = asyncio.run(measure(root, QUERIES, args.gap, args.rounds))
    ms = sorted(x * 1000 for x in latencies)
    figures = {
        "queries": len(ms), "gap_s": args.gap,
        "p50_ms": round(statistics.median(ms), 1),
        "p95_ms": round(ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))], 1),
        "max_ms": round(ms[-1], 1),
    }
    print(f"keystroke -> results: p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms, "
          f"max {figures['max_ms']} ms over {len(ms)} queries")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
