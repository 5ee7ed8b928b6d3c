"""Searching while an index run writes: readers get the engine between write batches
and always see each file either entirely old or entirely new (store.py, lock.py)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from conftest import tiny_config, write_tiny_config

from codesearch.indexer import Indexer
from codesearch.locate import open_store
from codesearch.lock import writer_pid
from codesearch.search import Searcher

REPO = Path(__file__).resolve().parent.parent
FILES = 500


def write_tree(root: Path, version: int) -> None:
    for i in range(FILES):
        path = root / f"pkg{i % 10}" / f"mod{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(
            f"def task_{i}_{j}_v{version}(items):\n    return [x * {version} for x in items]\n\n\n"
            for j in range(3)))


def consistent_view(searcher: Searcher) -> tuple[set[int], list[str]]:
    """The versions a reader sees, and what is wrong with what it sees."""
    problems = []
    files: dict[str, list] = {}
    for stored in searcher.store.state():
        files.setdefault(stored.path, []).append(stored)
    if len(files) != FILES:
        problems.append(f"{len(files)} files visible, not {FILES}")
    for path, points in files.items():
        if len({p.file_hash for p in points}) != 1 or len(points) != points[0].n_chunks:
            problems.append(f"{path}: {len(points)} points of {len({p.file_hash for p in points})} versions")
    hits = searcher.search("multiply every item", limit=5)
    if len(hits) != 5:
        problems.append(f"{len(hits)} hits")
    versions = {int(h.symbol.rsplit("_v", 1)[1]) for h in hits}
    return versions, problems


def test_search_while_an_index_run_writes(tmp_path, tiny_model_dir, tiny_encoder):
    root = tmp_path / "repo"
    write_tree(root, 1)
    config = tiny_config(tiny_model_dir)
    Indexer(root, config, encoder=tiny_encoder).run()
    write_tree(root, 2)
    config_file = write_tiny_config(tmp_path, tiny_model_dir)
    writer = subprocess.Popen([sys.executable, "-m", "codesearch", "index", str(root), "-q",
                               "--config", str(config_file)], stderr=subprocess.PIPE, text=True,
                              env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    reads_during_run, seen, problems = 0, set(), []
    while writer.poll() is None:
        if writer_pid(root / ".codesearch") != writer.pid:
            time.sleep(0.02)
            continue
        with Searcher(root, config, open_store(root, config), tiny_encoder) as searcher:
            versions, wrong = consistent_view(searcher)
        if writer.poll() is None:
            reads_during_run += 1
            seen |= versions
        problems += wrong
        time.sleep(0.05)
    assert writer.wait() == 0, writer.stderr.read()
    assert problems == []
    assert reads_during_run >= 1
    with Searcher(root, config, open_store(root, config), tiny_encoder) as searcher:
        versions, wrong = consistent_view(searcher)
    assert wrong == [] and versions == {2}
