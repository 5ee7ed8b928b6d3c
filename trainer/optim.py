"""AdamW with the usual decay groups, and linear warmup then cosine or linear decay."""

from __future__ import annotations

import math

import torch
from torch import nn

from trainer.config import StageConfig


def make_optimizer(model: nn.Module, loss_fn: nn.Module, stage: StageConfig) -> torch.optim.AdamW:
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():  # shared towers are listed once
        if not parameter.requires_grad:
            continue
        # Biases and LayerNorm weights are not decayed (BERT, GPT-2 practice).
        is_norm = parameter.ndim < 2 or "LayerNorm" in name or "norm" in name.lower()
        (no_decay if is_norm else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": stage.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    loss_parameters = [p for p in loss_fn.parameters() if p.requires_grad]
    if loss_parameters:  # the learned temperature, on its own learning rate
        groups.append({"params": loss_parameters, "weight_decay": 0.0, "lr": stage.temperature_lr})
    return torch.optim.AdamW(groups, lr=stage.lr)


def lr_factor(step: int, warmup: int, total: int, schedule: str) -> float:
    """Multiplier of the base learning rate before optimizer step `step` (0-based)."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    if schedule == "linear":
        return 1.0 - progress
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def make_scheduler(optimizer: torch.optim.Optimizer, stage: StageConfig):
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, stage.warmup_steps, stage.steps, stage.schedule))
