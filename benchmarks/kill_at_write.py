"""Index a repository and SIGKILL this very process right after its K-th store write.

    python benchmarks/kill_at_write.py ROOT CONFIG K     # CONFIG may be ''

Random kills (crash_trials.py) mostly land while the model embeds, because writes
are a small share of a run. This places a real SIGKILL after each write operation
in turn (upsert, delete, set_file_stat, write_meta, optimize) on the real store, so
that every boundary of the write-new-then-delete-old order is hit. With K = 0 it
runs to the end and prints how many writes the run made.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from codesearch.config import load_config
from codesearch.indexer import Indexer
from codesearch.locate import open_store

WRITES = ("upsert", "delete_path", "set_file_stat", "write_meta", "optimize")


def main() -> None:
    root, config_path, kill_after = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    config = load_config(Path(config_path) if config_path else None, root)
    indexer = Indexer(root, config)
    store = open_store(indexer.root, config, indexer.info.dim)
    writes = 0

    def counted(name, operation):
        def call(*args, **kwargs):
            nonlocal writes
            result = operation(*args, **kwargs)
            writes += 1
            if writes == kill_after:
                print(name, file=sys.stderr, flush=True)  # which write it was, for the report
                os.kill(os.getpid(), signal.SIGKILL)
            return result
        return call

    for name in WRITES:
        setattr(store, name, counted(name, getattr(store, name)))
    try:
        indexer.run(store=store)
    finally:
        store.close()
    print(writes)


if __name__ == "__main__":
    main()
