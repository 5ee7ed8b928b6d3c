"""Crash trials: kill `codesearch index` at random moments, resume, compare with a clean index.

    python benchmarks/crash_trials.py                       # 20 SIGKILL + 5 SIGINT, bundled model
    python benchmarks/crash_trials.py --sigkill 3 --sigint 1 --model PATH   # quick

Each trial edits a real repository (a git copy of an installed package's source:
files changed, added, deleted, renamed, copied), starts `codesearch index` in a real
process, sends SIGKILL or SIGINT after a random delay, then runs `codesearch index`
again to completion. Afterwards the index must hold exactly what a clean index of
the same tree holds: the same point ids (deterministic from path, content and
position) with the same payload state, the same count, no duplicate versions of a
file, no orphans of deleted files; and search must work. SIGINT must end with exit
130 and one short line on stderr. A last, real clean index of the final tree is
compared point by point, vectors included.

The test suite imports the helpers (tests/test_reliability_crash.py) with the tiny model.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from codesearch.chunk import chunk_file  # noqa: E402
from codesearch.config import Config, load_config  # noqa: E402
from codesearch.indexer import Indexer  # noqa: E402
from codesearch.store import EdgeStore, point_id  # noqa: E402
from codesearch.walk import read_source, walk  # noqa: E402

GIT = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]


# --------------------------------------------------------------------- the tree


def make_repo(source: Path, dest: Path) -> Path:
    """A git repository holding a copy of `source` (only text sources, no caches)."""
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.so"))
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    commit(dest, "import")
    return dest


def commit(root: Path, message: str) -> None:
    subprocess.run([*GIT, "add", "-A"], cwd=root, check=True)
    subprocess.run([*GIT, "commit", "-qm", message, "--allow-empty"], cwd=root, check=True)


def mutate(root: Path, rng: random.Random, trial: int, share: float = 0.3) -> str:
    """Change a share of the files the way development does; returns what was done."""
    files = sorted(p for p in root.rglob("*.py") if ".git" not in p.parts and ".codesearch" not in p.parts)
    changed = rng.sample(files, max(1, int(len(files) * share)))
    for path in changed:
        text = path.read_text()
        lines = text.splitlines()
        cut = rng.randrange(len(lines) + 1)
        lines.insert(cut, f"# edited in trial {trial}")
        lines.append(f"\n\ndef added_in_trial_{trial}_{rng.randrange(10**6)}(x):\n"
                     f"    return x * {trial}\n")
        path.write_text("\n".join(lines) + "\n")
    rest = [p for p in files if p not in changed]
    done = [f"{len(changed)} edited"]
    if len(rest) > 3:
        victim, moved, copied = rng.sample(rest, 3)
        victim.unlink()
        moved.rename(moved.with_name(f"moved_{trial}_{moved.name}"))
        shutil.copy(copied, copied.with_name(f"copy_{trial}_{copied.name}"))
        done += ["1 deleted", "1 renamed", "1 copied"]
    (root / f"new_module_{trial}.py").write_text(
        f'"""Added in trial {trial}."""\n\n\ndef brand_new_{trial}(items):\n'
        "    return sorted(set(items))\n")
    (root / f"empty_{trial}.py").write_text("")
    commit(root, f"trial {trial}")
    return ", ".join([*done, "2 added"])


# ------------------------------------------------------------------- the index


@dataclass(frozen=True)
class PointState:
    path: str
    file_hash: str
    n_chunks: int
    content_hash: str


def stored_points(root: Path) -> tuple[dict[str, PointState], dict]:
    """Every point the index holds (chunks and file markers) and its metadata."""
    store = EdgeStore(root / ".codesearch" / "qdrant", None)
    try:
        points = {s.id: PointState(s.path, s.file_hash, s.n_chunks, s.content_hash)
                  for s in store.state()}
        return points, store.read_meta() or {}
    finally:
        store.close()


def expected_points(root: Path, config: Config) -> dict[str, PointState]:
    """What a clean index of the tree holds, computed through the indexer's own walk,
    reader, chunker and ids, without embedding anything."""
    indexer = Indexer(root, config)
    cfg = config.index
    out: dict[str, PointState] = {}
    for f in walk(root, cfg.max_file_bytes, cfg.exclude, cfg.languages or None).files:
        text, reason = read_source(f)
        if text is None:
            if not reason.startswith("unreadable"):
                marker = f"skip:{reason}:{f.size}:{f.mtime_ns}"
                out[point_id(f.path, marker, 0)] = PointState(f.path, marker, 0, "")
            continue
        file_hash = indexer._file_hash(text)
        chunks = chunk_file(f.path, text, f.language, cfg.chunk_tokens).chunks
        if not chunks:
            out[point_id(f.path, file_hash, 0)] = PointState(f.path, file_hash, 0, "")
        for i, chunk in enumerate(chunks):
            out[point_id(f.path, file_hash, i)] = PointState(f.path, file_hash, len(chunks),
                                                             chunk.content_hash)
    return out


def compare(root: Path, config: Config) -> list[str]:
    """Differences between the index and a clean index of the tree; empty when equal."""
    got, meta = stored_points(root)
    want = expected_points(root, config)
    problems = []
    if not meta.get("complete"):
        problems.append("index metadata not marked complete")
    missing, extra = want.keys() - got.keys(), got.keys() - want.keys()
    if missing:
        problems.append(f"{len(missing)} points missing, e.g. {want[min(missing)].path}")
    if extra:
        tree = {p.path for p in want.values()}
        orphans = {got[i].path for i in extra if got[i].path not in tree}
        stale = {got[i].path for i in extra if got[i].path in tree}
        problems.append(f"{len(extra)} extra points: orphans of {sorted(orphans)[:3]}, "
                        f"old versions of {sorted(stale)[:3]}")
    wrong = [i for i in want.keys() & got.keys() if want[i] != got[i]]
    if wrong:
        problems.append(f"{len(wrong)} points with a wrong payload state")
    versions: dict[str, set[str]] = {}
    for p in got.values():
        versions.setdefault(p.path, set()).add(p.file_hash)
    doubled = [path for path, hashes in versions.items() if len(hashes) > 1]
    if doubled:
        problems.append(f"{len(doubled)} files with more than one version, e.g. {doubled[0]}")
    return problems


def dense_vectors(root: Path) -> dict[str, np.ndarray]:
    store = EdgeStore(root / ".codesearch" / "qdrant", None)
    try:
        ids = [s.id for s in store.state() if s.content_hash]
        out = {}
        for start in range(0, len(ids), 512):
            for pid, (dense, _) in store.vectors(ids[start:start + 512]).items():
                out[pid] = np.asarray(dense, dtype=np.float32)
        return out
    finally:
        store.close()


def compare_with_clean_index(root: Path, config_path: Path | None, workdir: Path) -> list[str]:
    """Index a copy of the tree from scratch and compare every point, vectors included."""
    clean = workdir / "clean"
    shutil.rmtree(clean, ignore_errors=True)
    shutil.copytree(root, clean, ignore=shutil.ignore_patterns(".codesearch"))
    result = run_index(clean, config_path)
    if result.returncode != 0:
        return [f"clean index failed: {result.stderr.strip()[-200:]}"]
    got, _ = stored_points(root)
    want, _ = stored_points(clean)
    problems = []
    if got != want:
        problems.append(f"ids/payloads differ from a clean index ({len(got)} vs {len(want)} points)")
    a, b = dense_vectors(root), dense_vectors(clean)
    if a.keys() != b.keys():
        problems.append(f"dense vectors on {len(a.keys() ^ b.keys())} points differ in presence")
    cosines = [float(a[i] @ b[i] / (np.linalg.norm(a[i]) * np.linalg.norm(b[i])))
               for i in a.keys() & b.keys()]
    # Not a failure: a moved or copied chunk keeps the vector it was embedded with under
    # its old path (the header names the path), which a clean index embeds afresh.
    same = sum(c >= 0.9999 for c in cosines)
    VECTOR_NOTES.append(f"{same} of {len(cosines)} vectors equal a clean index's (cosine >= "
                        f"0.9999); the others (lowest cosine {min(cosines, default=1.0):.4f}) "
                        "are moved or copied chunks whose vectors were reused by design")
    return problems


VECTOR_NOTES: list[str] = []


# ----------------------------------------------------------------- the process


def index_argv(root: Path, config_path: Path | None) -> list[str]:
    argv = [sys.executable, "-m", "codesearch", "index", str(root), "-q"]
    return argv + (["--config", str(config_path)] if config_path else [])


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")


def _default_sigint() -> None:
    # A child inherits an ignored SIGINT, and Python then leaves Ctrl-C ignored: start
    # each run as a terminal's foreground job would, whatever the caller's disposition.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_index(root: Path, config_path: Path | None, **popen) -> subprocess.Popen:
    """An index run in a real process, with SIGINT at its default as in a terminal."""
    return subprocess.Popen(index_argv(root, config_path), env=_env(),
                            preexec_fn=_default_sigint, text=True, **popen)


def run_index(root: Path, config_path: Path | None, timeout: float = 1800):
    return subprocess.run(index_argv(root, config_path), capture_output=True, text=True,
                          env=_env(), timeout=timeout)


def interrupt_index(root: Path, config_path: Path | None, delay: float, sig: int,
                    timeout: float = 1800) -> tuple[int | None, str, float, bool]:
    """Start an index run, send `sig` after `delay` seconds; (exit code, stderr, seconds,
    whether the run held the index lock when the signal came). The exit code is None
    when the run finished before the signal."""
    started = time.monotonic()
    proc = start_index(root, config_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    mid_run = False
    try:
        proc.wait(timeout=delay)
        finished = True
    except subprocess.TimeoutExpired:
        finished = False
        mid_run = signal_frozen(proc, sig, root)
    _, err = proc.communicate(timeout=timeout)
    return (None if finished else proc.returncode), err, time.monotonic() - started, mid_run


def signal_frozen(proc: subprocess.Popen, sig: int, root: Path) -> bool:
    """Send `sig` while the process is stopped, so that what it was doing is known:
    True if it held the index lock (mid-run), False if it was starting up or done."""
    from codesearch.lock import writer_pid

    os.kill(proc.pid, signal.SIGSTOP)
    try:
        while _state(proc.pid) not in ("T", "Z", ""):  # stopped, or already gone
            time.sleep(0.001)
        mid_run = writer_pid(root / ".codesearch") == proc.pid
        proc.send_signal(sig)
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # SIGKILL'd and reaped meanwhile
                os.kill(proc.pid, signal.SIGCONT)
    return mid_run


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def search_works(root: Path, encoder, query: str = "sorted set of items") -> str:
    """'' when a search through the library answers with hits from files of the tree."""
    from codesearch.locate import open_store, resolve_config
    from codesearch.search import Searcher

    config = resolve_config(root, None)
    with Searcher(root, config, open_store(root, config), encoder) as searcher:
        hits = searcher.search(query, limit=5)
    if not hits:
        return "search returned nothing"
    missing = [h.path for h in hits if not (root / h.path).is_file()]
    return f"search returned deleted files {missing}" if missing else ""


# ------------------------------------------------------------------- the trials


@dataclass
class Trial:
    number: int
    signal: str
    delay: float
    outcome: str       # killed / interrupted / finished first
    left: str          # the index as the signal left it
    exit_code: int | None
    change: str
    points: int
    problems: list[str]


def run_trials(root: Path, config_path: Path | None, n_kill: int, n_int: int, seed: int,
               encoder, share: float = 0.3, log=print) -> list[Trial]:
    rng = random.Random(seed)
    config = load_config(config_path, root)
    plan = [signal.SIGKILL] * n_kill + [signal.SIGINT] * n_int
    rng.shuffle(plan)
    # How long one trial's work takes uninterrupted, measured on a first edit.
    mutate(root, rng, 0, share)
    started = time.monotonic()
    run_index(root, config_path)
    estimate = time.monotonic() - started
    log(f"an incremental run takes {estimate:.1f}s")
    trials = []
    for number, sig in enumerate(plan, 1):
        change = mutate(root, rng, number, share)
        # Anywhere from process start (imports, model load) to the end of the run.
        delay = rng.uniform(0.2, estimate)
        before, _ = stored_points(root)
        code, err, elapsed, mid_run = interrupt_index(root, config_path, delay, sig)
        after, meta = stored_points(root)
        # Where the signal struck: before the run wrote anything, or mid-write.
        left = ("complete" if meta.get("complete") else
                f"incomplete, {len(after.keys() - before.keys())} new and "
                f"{len(before.keys() - after.keys())} old points changed")
        started = time.monotonic()
        problems = []
        if code is None or (sig == signal.SIGINT and code == 0 and not mid_run
                            and meta.get("complete") and not err.strip()):
            # A Ctrl-C after the work is done is ignored on purpose (cli.main), and the
            # process stopped at start-up or shutdown said so: the run finished first.
            outcome = "finished first"
        elif sig == signal.SIGKILL:
            outcome = "killed"
            if code != -signal.SIGKILL:
                problems.append(f"exit {code} after SIGKILL")
        else:
            outcome = "interrupted"
            lines = err.strip().splitlines()
            if code != 130 or len(lines) != 1 or "resume" not in lines[0]:
                problems.append(f"SIGINT: exit {code}, stderr {err.strip()[-300:]!r}")
        resumed = run_index(root, config_path)
        estimate = 0.5 * estimate + 0.5 * (elapsed + time.monotonic() - started)
        if resumed.returncode != 0:
            problems.append(f"resume failed: {resumed.stderr.strip()[-300:]}")
        problems += compare(root, config)
        if encoder is not None and not problems:
            problem = search_works(root, encoder)
            problems += [problem] if problem else []
        points, _ = stored_points(root)
        trial = Trial(number, sig.name, delay, outcome, left, code, change, len(points), problems)
        log(f"trial {number:2d} {sig.name:7} after {delay:5.2f}s: {outcome:14} {left}; "
            f"{len(points)} points  {'OK' if not problems else '; '.join(problems)}")
        trials.append(trial)
    return trials


def kill_at_write(root: Path, config_path: Path | None, k: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "benchmarks" / "kill_at_write.py"), str(root),
                           str(config_path or ""), str(k)],
                          capture_output=True, text=True, env=_env(), timeout=1800)


@dataclass
class WriteKill:
    after: int          # SIGKILL right after this many store writes
    of: int             # writes the uninterrupted run makes
    operation: str      # the write just completed
    problems: list[str]


def run_write_kills(root: Path, config_path: Path | None, n: int, seed: int, share: float,
                    work: Path, log=print) -> list[WriteKill]:
    """SIGKILL after the K-th write of one incremental run, for n values of K spread over
    the run, each on a fresh copy of the same starting state; then resume and compare."""
    config = load_config(config_path, root)
    mutate(root, random.Random(seed), 1000, share)
    template = work / "write_template"
    shutil.copytree(root, template, symlinks=True)   # copy2 keeps mtimes: same plan
    probe = work / "write_probe"
    shutil.copytree(template, probe, symlinks=True)
    total = int(kill_at_write(probe, config_path, 0).stdout.split()[-1])
    shutil.rmtree(probe)
    log(f"the run makes {total} store writes")
    ks = sorted({max(1, round(total * (i + 1) / (n + 1))) for i in range(n)})
    out = []
    for k in ks:
        trial_root = work / f"write_{k}"
        shutil.copytree(template, trial_root, symlinks=True)
        killed = kill_at_write(trial_root, config_path, k)
        problems = [] if killed.returncode == -signal.SIGKILL else [f"exit {killed.returncode}"]
        resumed = run_index(trial_root, config_path)
        if resumed.returncode != 0:
            problems.append(f"resume failed: {resumed.stderr.strip()[-300:]}")
        problems += compare(trial_root, config)
        operation = killed.stderr.strip().splitlines()[-1] if killed.stderr.strip() else "?"
        out.append(WriteKill(k, total, operation, problems))
        log(f"kill after write {k:3d}/{total} ({operation}): {problems or 'OK'}")
        shutil.rmtree(trial_root)
    shutil.rmtree(template)
    return out


def report(trials: list[Trial], final: list[str], source: str, model: str, command: str,
           full_seconds: float, write_kills: list[WriteKill] = ()) -> str:
    kills = [t for t in trials if t.signal == "SIGKILL"]
    ints = [t for t in trials if t.signal == "SIGINT"]
    failed = [t for t in trials if t.problems]
    lines = [
        "# Reliability: crash trials",
        "",
        f"Command: `{command}`",
        "",
        f"Repository: a git copy of `{source}`; model: {model}; a clean full index took "
        f"{full_seconds:.1f}s on this machine (2 shared CPU cores).",
        "",
        f"- SIGKILL trials: {len(kills)} ({sum(t.outcome == 'killed' for t in kills)} killed mid-run, "
        f"{sum(t.outcome != 'killed' for t in kills)} finished before the signal)",
        f"- SIGINT trials: {len(ints)} ({sum(t.outcome == 'interrupted' for t in ints)} interrupted, "
        "each exit 130 with one line on stderr)",
        f"- Signals that struck mid-write (index left incomplete): "
        f"{sum(t.left != 'complete' for t in trials)}",
        "- Trials whose resumed index differed from a clean index: "
        f"{sum(any(not x.startswith('SIGINT') for x in t.problems) for t in failed)}",
        "- SIGINT trials whose exit was not 130 with one line: "
        f"{sum(any(x.startswith('SIGINT') for x in t.problems) for t in failed)}",
        f"- Final tree against a real clean index (point ids and payloads): "
        f"{'identical' if not final else '; '.join(final)}",
        "- Lost: " + ("nothing" if not failed and not final else "SEE FAILURES"),
        *(f"- Vectors: {note}" for note in VECTOR_NOTES),
        "",
        "| # | signal | after (s) | outcome | exit | index as the signal left it "
        "| tree change before the run | points after resume | result |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for t in trials:
        lines.append(f"| {t.number} | {t.signal} | {t.delay:.2f} | {t.outcome} | "
                     f"{'' if t.exit_code is None else t.exit_code} | {t.left} | {t.change} | {t.points} | "
                     f"{'equal to clean, search OK' if not t.problems else '; '.join(t.problems)} |")
    if write_kills:
        bad = [w for w in write_kills if w.problems]
        lines += ["", f"## SIGKILL right after the K-th store write ({len(write_kills)} trials)", "",
                  "Each on a fresh copy of the same starting index (one incremental run, "
                  f"{write_kills[0].of} writes), then resumed and compared with a clean index: "
                  f"{len(bad)} differed.", "",
                  "| K | write just completed | result |", "|---|---|---|"]
        lines += [f"| {w.after}/{w.of} | {w.operation} | "
                  f"{'equal to clean' if not w.problems else '; '.join(w.problems)} |"
                  for w in write_kills]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, help="a source tree to copy (default: installed click)")
    parser.add_argument("--sigkill", type=int, default=20)
    parser.add_argument("--sigint", type=int, default=5)
    parser.add_argument("--model", default="", help="model name or path (default: the bundled one)")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--write-kills", type=int, default=0,
                        help="also SIGKILL after this many different store-write counts")
    parser.add_argument("--share", type=float, default=0.3, help="share of files edited per trial")
    parser.add_argument("--out", type=Path, help="write the markdown report here")
    args = parser.parse_args()
    # Started in the background by a shell, we inherit SIGINT ignored, and so would every
    # index run we start (an ignored signal survives exec): the SIGINT trials need it live.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if args.source is None:
        import click
        args.source = Path(click.__file__).parent
    work = Path(tempfile.mkdtemp(prefix="crash_trials_"))
    root = make_repo(args.source, work / "repo")
    config_path = None
    if args.model:
        config_path = work / "model.toml"
        config_path.write_text(f'[model]\nname = "{args.model}"\n')
    started = time.monotonic()
    first = run_index(root, config_path)
    full_seconds = time.monotonic() - started
    if first.returncode != 0:
        sys.exit(f"initial index failed: {first.stderr}")
    print(f"initial index of {args.source}: {full_seconds:.1f}s")
    from codesearch.embed import Encoder, read_model_info, resolve_model_path

    config = load_config(config_path, root)
    encoder = Encoder(read_model_info(resolve_model_path(config.model.name)), device="cpu")
    trials = run_trials(root, config_path, args.sigkill, args.sigint, args.seed, encoder,
                        args.share)
    write_kills = run_write_kills(root, config_path, args.write_kills, args.seed, args.share,
                                  work) if args.write_kills else []
    if write_kills:
        run_index(root, config_path)
    final = compare_with_clean_index(root, config_path, work)
    print("final tree vs a real clean index:", final or "identical")
    command = "python benchmarks/crash_trials.py " + " ".join(sys.argv[1:])
    text = report(trials, final, str(args.source), config.model.name, command.strip(), full_seconds,
                  write_kills)
    if args.out:
        args.out.write_text(text)
    print(text)
    shutil.rmtree(work, ignore_errors=True)
    failed = any(t.problems for t in trials) or any(w.problems for w in write_kills)
    return 0 if not final and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
