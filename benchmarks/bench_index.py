"""Indexing throughput against the raw encoder, and re-indexing, on the real-code corpus.

In one run: (1) chunk the corpus the way the indexer does and time the bare model
forward over exactly the texts an index embeds (pre-tokenised, length-sorted batches
of the same token budget, padding not counted): the raw encoder throughput; (2) run
`codesearch index --full` on the corpus as a user does (a fresh process) and divide
its real tokens by its whole wall time; (3) re-index with nothing changed, then after
editing one file, each as a whole command.

    python benchmarks/bench_index.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import corpus
from perf_common import (
    Table,
    codesearch,
    corpus_chunks,
    line_count,
    load_encoder,
    log,
    median,
    run_command,
    unique_texts,
    verdict,
)


def quick_tree(cache: Path) -> Path:
    """Every 12th file of the full corpus: same languages, a tenth of the size."""
    full = corpus.build(cache)
    tree = cache / "quick-tree"
    if (tree / ".corpus-complete").exists():
        return tree
    shutil.rmtree(tree, ignore_errors=True)
    files = sorted(p for p in full.rglob("*") if p.is_file() and ".git" not in p.parts
                   and p.name != ".corpus-complete")
    for p in files[::12]:
        dest = tree / p.relative_to(full)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, dest)
    run_command(["git", "init", "-q", str(tree)])
    (tree / ".corpus-complete").write_text("ok\n")
    return tree


def raw_encoder(texts: list[str], precision: str = "auto") -> dict:
    """Tokens/s of the model's forward alone over `texts` (the ceiling for indexing)."""
    import torch

    from codesearch.embed import WIDTH_STEP, length_batches, padded_width

    enc = load_encoder(precision)
    ids = enc.tokenizer(texts, add_special_tokens=True, truncation=True,
                        max_length=enc.info.max_length)["input_ids"]
    batches = []
    # The batches the product makes (same budget, same padded widths), pre-built.
    for batch in length_batches([len(x) for x in ids], enc.batch_tokens, step=WIDTH_STEP):
        rows = [ids[i] for i in batch]
        width = padded_width(max(len(r) for r in rows), WIDTH_STEP)
        input_ids = torch.zeros((len(rows), width), dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, seq in enumerate(rows):
            input_ids[r, :len(seq)] = torch.tensor(seq)
            mask[r, :len(seq)] = 1
        batches.append((input_ids, mask))
    tokens = sum(len(x) for x in ids)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16,
                                                enabled=enc.precision == "bf16"):
        enc.model(input_ids=batches[-1][0], attention_mask=batches[-1][1])  # warm-up
        t = time.perf_counter()
        for input_ids, mask in batches:
            enc.model(input_ids=input_ids, attention_mask=mask)
        seconds = time.perf_counter() - t
    return {"tokens": tokens, "seconds": seconds, "tok_s": tokens / seconds,
            "precision": enc.precision}


def index_command(tree: Path, *extra: str):
    run = run_command(codesearch("index", str(tree), "--json", *extra))
    if run.rc != 0:
        raise SystemExit(f"codesearch index failed ({run.rc}): {run.stderr[-2000:]}")
    return run, json.loads(run.stdout)


def bench_full(tree: Path) -> tuple[Table, dict]:
    log(f"chunking {tree}")
    files, chunks, _, _ = corpus_chunks(tree)
    texts = unique_texts(chunks)
    lines = line_count(tree, files)
    log(f"{len(files)} files, {lines} lines, {len(chunks)} chunks ({len(texts)} unique): raw encoder")
    raw = raw_encoder(texts)
    log(f"raw encoder {raw['tok_s']:,.0f} tok/s; full index")
    run, s = index_command(tree, "--full")
    wall = run.seconds
    tok_s = s["tokens"] / wall
    ratio = tok_s / raw["tok_s"]
    stages = s["stage_seconds"]
    embed_ratio = (s["tokens"] / stages["embed"]) / raw["tok_s"] if stages.get("embed") else 0
    table = Table(
        f"Indexing throughput: full index of {lines:,} lines of real code",
        ["measure", "value"],
        [["files / lines / chunks (unique embedded)",
          f"{s['files']:,} / {lines:,} / {s['chunks']:,} ({s['chunks_embedded']:,})"],
         ["raw encoder, same texts (model forward only)",
          f"{raw['tok_s']:,.0f} tok/s ({raw['precision']}, {raw['tokens']:,} tokens, "
          f"{raw['seconds']:.1f} s)"],
         ["`codesearch index --full`, whole command", f"{wall:.1f} s"],
         ["files/s, chunks/s", f"{s['files'] / wall:,.1f}, {s['chunks'] / wall:,.1f}"],
         ["tokens/s over the whole command (real tokens)", f"{tok_s:,.0f}"],
         ["**ratio to raw encoder** (target >= 85%)", f"**{ratio:.1%}** {verdict(ratio >= 0.85)}"],
         ["ratio of the embed stage alone", f"{embed_ratio:.1%}"],
         ["peak RSS (target <= 2 GB)",
          f"{run.max_rss_mb:,.0f} MB {verdict(run.max_rss_mb <= 2048)}"],
         ["time split (s)", ", ".join(f"{k} {v:.1f}" for k, v in sorted(stages.items()))
          + f", startup+other {wall - sum(stages.values()):.1f}"]],
        [f"corpus: {corpus_summary(files)}"])
    facts = {"tok_s_index": tok_s, "tok_s_raw": raw["tok_s"], "ratio": ratio,
             "lines": lines, "chunks": s["chunks"], "wall": wall, "rss_mb": run.max_rss_mb,
             "tokens_per_chunk": s["tokens"] / max(s["chunks_embedded"], 1),
             "disk_mb": dir_mb(tree / ".codesearch")}
    return table, facts


def corpus_summary(files) -> str:
    counts: dict[str, int] = {}
    for f in files:
        counts[f.language] = counts.get(f.language, 0) + 1
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))


def dir_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def pick_file(tree: Path) -> Path:
    """A deterministic mid-sized Python file to edit."""
    candidates = sorted(p for p in (tree / "python").rglob("*.py") if 4_000 < p.stat().st_size < 20_000)
    return candidates[len(candidates) // 2]


def bench_reindex(tree: Path, repeats: int = 3) -> Table:
    unchanged = []
    for _ in range(repeats):
        run, s = index_command(tree)
        assert s["files_indexed"] == 0 and s["chunks_embedded"] == 0, s
        unchanged.append(run.seconds)
    target = pick_file(tree)
    original = target.read_bytes()
    edits = []
    try:
        for i in range(repeats):
            extra = f"\n\ndef benchmark_edit_{i}(values):\n    return sorted(set(values))\n".encode()
            target.write_bytes(original + extra)
            run, s = index_command(tree)
            assert s["files_indexed"] == 1, s
            edits.append(run.seconds)
    finally:
        target.write_bytes(original)
        index_command(tree)  # back to the pristine corpus for the next benchmark
    nothing, one = median(unchanged), median(edits)
    return Table("Re-indexing (whole `codesearch index` command, process start included)",
                 ["case", "median s", "runs (s)", "target", "verdict"],
                 [["nothing changed", nothing, ", ".join(f"{x:.2f}" for x in unchanged),
                   "<= 3 s", verdict(nothing <= 3)],
                  ["one file edited", one, ", ".join(f"{x:.2f}" for x in edits),
                   "<= 2 s", verdict(one <= 2)]],
                 [f"edited file: {target.relative_to(tree)} (a function appended each run)"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cache", type=Path, default=corpus.DEFAULT_CACHE)
    args = parser.parse_args()
    tree = quick_tree(args.cache) if args.quick else corpus.build(args.cache)
    table, _ = bench_full(tree)
    print(table.markdown())
    print(bench_reindex(tree).markdown())


if __name__ == "__main__":
    main()
