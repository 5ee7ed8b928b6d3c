"""Training configuration: a TOML file read into frozen dataclasses.

Layout (trainer/configs/default.toml explains every key):

    data = "data/pairs"          # a `trainer mine` output directory
    out = "runs/NAME"            # checkpoints, logs, exported models
    [model]                      # ModelConfig
    [train]                      # defaults for every stage (StageConfig keys)
    [[stage]]                    # one table per stage, in order; overrides [train]

Unknown keys are errors: a typo must not silently train with a default.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codesearch.errors import UserError


@dataclass(frozen=True)
class ModelConfig:
    init: str = "all-MiniLM-L6-v2"  # text encoder checkpoint (a name or a directory)
    code_init: str = ""  # code encoder checkpoint; empty: the same as init
    shared: bool = False  # one encoder for both sides, told apart by the prefixes
    pooling: str = ""  # mean or cls; empty: what the init checkpoint says
    max_length: int = 128  # tokens per text during training and in the exported manifest
    query_prefix: str = ""
    document_prefix: str = ""
    name: str = "codesearch-dual"  # the exported model's name (codesearch_model.json)


@dataclass(frozen=True)
class StageConfig:
    name: str = "stage"
    loss: str = "infonce"  # infonce (cpt) or gte (GTE improved contrastive)
    steps: int = 1000
    batch_size: int = 256  # pairs per optimizer step (the M of the M x M logits)
    mini_batch: int = 32  # rows per forward under GradCache; 0: plain, whole batch at once
    lr: float = 2e-5
    weight_decay: float = 0.01
    warmup_steps: int = 100
    schedule: str = "cosine"  # cosine or linear decay to 0 after warmup
    grad_clip: float = 1.0  # max global grad norm; 0 disables
    # infonce: initial value (learned); gte: fixed value. 0: the loss's own default,
    # 0.05 for infonce (cpt) and 0.01 for gte (the GTE paper's).
    temperature: float = 0.0
    learn_temperature: bool = True  # infonce only
    temperature_lr: float = 1e-3  # its own learning rate: at lr 2e-5 it would never move
    hard_negatives: int = 0  # per pair, mined by the model that starts this stage
    negative_depth: int = 30  # nearest documents looked at when mining negatives
    negative_skip: int = 0  # nearest ranks skipped (likely unlabelled positives)


@dataclass(frozen=True)
class TrainConfig:
    data: Path
    out: Path
    model: ModelConfig = field(default_factory=ModelConfig)
    stages: tuple[StageConfig, ...] = ()
    seed: int = 0
    device: str = "auto"  # auto: cuda when present, else cpu
    # torch CPU threads; 0: torch's default (one per core). On a shared, busy machine 1 is
    # often several times faster: idle OpenMP threads spin on cores others are using.
    threads: int = 0
    # autocast to bfloat16 (CPU and CUDA); master weights stay fp32. "auto": on where the
    # hardware has bf16 (CUDA, or a CPU with AVX512-BF16/AMX); elsewhere it is emulated and
    # several times slower than fp32.
    bf16: bool | str = "auto"
    alpha: float = 0.5  # source sampling: p_i proportional to n_i ** alpha
    eval_every: int = 200
    checkpoint_every: int = 200
    eval_pool: int = 1000  # candidates per query, as CodeSearchNet
    eval_max_pairs: int = 5000  # per kind; held-out pairs evaluated during training
    eval_batch_tokens: int = 16384


def load_config(path: Path, **overrides: Any) -> TrainConfig:
    """Read a TOML config; `overrides` (None values ignored) replace top-level keys."""
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise UserError(f"cannot read config {path}: {err}") from err
    return parse_config(raw, **overrides)


def parse_config(raw: dict[str, Any], **overrides: Any) -> TrainConfig:
    raw = dict(raw)
    model = _build(ModelConfig, raw.pop("model", {}), "[model]")
    defaults = raw.pop("train", {})
    stage_tables = raw.pop("stage", [])
    if not stage_tables:
        raise UserError("the config has no [[stage]] table: nothing to train")
    stages = tuple(_build(StageConfig, {**defaults, **table}, f"[[stage]] {index + 1}")
                   for index, table in enumerate(stage_tables))
    names = [stage.name for stage in stages]
    if len(set(names)) != len(names):
        raise UserError(f"stage names must be unique (they name output folders): {names}")
    raw.update({key: value for key, value in overrides.items() if value is not None})
    for key in ("data", "out"):
        if key not in raw:
            raise UserError(f"the config needs a top-level '{key}' path")
        raw[key] = Path(raw[key]).expanduser()
    config = _build(TrainConfig, {**raw, "model": model, "stages": stages}, "top level")
    if config.bf16 not in (True, False, "auto"):
        raise UserError(f"bf16 = {config.bf16!r}: use true, false or \"auto\"")
    for stage in stages:
        if stage.loss not in ("infonce", "gte"):
            raise UserError(f"stage {stage.name}: unknown loss '{stage.loss}' (infonce or gte)")
        if stage.schedule not in ("cosine", "linear"):
            raise UserError(f"stage {stage.name}: unknown schedule '{stage.schedule}'")
    return config


def _build(cls: type, values: dict[str, Any], where: str):
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise UserError(f"unknown key(s) in {where}: {', '.join(unknown)}")
    return cls(**values)
