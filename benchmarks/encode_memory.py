"""Peak RSS and tokens/s of encoding a random sample of the corpus's chunk texts, one way
per process: the product's Encoder.encode in groups of `--group` texts (as the indexer
embeds), or the bare model forward of bench_index.raw_encoder. A probe for the indexing
peak-RSS target; run it with ONEDNN_* or MALLOC_* variables set to compare settings.

    python benchmarks/encode_memory.py product 6000
    ONEDNN_PRIMITIVE_CACHE_CAPACITY=1024 python benchmarks/encode_memory.py product 6000
    python benchmarks/encode_memory.py raw 1500
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import time
from pathlib import Path

import bench_index
import corpus
from perf_common import corpus_chunks, load_encoder, unique_texts

from codesearch import embed
from codesearch.embed import return_freed_memory
from codesearch.indexer import EMBED_BATCH_CHUNKS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("product", "raw"))
    parser.add_argument("texts", type=int)
    parser.add_argument("--group", type=int, default=EMBED_BATCH_CHUNKS,
                        help="texts per encode call (default: as the indexer)")
    parser.add_argument("--width-step", type=int, default=embed.WIDTH_STEP,
                        help="pad torch batches to a multiple of this (1: no rounding)")
    parser.add_argument("--cache", type=Path, default=corpus.DEFAULT_CACHE)
    args = parser.parse_args()
    _, chunks, _, _ = corpus_chunks(corpus.build(args.cache))
    texts = unique_texts(chunks)
    random.Random(0).shuffle(texts)
    texts = texts[:args.texts]
    embed.WIDTH_STEP = args.width_step
    if args.mode == "raw":
        tok_s = bench_index.raw_encoder(texts)["tok_s"]
    else:
        encoder = load_encoder()
        started = time.perf_counter()
        for start in range(0, len(texts), args.group):
            encoder.encode(texts[start:start + args.group])
            return_freed_memory()  # as the indexer does after each batch
        tok_s = encoder.tokens_seen / (time.perf_counter() - started)
    print(json.dumps({"mode": args.mode, "texts": len(texts), "width_step": args.width_step,
                      "tok_s": round(tok_s),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))


if __name__ == "__main__":
    main()
