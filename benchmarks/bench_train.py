"""Training throughput and memory: GradCache vs a plain forward+backward of the same batch.

The real bundled all-MiniLM-L6-v2 as both towers of the trainer's DualEncoder, bf16
autocast, every text exactly `--tokens` tokens, symmetric InfoNCE, AdamW. One optimizer
step = embed queries and documents, loss, backward, clip, step. Each mode runs in its
own process so that its peak RSS (ru_maxrss) is its own.

    python benchmarks/bench_train.py                       # batch 64, mini-batch 32, 128 tokens, bf16
    python benchmarks/bench_train.py --batch 128 --steps 3 --fp32
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

MODES = ("plain", "gradcache")


def run_mode(args) -> dict:
    """One mode, in this process: warm-up step, then timed steps."""
    import torch

    from trainer.config import ModelConfig
    from trainer.gradcache import cached_backward, plain_backward
    from trainer.losses import SymmetricInfoNCE
    from trainer.model import DualEncoder, autocast

    torch.manual_seed(0)
    model = DualEncoder.from_config(ModelConfig(max_length=args.tokens)).train()
    loss_fn = SymmetricInfoNCE()
    optimizer = torch.optim.AdamW([*model.parameters(), *loss_fn.parameters()], lr=1e-5)
    sentence = "parse the config file and return a mapping of section names to values "
    text = sentence * (args.tokens // 6)  # longer than `tokens`: every text is truncated
    queries = [f"{i} {text}" for i in range(args.batch)]
    documents = [f"def f{i}(): {text}" for i in range(args.batch)]
    rows = args.mini_batch if args.mode == "gradcache" else 0
    device = torch.device("cpu")

    def step() -> None:
        groups = [model.mini_batches(queries, "query", rows),
                  model.mini_batches(documents, "code", rows)]
        assert all(b.input_ids.shape[1] == args.tokens for g in groups for b in g)
        context = lambda: autocast(device, not args.fp32)  # noqa: E731
        if rows:
            cached_backward(model, groups, lambda e: loss_fn(*e), device, context)
        else:
            plain_backward(model, groups, lambda e: loss_fn(*e), context)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()  # warm-up: allocator, kernels, optimizer state
    started = time.perf_counter()
    for _ in range(args.steps):
        step()
    seconds = (time.perf_counter() - started) / args.steps
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"mode": args.mode, "batch": args.batch, "mini_batch": rows or args.batch,
            "tokens": args.tokens, "precision": "fp32" if args.fp32 else "bf16",
            "step_s": seconds, "pairs_per_s": args.batch / seconds,
            "peak_rss_mib": peak_kib / 1024, "threads": torch.get_num_threads()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64, help="pairs per optimizer step")
    parser.add_argument("--mini-batch", type=int, default=32, help="GradCache rows per forward")
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--steps", type=int, default=1, help="timed steps after one warm-up")
    parser.add_argument("--fp32", action="store_true", help="no bf16 autocast")
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(run_mode(args)))
        return
    rows = []
    for mode in MODES:
        command = [sys.executable, __file__, "--mode", mode, "--batch", str(args.batch),
                   "--mini-batch", str(args.mini_batch), "--tokens", str(args.tokens),
                   "--steps", str(args.steps)] + (["--fp32"] if args.fp32 else [])
        done = subprocess.run(command, capture_output=True, text=True, check=True,
                              env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"DualEncoder(all-MiniLM-L6-v2 x2), {rows[0]['precision']}, {args.tokens} tokens per "
          f"text, batch {args.batch} pairs, {args.steps} timed steps, "
          f"{rows[0]['threads']} torch threads\n")
    print("| mode | rows per forward | pairs/s | s/step | peak RSS (MiB) |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['mode']} | {row['mini_batch']} | {row['pairs_per_s']:.2f} | "
              f"{row['step_s']:.2f} | {row['peak_rss_mib']:.0f} |")


if __name__ == "__main__":
    main()
