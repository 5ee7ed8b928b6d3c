"""Crash safety with real processes and real signals, the tiny model standing in for speed.

The full trial set (>= 20 SIGKILL and >= 5 SIGINT with the bundled model) is
benchmarks/crash_trials.py; this runs a few of its trials on every test run, plus
the lock and signal cases that need no statistics.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import write_tiny_config

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

import crash_trials as ct  # noqa: E402

from codesearch.config import load_config  # noqa: E402
from codesearch.lock import IndexLock  # noqa: E402


@pytest.fixture(scope="module")
def indexed_template(tmp_path_factory, tiny_model_dir):
    """A git copy of this package's own source, indexed once, and a tiny-model config."""
    base = tmp_path_factory.mktemp("crash")
    root = ct.make_repo(REPO / "codesearch", base / "repo")
    config = write_tiny_config(base, tiny_model_dir)
    assert ct.run_index(root, config).returncode == 0
    return root, config


@pytest.fixture
def repo(indexed_template, tmp_path):
    """A private copy of the indexed repository (copy2 keeps mtimes, so it is up to date)."""
    template, config = indexed_template
    root = tmp_path / "repo"
    shutil.copytree(template, root, symlinks=True)
    return root, config


def test_random_sigkill_and_sigint_trials_resume_to_a_clean_index(repo, tiny_encoder):
    root, config = repo
    trials = ct.run_trials(root, config, n_kill=1, n_int=1, seed=11, encoder=tiny_encoder,
                           share=0.5, log=lambda line: None)
    assert [t.problems for t in trials] == [[]] * 2


def test_sigkill_right_after_store_writes(repo, tmp_path, tiny_encoder):
    """Kills placed after chosen write operations, then compared with a real clean index."""
    root, config = repo
    kills = ct.run_write_kills(root, config, n=2, seed=2, share=0.5, work=tmp_path,
                               log=lambda line: None)
    assert len(kills) == 2 and [w.problems for w in kills] == [[]] * 2
    assert ct.run_index(root, config).returncode == 0
    assert ct.compare_with_clean_index(root, config, tmp_path) == []


def test_sigint_is_a_clean_stop_with_one_line(repo):
    root, config = repo
    ct.mutate(root, random.Random(3), 1, share=1.0)
    proc = ct.start_index(root, config, stderr=subprocess.PIPE)
    _wait_for_lock_holder(root, proc.pid)   # the run is past start-up and owns the index
    # Sent while the run is stopped and still holds the lock: a run that finished its
    # work first would ignore the Ctrl-C (cli.main), which is not what this tests.
    assert ct.signal_frozen(proc, signal.SIGINT, root), "the run let go of its lock first"
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert err.strip() == "codesearch: interrupted; run the same command again to resume"
    assert ct.run_index(root, config).returncode == 0
    assert ct.compare(root, load_config(config, root)) == []


def test_second_index_run_is_refused_while_one_writes(repo):
    root, config = repo
    holder = IndexLock(root / ".codesearch").acquire()   # a live writer: this process
    try:
        before, _ = ct.stored_points(root)
        second = ct.run_index(root, config)
    finally:
        holder.release()
    assert second.returncode == 2
    lines = second.stderr.strip().splitlines()
    assert lines == [f"codesearch: error: another 'codesearch index' (pid {os.getpid()}) is "
                     f"updating the index in {root / '.codesearch'}; wait for it to finish "
                     "(or stop it) and run this again"]
    assert ct.stored_points(root)[0] == before


def test_two_index_runs_started_together(repo):
    root, config = repo
    ct.mutate(root, random.Random(5), 1, share=1.0)
    procs = [subprocess.Popen(ct.index_argv(root, config), stderr=subprocess.PIPE, text=True,
                              env=ct._env()) for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    assert sorted(code for code, _ in results) in ([0, 0], [0, 2])  # 0, 0: one after the other
    for code, err in results:
        if code == 2:
            assert "another 'codesearch index'" in err and len(err.strip().splitlines()) == 1
    assert ct.compare(root, load_config(config, root)) == []


def test_stale_lock_of_a_killed_run_is_recovered(repo):
    root, config = repo
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from codesearch.lock import IndexLock; "
        f"IndexLock(Path({str(root / '.codesearch')!r})).acquire(); print('held', flush=True); "
        "time.sleep(600)")], stdout=subprocess.PIPE, text=True, env=ct._env())
    assert holder.stdout.readline().strip() == "held"
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    # The lock file still names the dead process; the kernel has dropped its lock.
    assert (root / ".codesearch" / "index.lock").read_text().split() == [str(holder.pid)]
    ct.mutate(root, random.Random(7), 2)
    assert ct.run_index(root, config).returncode == 0
    assert ct.compare(root, load_config(config, root)) == []


def _wait_for_lock_holder(root: Path, pid: int, timeout: float = 120) -> None:
    from codesearch.lock import writer_pid

    deadline = time.monotonic() + timeout
    while writer_pid(root / ".codesearch") != pid:
        assert time.monotonic() < deadline, "the index run never took its lock"
        time.sleep(0.02)
