"""Training throughput and memory: the trainer's step, plain and with GradCache, against a
bare forward+backward of the same model on the same batch.

The real bundled all-MiniLM-L6-v2 as both towers of the trainer's DualEncoder, bf16
autocast where the CPU has it (else fp32; `--precision`), every text exactly `--tokens`
tokens, symmetric InfoNCE, AdamW, grad clipping.
Three modes, each one optimizer step on the same `--batch` pairs:

    bare       pre-tokenised tensors straight through the two transformers, pool, loss,
               backward, clip, step: the floor any training loop pays
    plain      the trainer's step as train.py runs it with mini_batch = 0: tokenise and pad
               (DualEncoder.mini_batches), plain_backward, clip, step, schedule
    gradcache  the same with mini_batch = `--mini-batch`: cached_backward (a graph-free
               forward of every mini-batch, the loss, then a forward+backward per mini-batch)

Each mode runs in its own process so that its memory is its own: the peak resident set
of the training steps above what the loaded model already held (VmHWM, reset through
/proc/self/clear_refs after loading), which is activations, gradients and optimizer
state. The modes take turns for `--repeats` rounds so that a noisy machine slows all of them alike;
the ratios are computed within each round.

    python benchmarks/bench_train.py --batch 32 --mini-batch 8 --tokens 128 --steps 3 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

MODES = ("bare", "plain", "gradcache")


def run_mode(args) -> dict:
    """One mode, in this process: a warm-up step, then `steps` timed steps."""
    import torch

    from codesearch.embed import pool
    from trainer.config import ModelConfig, StageConfig
    from trainer.gradcache import cached_backward, plain_backward
    from trainer.losses import SymmetricInfoNCE
    from trainer.model import DualEncoder, autocast
    from trainer.optim import make_optimizer, make_scheduler

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = DualEncoder.from_config(ModelConfig(max_length=args.tokens)).train()
    loss_fn = SymmetricInfoNCE()
    stage = StageConfig(steps=10_000, warmup_steps=10)
    optimizer = make_optimizer(model, loss_fn, stage)
    scheduler = make_scheduler(optimizer, stage)
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    sentence = "parse the config file and return a mapping of section names to values "
    text = sentence * (args.tokens // 6)  # longer than `tokens`: every text is truncated
    queries = [f"{i} {text}" for i in range(args.batch)]
    documents = [f"def f{i}(): {text}" for i in range(args.batch)]
    device = torch.device("cpu")
    context = lambda: autocast(device, args.precision == "bf16")  # noqa: E731
    loss_of = lambda e: loss_fn(*e)  # noqa: E731
    # The bare mode's input: tokenised once, outside the timing.
    pretokenised = [model.mini_batches(queries, "query", 0)[0],
                    model.mini_batches(documents, "code", 0)[0]]

    def step() -> None:
        if args.mode == "bare":
            embeddings = []
            for batch in pretokenised:
                with context():
                    hidden = model.tower(batch.tower)(
                        input_ids=batch.input_ids,
                        attention_mask=batch.attention_mask).last_hidden_state
                embeddings.append(pool(hidden.float(), batch.attention_mask, "mean"))
            loss_fn(*embeddings).backward()
        else:
            rows = args.mini_batch if args.mode == "gradcache" else 0
            groups = [model.mini_batches(queries, "query", rows),
                      model.mini_batches(documents, "code", rows)]
            assert all(b.input_ids.shape[1] == args.tokens for g in groups for b in g)
            if rows:
                cached_backward(model, groups, loss_of, device, context)
            else:
                plain_backward(model, groups, loss_of, context)
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)

    loaded_kib = _status_kib("VmRSS")
    reset_peak = Path("/proc/self/clear_refs")
    reset_peak.write_text("5")  # VmHWM := VmRSS, so the peak below is the steps' own
    step()  # warm-up: allocator, kernels, optimizer state
    started = time.perf_counter()
    for _ in range(args.steps):
        step()
    seconds = (time.perf_counter() - started) / args.steps
    return {"mode": args.mode, "batch": args.batch,
            "mini_batch": args.mini_batch if args.mode == "gradcache" else args.batch,
            "tokens": args.tokens, "precision": args.precision,
            "step_s": seconds, "pairs_per_s": args.batch / seconds,
            "train_mib": (_status_kib("VmHWM") - loaded_kib) / 1024,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "threads": torch.get_num_threads()}


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def child(args, mode: str) -> dict:
    command = [sys.executable, __file__, "--mode", mode, "--batch", str(args.batch),
               "--mini-batch", str(args.mini_batch), "--tokens", str(args.tokens),
               "--steps", str(args.steps), "--threads", str(args.threads),
               "--precision", args.precision]
    done = subprocess.run(command, capture_output=True, text=True, check=True,
                          env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=32, help="pairs per optimizer step")
    parser.add_argument("--mini-batch", type=int, default=8, help="GradCache rows per forward")
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--steps", type=int, default=3, help="timed steps after one warm-up")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of every mode")
    parser.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto",
                        help="auto: bf16 autocast where the CPU has it natively, else fp32")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--json", action="store_true", help="also print every run as JSON")
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.precision == "auto":
        from codesearch.embed import bf16_supported

        args.precision = "bf16" if bf16_supported("cpu") else "fp32"
    if args.mode:
        print(json.dumps(run_mode(args)))
        return
    print(f"DualEncoder(all-MiniLM-L6-v2 x2), {args.precision}, {args.tokens} tokens per text, "
          f"batch {args.batch} pairs, GradCache mini-batch {args.mini_batch}, {args.steps} "
          f"timed steps per run, {args.repeats} rounds\n", flush=True)
    print("| round | bare pairs/s | plain pairs/s | GradCache pairs/s | plain / bare "
          "| GradCache / bare | GradCache / plain | step memory bare / plain / GradCache (MiB) "
          "| peak RSS bare / plain / GradCache (MiB) |")
    print("|---|---:|---:|---:|---:|---:|---:|---|---|", flush=True)
    ratios: dict[str, list[float]] = {"plain": [], "gradcache": [], "gc_plain": []}
    for index in range(1, args.repeats + 1):  # rows as they come: a long run shows progress
        runs = {mode: child(args, mode) for mode in MODES}
        if args.json:
            print(json.dumps(runs), flush=True)
        speed = {mode: runs[mode]["pairs_per_s"] for mode in MODES}
        ratios["plain"].append(speed["plain"] / speed["bare"])
        ratios["gradcache"].append(speed["gradcache"] / speed["bare"])
        ratios["gc_plain"].append(speed["gradcache"] / speed["plain"])
        step_memory = " / ".join(f"{runs[mode]['train_mib']:.0f}" for mode in MODES)
        rss = " / ".join(f"{runs[mode]['peak_rss_mib']:.0f}" for mode in MODES)
        print(f"| {index} | {speed['bare']:.2f} | {speed['plain']:.2f} | "
              f"{speed['gradcache']:.2f} | {ratios['plain'][-1]:.1%} | "
              f"{ratios['gradcache'][-1]:.1%} | {ratios['gc_plain'][-1]:.1%} | {step_memory} "
              f"| {rss} |", flush=True)
    median = {key: statistics.median(values) for key, values in ratios.items()}
    print(f"\nmedian ratios: plain / bare {median['plain']:.1%}, GradCache / bare "
          f"{median['gradcache']:.1%}, GradCache / plain {median['gc_plain']:.1%}")


if __name__ == "__main__":
    main()
