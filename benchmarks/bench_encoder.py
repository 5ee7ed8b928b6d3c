"""Our encode path vs sentence-transformers' `encode`, same model, texts and precision.

The texts are real chunk texts of the corpus (a deterministic sample). Both sides
run fp32, then bf16 (autocast, as our Encoder does; sentence-transformers' encode
wrapped in the same autocast). Runs alternate ours/theirs twice and keep each
side's faster run, so a burst of load from elsewhere hurts neither side alone.

    python benchmarks/bench_encoder.py [--quick]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import corpus
from perf_common import Table, corpus_chunks, load_encoder, log, unique_texts, verdict


def sample_texts(tree: Path, n: int) -> list[str]:
    _, chunks, _, _ = corpus_chunks(tree)
    texts = unique_texts(chunks)
    step = max(1, len(texts) // n)
    return texts[::step][:n]


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def bench(texts: list[str], repeats: int = 2) -> Table:
    import torch
    from sentence_transformers import SentenceTransformer

    ours_fp32, ours_bf16 = load_encoder("fp32"), load_encoder("bf16")
    st = SentenceTransformer(ours_fp32.info.path, device="cpu")
    tokens = sum(len(x) for x in ours_fp32.tokenizer(
        texts, truncation=True, max_length=ours_fp32.info.max_length)["input_ids"])

    def st_encode(bf16: bool, some: list[str] = texts):
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            st.encode(some, batch_size=32, normalize_embeddings=True)

    runs = {"ours fp32": lambda: ours_fp32.encode(texts),
            "sentence-transformers fp32": lambda: st_encode(False),
            "ours bf16": lambda: ours_bf16.encode(texts),
            "sentence-transformers bf16": lambda: st_encode(True)}
    # Warm-up: first calls pay oneDNN kernel creation.
    ours_fp32.encode(texts[:8])
    ours_bf16.encode(texts[:8])
    st_encode(False, texts[:8])
    st_encode(True, texts[:8])
    best: dict[str, float] = {}
    for _ in range(repeats):
        for name, fn in runs.items():
            best[name] = min(best.get(name, float("inf")), _timed(fn))
            log(f"encoder {name}: {tokens / best[name]:,.0f} tok/s")
    rows = []
    for prec in ("fp32", "bf16"):
        ours, theirs = best[f"ours {prec}"], best[f"sentence-transformers {prec}"]
        rows.append([prec, tokens / ours, tokens / theirs, f"{theirs / ours:.2f}x",
                     verdict(ours <= theirs)])
    speedup = best["ours fp32"] / best["ours bf16"]
    return Table(f"Encoder: ours vs sentence-transformers ({len(texts)} chunk texts, "
                 f"{tokens:,} real tokens)",
                 ["precision", "ours tok/s", "sentence-transformers tok/s",
                  "ours speed / theirs", "at least as fast"], rows,
                 [f"bf16 vs fp32 (ours): {speedup:.2f}x faster",
                  "sentence-transformers: batch_size 32 (its default), its own length sorting; "
                  "ours: length-sorted batches of 16,384 padded tokens"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    texts = sample_texts(corpus.build(corpus.DEFAULT_CACHE), 300 if args.quick else 1500)
    print(bench(texts).markdown())


if __name__ == "__main__":
    main()
