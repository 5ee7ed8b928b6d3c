"""What an index run does besides the model forward: the work that keeps it under the raw encoder.

A full index of the corpus runs in this process, for real (walk, parse, chunking,
tokenizing, padding, lexical vectors, upserts, Qdrant's final optimize), except that
the encoder's forward is replaced by a cheap stand-in: each text's vector is the mean
of fixed random vectors of its tokens. Such vectors are structured like real
embeddings (texts that share tokens lie close), so the HNSW build costs about what it
does on real ones; uniformly random vectors made it twice as slow. Model loading is
timed on its own. A minute instead of the hour that bench_index.py takes at fp32, and
independent of the model's speed, so what it measures holds on any machine:

    overhead seconds = index wall time - forward time  (roughly: this script's total)
    ratio to raw encoder = raw forward / (raw forward + overhead)

    python benchmarks/index_overhead.py [--quick] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import corpus
import numpy as np
from bench_index import quick_tree
from perf_common import PYTHON, Table, load_encoder, log, median, run_command


def stand_in_forward(encoder) -> list[float]:
    """Replace encoder's forward with a mean of random token vectors (padding still
    built); returns the list its own seconds are added to, to be taken off."""
    table = np.random.default_rng(0).standard_normal(
        (encoder.tokenizer._tok.get_vocab_size(), encoder.info.dim)).astype(np.float32)
    spent = [0.0]

    def forward(ids: list[list[int]], step: int) -> np.ndarray:
        encoder._padded(ids, step)  # the product's padding work, and its token count
        t = time.perf_counter()
        vectors = np.stack([table[row].mean(0) for row in ids])
        spent[0] += time.perf_counter() - t
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    encoder._forward = forward
    return spent


def one_run(tree: Path) -> dict[str, float]:
    from codesearch.config import Config
    from codesearch.indexer import Indexer

    encoder = load_encoder()
    t = time.perf_counter()
    encoder.model  # noqa: B018 (torch, transformers and the weights, as an index run loads them)
    load = time.perf_counter() - t
    stand_in = stand_in_forward(encoder)
    with tempfile.TemporaryDirectory() as folder:
        # A copy: an index run writes its settings beside the tree, which must stay as
        # bench_index.py's runs left it.
        copy = Path(folder) / tree.name
        shutil.copytree(tree, copy, ignore=shutil.ignore_patterns(".codesearch"))
        t = time.perf_counter()
        summary = Indexer(copy, Config(), encoder=encoder).run(full=True)
        total = time.perf_counter() - t
    stages = dict(summary.stage_seconds)
    stages["embed"] -= stand_in[0]
    return {"model load": load, **stages, "total": load + total - stand_in[0],
            "chunks": summary.chunks_total, "tokens": summary.tokens}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=corpus.DEFAULT_CACHE)
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)  # a run in this process
    args = parser.parse_args()
    if args.one:
        # As `codesearch index` sets it (cli.py): the tokenizer may use both cores.
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
        print(json.dumps(one_run(args.one)))
        return
    tree = quick_tree(args.cache) if args.quick else corpus.build(args.cache)
    runs = []
    for i in range(args.repeats):
        log(f"run {i + 1} of {args.repeats} on {tree}")
        # Each in a fresh process, so that the model load is timed as an index run pays it.
        run = run_command([PYTHON, __file__, "--one", str(tree)])
        if run.rc != 0:
            raise SystemExit(f"run failed ({run.rc}): {run.stderr[-2000:]}")
        runs.append(json.loads(run.stdout.splitlines()[-1]))
    keys = [k for k in runs[0] if k not in ("chunks", "tokens")]
    table = Table(
        f"Index run without the model forward ({runs[0]['chunks']:,} chunks, "
        f"{runs[0]['tokens']:,} tokens)",
        ["stage", "median s", "runs (s)"],
        [[k, median([r[k] for r in runs]), ", ".join(f"{r[k]:.2f}" for r in runs)]
         for k in keys],
        ["embed: tokenizing and padding (the stand-in's own time is taken off); store: "
         "lexical vectors, upserts, engine hand-overs and the final optimize; total: all "
         "of it with the model load"])
    print(table.markdown())


if __name__ == "__main__":
    main()
