"""Can an index run hide its own work behind the forward? Three probes that say why not.

On 2 cores the indexer's work besides the model forward (parsing, lexical vectors,
building and upserting points, Qdrant's optimize) can only shrink the run if it
overlaps something. These measure what limits that, on this machine:

- forward: the model's forward on 1 and 2 torch threads, alone and beside a process
  that keeps one core busy (how much of the forward a worker process would cost);
- update: whether `EdgeShard.update` lets other Python threads run (the GIL);
- payload: what qdrant-edge spends converting each kind of payload value.

    python benchmarks/probe_overlap.py [forward] [update] [payload]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np
from perf_common import Table, load_encoder

from codesearch.store import DENSE, SPARSE, EdgeStore


def forward() -> Table:
    import torch

    model = load_encoder("fp32").model
    ids = torch.randint(1000, 20_000, (64, 256))
    mask = torch.ones_like(ids)

    def tok_s(threads: int) -> float:
        torch.set_num_threads(threads)
        with torch.inference_mode():
            model(input_ids=ids, attention_mask=mask)
            t = time.perf_counter()
            for _ in range(4):
                model(input_ids=ids, attention_mask=mask)
        return ids.numel() * 4 / (time.perf_counter() - t)

    rows = []
    for round_ in range(1, 3):
        alone = tok_s(1), tok_s(2)
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            time.sleep(0.5)
            beside = tok_s(1), tok_s(2)
        finally:
            busy.kill()
        rows.append([round_, *alone, alone[1] / alone[0], *beside])
    return Table("Forward, fp32, 64 x 256 tokens (tokens/s)",
                 ["round", "1 thread", "2 threads", "2 / 1", "1 thread beside a busy core",
                  "2 threads beside a busy core"], rows)


def _points(n: int, start: int, rng) -> list:
    import qdrant_edge as qe

    code = "def foo(x):\n    return x + 1\n" * 20
    dense = rng.standard_normal((n, 384)).astype(np.float32)
    dense /= np.linalg.norm(dense, axis=1, keepdims=True)
    return [qe.Point(str(uuid.uuid4()), {DENSE: dense[i].tolist(),
                                         SPARSE: qe.SparseVector([1, 5, 9], [1.0, 1.0, 1.0])},
                     {"path": f"a/b/f{(start + i) // 20}.py", "language": "python",
                      "kind": "function", "code": code, "content_hash": f"c{start + i}",
                      "file_hash": "h", "ordinal": (start + i) % 20, "dirs": ["a", "a/b"]})
            for i in range(n)]


def update() -> Table:
    import qdrant_edge as qe

    rng = np.random.default_rng(0)
    batches = [_points(1000, k * 1000, rng) for k in range(20)]

    def spin(seconds: float) -> int:
        t, count = time.perf_counter(), 0
        while time.perf_counter() - t < seconds:
            count += 1
        return count

    with tempfile.TemporaryDirectory() as folder:
        store = EdgeStore(Path(folder) / "qdrant", 384)
        try:
            shard = store.shard
            t = time.perf_counter()
            for batch in batches[:10]:
                shard.update(qe.UpdateOperation.upsert_points(batch))
            alone = time.perf_counter() - t
            spins_alone = spin(alone)
            writer = threading.Thread(target=lambda: [
                shard.update(qe.UpdateOperation.upsert_points(b)) for b in batches[10:]])
            writer.start()
            spins_beside = spin(alone)
            writer.join()
        finally:
            store.close()
    return Table("EdgeShard.update in a thread beside Python work (10 x 1,000 points)",
                 ["updates alone (s)", "Python loop beside them, share of its speed alone"],
                 [[alone, f"{spins_beside / spins_alone:.0%}"]])


def payload() -> Table:
    import qdrant_edge as qe

    n = 20_000
    ids = [str(uuid.uuid4()) for _ in range(n)]
    cases = {"no payload": {}, "1 short string": {"a": "x"}, "1 long string": {"a": "x" * 600},
             "1 int": {"a": 5}, "1 float": {"a": 5.0}, "1 bool": {"a": True},
             "5 strings": {k: "x" for k in "abcde"}, "5 ints": {k: 5 for k in "abcde"},
             "list of 4 strings": {"a": ["a", "b", "c", "d"]}}
    rows = []
    for name, value in cases.items():
        t = time.perf_counter()
        for i in range(n):
            qe.Point(ids[i], {}, value)
        rows.append([name, (time.perf_counter() - t) / n * 1e6])
    return Table("qdrant_edge.Point(id, {}, payload): microseconds per point", ["payload", "us"], rows)


PROBES = {"forward": forward, "update": update, "payload": payload}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("probes", nargs="*", help=f"any of {', '.join(PROBES)} (default: all)")
    names = parser.parse_args().probes or list(PROBES)
    unknown = sorted(set(names) - set(PROBES))
    if unknown:
        parser.error(f"unknown probe {', '.join(unknown)}: choose from {', '.join(PROBES)}")
    for name in names:
        print(PROBES[name]().markdown())


if __name__ == "__main__":
    main()
