"""Bad input: one tree with every nasty file, indexed by the real CLI in a subprocess.

Every good file must be indexed, every other file listed in the summary with its
reason, and nothing may crash. As root, the run drops the capabilities that let
root read anything, so that mode-000 files are really unreadable to it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import tiny_config, write_tiny_config
from nasty_tree import GOOD, SECRET_TEXT, SKIPPED, restore_permissions, write_nasty_tree

from codesearch.store import EdgeStore

REPO = Path(__file__).resolve().parent.parent


def run_unprivileged(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "codesearch", *args]
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv: cannot make files unreadable")
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def nasty_index(tmp_path_factory, tiny_model_dir):
    base = tmp_path_factory.mktemp("nasty")
    outside = base / "outside.py"
    outside.write_text("def outside_the_root():\n    pass\n")
    root = write_nasty_tree(base / "repo", outside)
    # A limit above the 20 MB file, so that its content (one huge line) is what rejects it.
    config = write_tiny_config(base, tiny_model_dir, extra="[index]\nmax_file_bytes = 32000000\n")
    result = run_unprivileged("index", str(root), "--config", str(config), "--json")
    yield root, config, result
    restore_permissions(root)


def test_index_survives_every_bad_input(nasty_index):
    _, _, result = nasty_index
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


def test_every_good_file_is_indexed(nasty_index):
    root, _, result = nasty_index
    summary = json.loads(result.stdout)
    assert summary["files_indexed"] == len(GOOD)
    store = EdgeStore(root / ".codesearch" / "qdrant", None)
    try:
        recorded = {s.path for s in store.state()}
        with_chunks = set(store.paths())
    finally:
        store.close()
    assert set(GOOD) <= recorded
    for rel, (data, _) in GOOD.items():
        if data.strip():
            assert rel in with_chunks, f"{rel} has no chunks"
    # Rejected files are remembered as chunkless markers, so the next run need not re-read them.
    assert not {s for s in with_chunks if not s.startswith("good/")}


def test_every_skipped_file_is_listed_with_its_reason(nasty_index):
    _, _, result = nasty_index
    skipped = {x["path"]: x["reason"] for x in json.loads(result.stdout)["skipped"]}
    for rel, reason in SKIPPED.items():
        assert rel in skipped, f"{rel} not listed as skipped"
        assert reason in skipped[rel], (rel, skipped[rel])
    assert not set(skipped) & set(GOOD)


def test_definitions_survive_crlf_bom_and_syntax_errors(nasty_index):
    root, _, _ = nasty_index
    store = EdgeStore(root / ".codesearch" / "qdrant", None)
    try:
        symbols = {}
        offset = None
        while True:
            records, offset = store.shard.scroll(store.qe.ScrollRequest(
                offset=offset, limit=4096, with_payload=True, with_vector=False))
            for r in records:
                if r.payload and r.payload.get("content_hash"):
                    symbols.setdefault(r.payload["path"], []).append(r.payload)
            if offset is None:
                break
    finally:
        store.close()
    for rel, (_, symbol) in GOOD.items():
        if symbol:
            assert symbol in {p["symbol"] for p in symbols[rel]}, rel
    crlf = next(p for p in symbols["good/crlf.py"] if p["symbol"] == "crlf_function")
    assert crlf["start_line"] == 4 and "\r" not in crlf["code"]
    bom = next(p for p in symbols["good/bom.py"] if p["symbol"] == "bom_function")
    assert bom["start_line"] == 1 and "\ufeff" not in bom["code"]
    # A syntax error loses no text: the definition after it is still searchable.
    assert any("fine_after_error" in p["code"] for p in symbols["good/broken.py"])
    assert all(SECRET_TEXT not in p["code"] for chunks in symbols.values() for p in chunks)


def test_search_and_status_work_on_the_nasty_index(nasty_index):
    root, _, _ = nasty_index
    found = run_unprivileged("search", "compute invoice total", str(root), "--json", "-k", "3")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout.splitlines()[0])["path"] == "good/app.py"
    status = run_unprivileged("status", str(root), "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["changed"] == []


def test_reindex_of_the_nasty_tree_changes_nothing(nasty_index):
    root, config, _ = nasty_index
    again = run_unprivileged("index", str(root), "--config", str(config), "--json")
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["files_indexed"] == 0 and summary["chunks_embedded"] == 0
    assert {x["path"] for x in summary["skipped"]} >= set(SKIPPED)


# ------------------------------------------------------- files changing under the walk


def test_files_deleted_and_rewritten_while_indexing(tmp_path, tiny_model_dir):
    """A thread deletes, recreates and rewrites files for the whole run; the run must
    finish, and a quiet re-run must leave exactly what a clean index of the tree holds."""
    from codesearch.indexer import Indexer

    root = tmp_path / "churn"
    for i in range(300):
        _write_module(root, i, 0)
    config = tiny_config(tiny_model_dir)
    stop = threading.Event()

    def churn() -> None:
        generation = 1
        while not stop.is_set():
            for i in range(0, 300, 7):
                path = root / f"pkg{i % 5}" / f"mod{i}.py"
                if generation % 3 == 0:
                    path.unlink(missing_ok=True)
                else:
                    _write_module(root, i, generation)
            generation += 1
            time.sleep(0.001)

    worker = threading.Thread(target=churn)
    worker.start()
    try:
        for _ in range(3):
            Indexer(root, config).run()
    finally:
        stop.set()
        worker.join()
    Indexer(root, config).run()   # the tree is quiet now: this run catches up
    clean = tmp_path / "clean"
    shutil.copytree(root, clean, ignore=shutil.ignore_patterns(".codesearch"))
    Indexer(clean, config).run()
    assert _snapshot(root) == _snapshot(clean)


def _write_module(root: Path, i: int, generation: int) -> None:
    path = root / f"pkg{i % 5}" / f"mod{i}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"def function_{i}_{generation}(x):\n    return x + {generation}\n")


def _snapshot(root: Path) -> list[tuple]:
    """Everything that defines an index's content, independent of where it lives."""
    store = EdgeStore(root / ".codesearch" / "qdrant", None)
    try:
        return sorted((s.id, s.path, s.file_hash, s.content_hash, s.n_chunks) for s in store.state())
    finally:
        store.close()
