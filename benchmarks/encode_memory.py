"""Peak RSS and tokens/s of encoding a random sample of the corpus's chunk texts, one way
per process: the product's Encoder.encode in groups of `--group` texts (as the indexer
embeds), or the bare model forward of bench_index.raw_encoder. A probe for the indexing
peak-RSS target; run it with MALLOC_* variables set to compare allocator settings.

    python benchmarks/encode_memory.py product 6000
    MALLOC_MMAP_THRESHOLD_=131072 python benchmarks/encode_memory.py product 6000
    python benchmarks/encode_memory.py raw 1500
"""

from __future__ import annotations

import argparse
import ctypes
import json
import random
import resource
import time
from pathlib import Path

import bench_index
import corpus
from perf_common import corpus_chunks, load_encoder, unique_texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("product", "raw"))
    parser.add_argument("texts", type=int)
    parser.add_argument("--group", type=int, default=4096, help="texts per encode call")
    parser.add_argument("--trim", action="store_true", help="malloc_trim(0) after each group")
    parser.add_argument("--cache", type=Path, default=corpus.DEFAULT_CACHE)
    args = parser.parse_args()
    _, chunks, _, _ = corpus_chunks(corpus.build(args.cache))
    texts = unique_texts(chunks)
    random.Random(0).shuffle(texts)
    texts = texts[:args.texts]
    if args.mode == "raw":
        tok_s = bench_index.raw_encoder(texts)["tok_s"]
    else:
        encoder = load_encoder()
        libc = ctypes.CDLL("libc.so.6")
        started = time.perf_counter()
        for start in range(0, len(texts), args.group):
            encoder.encode(texts[start:start + args.group])
            if args.trim:
                libc.malloc_trim(0)
        tok_s = encoder.tokens_seen / (time.perf_counter() - started)
    print(json.dumps({"mode": args.mode, "texts": len(texts), "tok_s": round(tok_s),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))


if __name__ == "__main__":
    main()
