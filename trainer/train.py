"""The training loop. Reads top to bottom, as nanoGPT's train.py does.

For each stage of the config (e.g. cpt-style pre-training on mined pairs, then GTE-style
fine-tuning with hard negatives): set up data, model, loss, optimizer and schedule,
resume from the stage's checkpoint if there is one, then loop — sample a one-source
batch, embed it with GradCache, step, log, evaluate, checkpoint — and export the model.

Output, per stage, under OUT/STAGE/: checkpoint.pt (latest, for resuming), log.jsonl
(one line per step and per evaluation), negatives.json (stage 2), best/ and final/
(exported model directories). A finished stage is skipped on a re-run, and the next
stage starts from its best/ model.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import time
from pathlib import Path

import torch
from tqdm import tqdm

from codesearch.embed import MANIFEST_NAME, bf16_supported
from trainer.checkpoint import load_checkpoint, save_checkpoint
from trainer.config import StageConfig, TrainConfig
from trainer.data import SourceSampler, read_pairs
from trainer.evaluate import evaluate, headline
from trainer.export import export_model
from trainer.gradcache import cached_backward, plain_backward
from trainer.losses import GTEContrastiveLoss, SymmetricInfoNCE
from trainer.model import DualEncoder, autocast
from trainer.negatives import batch_negatives, load_or_mine
from trainer.optim import make_optimizer, make_scheduler


def pick_device(device: str) -> torch.device:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


def train(config: TrainConfig, stop_after: int = 0, progress: bool = True) -> Path | None:
    """Run every stage; returns the last stage's best model directory, or None when
    `stop_after` (optimizer steps in this call's current stage) stopped it early."""
    if config.threads:
        torch.set_num_threads(config.threads)
    if config.bf16 == "auto":
        config = dataclasses.replace(config, bf16=bf16_supported(str(pick_device(config.device))))
    init = config.model.init
    result: Path | None = None
    for stage in config.stages:
        result = run_stage(config, stage, init, stop_after, progress)
        if result is None:
            return None
        init = str(result)
    return result


def stage_result(folder: Path) -> Path | None:
    for name in ("best", "final"):
        if (folder / name / MANIFEST_NAME).exists():
            return folder / name
    return None


def run_stage(config: TrainConfig, stage: StageConfig, init: str, stop_after: int = 0,
              progress: bool = True) -> Path | None:
    out = config.out / stage.name
    if (out / "final" / MANIFEST_NAME).exists():
        return stage_result(out)  # finished by an earlier run
    out.mkdir(parents=True, exist_ok=True)
    device = pick_device(config.device)
    torch.manual_seed(config.seed)

    # -------------------------------------------------------------- data
    train_pairs = read_pairs(config.data, "train")
    eval_pairs = read_pairs(config.data, "eval")
    sampler = SourceSampler(train_pairs, stage.batch_size, config.alpha, config.seed)

    # -------------------------------------------------------------- model and loss
    model_config = dataclasses.replace(config.model, init=init)
    if init != config.model.init:  # a previous stage's export holds both towers
        model_config = dataclasses.replace(model_config, code_init="")
    model = DualEncoder.from_config(model_config).to(device).train()
    if stage.loss == "infonce":
        loss_fn = SymmetricInfoNCE(stage.temperature or 0.05,
                                   learn_temperature=stage.learn_temperature)
    else:
        loss_fn = GTEContrastiveLoss(stage.temperature or 0.01)
    loss_fn.to(device)

    def loss_of(embeddings: list[torch.Tensor]) -> torch.Tensor:
        return loss_fn(*embeddings)  # queries, documents[, hard negatives]
    negatives = None
    if stage.hard_negatives:  # mined by the model this stage starts from, before any step
        negatives = load_or_mine(out / "negatives.json", model, train_pairs, stage.hard_negatives,
                                 depth=stage.negative_depth, skip=stage.negative_skip,
                                 batch_tokens=config.eval_batch_tokens, bf16=config.bf16)

    # -------------------------------------------------------------- optimizer and schedule
    optimizer = make_optimizer(model, loss_fn, stage)
    scheduler = make_scheduler(optimizer, stage)
    parameters = [p for group in optimizer.param_groups for p in group["params"]]

    # -------------------------------------------------------------- resume
    step, best = 0, -math.inf
    checkpoint = out / "checkpoint.pt"
    if checkpoint.exists():
        step, best = load_checkpoint(checkpoint, model=model, loss_fn=loss_fn,
                                     optimizer=optimizer, scheduler=scheduler, sampler=sampler)
    log = _open_log(out / "log.jsonl", keep_until=step)

    latest: dict = {}  # the last evaluation: {"step": ..., "metrics": ...}

    def evaluate_now() -> dict[str, float]:
        metrics = evaluate(model, eval_pairs, config.eval_pool, config.eval_max_pairs,
                           config.eval_batch_tokens, config.bf16, config.seed)
        _write(log, {"stage": stage.name, "step": step, "eval": metrics})
        latest.update(step=step, metrics=metrics)
        return metrics

    def export(name: str, metrics: dict[str, float]) -> Path:
        figures = {**metrics, "step": step, "stage": stage.name, "data": str(config.data)}
        return export_model(model, out / name, config.model.name, figures,
                            extra={"trained_from": config.model.init})

    if step == 0 and eval_pairs:  # the starting point, and the first "best"
        metrics = evaluate_now()
        best = headline(metrics)
        export("best", metrics)

    # -------------------------------------------------------------- the loop
    embed_context = functools.partial(autocast, device, config.bf16)
    bar = tqdm(total=stage.steps, initial=step, desc=stage.name, unit="step",
               disable=not progress, dynamic_ncols=True)
    steps_this_run = 0
    while step < stage.steps:
        started = time.perf_counter()
        batch = sampler.next_batch()
        pairs = [train_pairs[i] for i in batch.indices]
        groups = [model.mini_batches([p.query for p in pairs], "query", stage.mini_batch),
                  model.mini_batches([p.document for p in pairs], batch.kind, stage.mini_batch)]
        hard = batch_negatives(negatives, batch.indices, train_pairs) if negatives else []
        if hard:
            texts = [train_pairs[i].document for i in hard]
            groups.append(model.mini_batches(texts, batch.kind, stage.mini_batch))

        if stage.mini_batch:
            loss = cached_backward(model, groups, loss_of, device, embed_context)
        else:
            loss = plain_backward(model, groups, loss_of, embed_context)
        grad_norm = torch.nn.utils.clip_grad_norm_(parameters, stage.grad_clip or math.inf)
        lr = optimizer.param_groups[0]["lr"]  # this step's; the scheduler moves it next
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        steps_this_run += 1

        seconds = time.perf_counter() - started
        record = {"stage": stage.name, "step": step, "loss": float(loss),
                  "lr": lr, "temperature": loss_fn.temperature,
                  "grad_norm": float(grad_norm), "batch": len(pairs),
                  "negatives": sum(len(b) for b in groups[2]) if len(groups) > 2 else 0,
                  "stream": batch.stream, "pairs_per_s": len(pairs) / seconds}
        _write(log, record)
        bar.update(1)
        bar.set_postfix(loss=f"{record['loss']:.4f}", pairs_s=f"{record['pairs_per_s']:.1f}",
                        temp=f"{record['temperature']:.4f}")

        if eval_pairs and (step % config.eval_every == 0 or step == stage.steps):
            metrics = evaluate_now()
            if headline(metrics) > best:
                best = headline(metrics)
                export("best", metrics)
        stopping = bool(stop_after) and steps_this_run >= stop_after
        if step % config.checkpoint_every == 0 or step == stage.steps or stopping:
            save_checkpoint(checkpoint, step=step, best=best, model=model, loss_fn=loss_fn,
                            optimizer=optimizer, scheduler=scheduler, sampler=sampler,
                            model_config=model_config)
        if stopping and step < stage.steps:
            bar.close()
            log.close()
            return None
    bar.close()

    # -------------------------------------------------------------- export
    final_metrics = latest.get("metrics", {})
    if eval_pairs and latest.get("step") != step:  # resumed right at the end
        final_metrics = evaluate_now()
    export("final", final_metrics)
    log.close()
    return stage_result(out)


def _open_log(path: Path, keep_until: int):
    """The stage's JSONL log, without lines past the checkpoint we resume from (a crash
    after the checkpoint logged steps that are about to be redone)."""
    kept: list[str] = []
    if path.exists() and keep_until:
        kept = [line for line in path.read_text().splitlines()
                if line.strip() and json.loads(line)["step"] <= keep_until]
    path.write_text("".join(line + "\n" for line in kept))
    return path.open("a", encoding="utf-8")


def _write(log, record: dict) -> None:
    log.write(json.dumps(record) + "\n")
    log.flush()
