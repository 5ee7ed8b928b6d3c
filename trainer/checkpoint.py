"""Checkpoints that resume exactly: model, loss, optimizer, schedule, sampler and RNGs.

Written to a temporary file and renamed, so a crash mid-write leaves the previous one.
"""

from __future__ import annotations

import os
import random
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from trainer.config import ModelConfig
from trainer.data import SourceSampler


def save_checkpoint(path: Path, *, step: int, best: float, model: nn.Module, loss_fn: nn.Module,
                    optimizer: torch.optim.Optimizer, scheduler, sampler: SourceSampler,
                    model_config: ModelConfig) -> None:
    state = {
        "step": step,
        "best": best,
        "model": model.state_dict(),
        "loss": loss_fn.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "sampler": sampler.state_dict(),
        "model_config": asdict(model_config),  # lets `trainer export` rebuild the model
        "rng": {
            "python": random.getstate(),
            "numpy": np.random.get_state(),
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        },
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path, *, model: nn.Module, loss_fn: nn.Module,
                    optimizer: torch.optim.Optimizer, scheduler,
                    sampler: SourceSampler) -> tuple[int, float]:
    """Restore everything in place; returns (step, best headline metric)."""
    state = read_checkpoint(path)
    model.load_state_dict(state["model"])
    loss_fn.load_state_dict(state["loss"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    sampler.load_state_dict(state["sampler"])
    rng = state["rng"]
    random.setstate(rng["python"])
    np.random.set_state(rng["numpy"])
    torch.set_rng_state(rng["torch"])
    if rng["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    return state["step"], state["best"]


def read_checkpoint(path: Path) -> dict:
    # Our own file, holding Python and numpy RNG states: not a weights-only pickle.
    return torch.load(path, map_location="cpu", weights_only=False)
