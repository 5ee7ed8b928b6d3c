"""The dual encoder: a text tower for queries and prose, a code tower for code.

cpt-text/cpt-code (Neelakantan et al. 2022) train separate encoders per modality, each
initialised from a pretrained model. With `shared = true` both towers are one module
and the query/document prefixes tell the two sides apart instead.

Roles say which tower and prefix a text gets:
    query -> text tower, query prefix       (docstring summaries, headings, search queries)
    text  -> text tower, document prefix    (prose documents)
    code  -> code tower, document prefix    (code documents)
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from codesearch.embed import (
    MANIFEST_NAME,
    length_batches,
    pool,
    quiet_offline_transformers,
    read_model_info,
    resolve_model_path,
)
from codesearch.errors import UserError
from trainer.config import ModelConfig

ROLES = ("query", "text", "code")


@dataclass(frozen=True)
class EncoderSpec:
    pooling: str
    max_length: int
    shared: bool
    query_prefix: str = ""
    document_prefix: str = ""


@dataclass(frozen=True)
class Encoded:
    """One tokenised, padded mini-batch for one tower."""

    tower: str  # "text" or "code"
    input_ids: torch.Tensor
    attention_mask: torch.Tensor

    def __len__(self) -> int:
        return len(self.input_ids)

    def to(self, device: str | torch.device) -> Encoded:
        return Encoded(self.tower, self.input_ids.to(device), self.attention_mask.to(device))


def autocast(device: str | torch.device, bf16: bool) -> contextlib.AbstractContextManager:
    device_type = "cuda" if str(device).startswith("cuda") else "cpu"
    return torch.autocast(device_type, dtype=torch.bfloat16, enabled=bf16)


class DualEncoder(nn.Module):
    def __init__(self, text_model: nn.Module, code_model: nn.Module, text_tokenizer,
                 code_tokenizer, spec: EncoderSpec) -> None:
        super().__init__()
        self.text_encoder = text_model
        self.code_encoder = code_model  # the same module as text_encoder when shared
        self.tokenizers = {"text": text_tokenizer, "code": code_tokenizer}
        self.spec = spec

    # ------------------------------------------------------------------ loading

    @classmethod
    def from_config(cls, config: ModelConfig) -> DualEncoder:
        """Fresh towers from the init checkpoint(s), or an exported dual model's towers."""
        text_dir, code_dir = _tower_dirs(resolve_model_path(config.init))
        if config.code_init:
            code_dir = _tower_dirs(resolve_model_path(config.code_init))[1]
        info = read_model_info(text_dir)
        spec = EncoderSpec(pooling=config.pooling or info.pooling, max_length=config.max_length,
                           shared=config.shared, query_prefix=config.query_prefix,
                           document_prefix=config.document_prefix)
        return cls._open(text_dir, text_dir if config.shared else code_dir, spec)

    @classmethod
    def load(cls, name: str, max_length: int | None = None) -> DualEncoder:
        """An exported model directory, or any single encoder (then shared, as the base)."""
        path = resolve_model_path(name)
        text_dir, code_dir = _tower_dirs(path)
        info = read_model_info(path, max_length)
        spec = EncoderSpec(pooling=info.pooling, max_length=info.max_length,
                           shared=text_dir == code_dir, query_prefix=info.query_prefix,
                           document_prefix=info.document_prefix)
        return cls._open(text_dir, code_dir, spec)

    @classmethod
    def _open(cls, text_dir: Path, code_dir: Path, spec: EncoderSpec) -> DualEncoder:
        quiet_offline_transformers()
        from transformers import AutoModel, AutoTokenizer

        def tower(folder: Path):
            try:
                # fp32 master weights whatever the checkpoint holds; bf16 is autocast's job.
                model = AutoModel.from_pretrained(folder, local_files_only=True,
                                                  dtype=torch.float32)
                tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            except (OSError, ValueError) as err:
                raise UserError(f"cannot load a model from {folder}: {err}".splitlines()[0]) from err
            return model, tokenizer

        text_model, text_tokenizer = tower(text_dir)
        if spec.shared:
            return cls(text_model, text_model, text_tokenizer, text_tokenizer, spec)
        code_model, code_tokenizer = tower(code_dir)
        return cls(text_model, code_model, text_tokenizer, code_tokenizer, spec)

    # ------------------------------------------------------------------ encoding

    @property
    def dim(self) -> int:
        return int(self.text_encoder.config.hidden_size)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def tower(self, name: str) -> nn.Module:
        return self.code_encoder if name == "code" else self.text_encoder

    def tokenize(self, texts: list[str], role: str) -> list[list[int]]:
        """Token ids (unpadded, truncated at max_length) of texts in a role."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        prefix = self.spec.query_prefix if role == "query" else self.spec.document_prefix
        tower = "code" if role == "code" else "text"
        return self.tokenizers[tower]([prefix + t for t in texts], truncation=True,
                                      max_length=self.spec.max_length)["input_ids"]

    def pad(self, ids: list[list[int]], role: str) -> Encoded:
        tower = "code" if role == "code" else "text"
        pad_id = self.tokenizers[tower].pad_token_id or 0
        width = max(len(row) for row in ids)
        input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for row, seq in enumerate(ids):
            input_ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
            mask[row, : len(seq)] = 1
        return Encoded(tower, input_ids, mask)

    def mini_batches(self, texts: list[str], role: str, rows: int) -> list[Encoded]:
        """Texts in order, tokenised and cut into padded mini-batches of `rows` (0: one)."""
        ids = self.tokenize(texts, role)
        rows = rows or len(ids)
        return [self.pad(ids[i : i + rows], role) for i in range(0, len(ids), rows)]

    def forward(self, batch: Encoded) -> torch.Tensor:
        """(rows, dim) float32 unit vectors, pooled as the indexer pools."""
        batch = batch.to(self.device)
        hidden = self.tower(batch.tower)(input_ids=batch.input_ids,
                                         attention_mask=batch.attention_mask).last_hidden_state
        return pool(hidden.float(), batch.attention_mask, self.spec.pooling)

    @torch.inference_mode()
    def encode(self, texts: list[str], role: str, batch_tokens: int = 16384,
               bf16: bool = False) -> torch.Tensor:
        """(len(texts), dim) unit vectors on the CPU, in input order; for evaluation."""
        out = torch.zeros((len(texts), self.dim))
        if not texts:
            return out
        ids = self.tokenize(texts, role)
        with autocast(self.device, bf16):
            for rows in length_batches([len(x) for x in ids], batch_tokens):
                out[rows] = self(self.pad([ids[i] for i in rows], role)).cpu()
        return out


def _tower_dirs(path: Path) -> tuple[Path, Path]:
    """(text tower, code tower) folders: from an exported manifest, else both `path`."""
    try:
        manifest = json.loads((path / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        manifest = {}
    text = (path / manifest.get("text_encoder", ".")).resolve()
    code = (path / manifest.get("code_encoder", ".")).resolve()
    return text, code
