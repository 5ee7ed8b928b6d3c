"""Load a BERT encoder without transformers, and run small inputs without torch.

Two costs dominate a cold `codesearch search` on a 2-core CPU, and neither is the
model's arithmetic: importing transformers (2-4 s: it pulls in torch.distributed,
sympy, dynamo) and importing torch (~1 s). So, for plain BERT models (MiniLM, the
bundled default, and what the trainer exports):
- the tokenizer is the Rust `tokenizers` one transformers wraps anyway (tokenizer.json);
- the torch model is our own BertModel twin (bert_torch.py), loaded from model.safetensors;
- small inputs (a query, one edited file's chunks) run through `NumpyBert`, the same
  weights in fp32 numpy: milliseconds of arithmetic, and torch is never imported.
Anything else (another architecture, no tokenizer.json or safetensors, unknown
weight names) goes through transformers as before. tests/test_embed.py checks every
path against transformers' own BertModel.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np

# Real tokens up to which an encode call runs in numpy: about 8 chunks, well under
# the ~1 s that importing torch and loading the model would cost on its own.
NUMPY_MAX_TOKENS = 2048


class FastTokenizer:
    """The slice of a transformers fast tokenizer that Encoder uses, on `tokenizers`."""

    def __init__(self, path: Path):
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_file(str(path / "tokenizer.json"))
        # tokenizer.json may carry the exporter's padding/truncation; we pad ourselves.
        self._tok.no_padding()
        self._tok.no_truncation()
        pad = self._tok.token_to_id("[PAD]")
        self.pad_token_id = 0 if pad is None else pad

    def __call__(self, texts, add_special_tokens: bool = True, truncation: bool = False,
                 max_length: int | None = None) -> dict:
        single = isinstance(texts, str)
        if truncation and max_length:
            self._tok.enable_truncation(max_length)
        else:
            self._tok.no_truncation()
        encoded = self._tok.encode_batch([texts] if single else list(texts),
                                         add_special_tokens=add_special_tokens)
        ids = [e.ids for e in encoded]
        return {"input_ids": ids[0] if single else ids}

    def decode(self, ids: list[int]) -> str:
        return self._tok.decode(ids)


def plain_bert(path: Path) -> dict | None:
    """config.json when the model is a BERT encoder we can run ourselves, else None."""
    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return None
    if (config.get("model_type") == "bert" and config.get("hidden_act", "gelu") == "gelu"
            and config.get("position_embedding_type", "absolute") == "absolute"
            and not config.get("is_decoder", False) and (path / "model.safetensors").is_file()):
        return config
    return None


def bert_state(path: Path, framework: str) -> dict:
    """model.safetensors as BertModel parameter names (no `bert.` prefix, no pooler)."""
    from safetensors import safe_open

    state = {}
    with safe_open(str(path / "model.safetensors"), framework=framework) as f:
        for key in f.keys():  # noqa: SIM118 (safe_open is not a mapping)
            name = key[5:] if key.startswith("bert.") else key
            if not name.startswith("pooler.") and not name.endswith("position_ids"):
                state[name] = f.get_tensor(key)
    return state


class NumpyBert:
    """BERT's forward in fp32 numpy, one text at a time (no padding at all)."""

    def __init__(self, config: dict, state: dict[str, np.ndarray]):
        self.heads = config["num_attention_heads"]
        self.eps = config.get("layer_norm_eps", 1e-12)
        self.layers = config["num_hidden_layers"]
        self.w = {k: v.astype(np.float32) for k, v in state.items()}
        for i in range(self.layers):  # one matmul for q, k and v
            p = f"encoder.layer.{i}.attention.self."
            self.w[p + "qkv.weight"] = np.concatenate(
                [self.w[p + n + ".weight"] for n in ("query", "key", "value")]).T.copy()
            self.w[p + "qkv.bias"] = np.concatenate([self.w[p + n + ".bias"]
                                                     for n in ("query", "key", "value")])

    @classmethod
    def load(cls, path: Path) -> NumpyBert | None:
        config = plain_bert(path)
        if config is None:
            return None
        state = bert_state(path, "numpy")
        needed = ["embeddings.word_embeddings.weight", "embeddings.LayerNorm.weight"]
        needed += [f"encoder.layer.{i}.output.dense.weight"
                   for i in range(config["num_hidden_layers"])]
        return cls(config, state) if all(k in state for k in needed) else None

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self.w[name + ".weight"].T + self.w[name + ".bias"]

    def _norm(self, x: np.ndarray, name: str) -> np.ndarray:
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + self.eps) * self.w[name + ".weight"] + self.w[name + ".bias"]

    def hidden(self, ids: list[int]) -> np.ndarray:
        """(len(ids), hidden) last hidden states of one unpadded sequence."""
        with _one_blas_thread():
            return self._hidden(ids)

    def _hidden(self, ids: list[int]) -> np.ndarray:
        w, n = self.w, len(ids)
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][:n]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = self._norm(x, "embeddings.LayerNorm")
        d = x.shape[1]
        h = self.heads
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            qkv = x @ w[p + "attention.self.qkv.weight"] + w[p + "attention.self.qkv.bias"]
            q, k, v = (qkv[:, j * d:(j + 1) * d].reshape(n, h, d // h).transpose(1, 0, 2)
                       for j in range(3))
            scores = q @ k.transpose(0, 2, 1) / np.sqrt(d // h)
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            ctx = (scores / scores.sum(-1, keepdims=True)) @ v
            ctx = ctx.transpose(1, 0, 2).reshape(n, d)
            x = self._norm(self._linear(ctx, p + "attention.output.dense") + x,
                           p + "attention.output.LayerNorm")
            inner = _gelu(self._linear(x, p + "intermediate.dense"))
            x = self._norm(self._linear(inner, p + "output.dense") + x, p + "output.LayerNorm")
        return x


_BLAS = None


def _one_blas_thread():
    """Matrices this small finish before BLAS threads wake: with them, a query took
    40 ms per matmul on a loaded 2-core machine, 0.5 ms on one thread."""
    global _BLAS
    if _BLAS is None:
        try:
            from threadpoolctl import ThreadpoolController

            _BLAS = ThreadpoolController()
        except ImportError:  # optional: without it numpy keeps its default threads
            _BLAS = False
    return _BLAS.limit(limits=1, user_api="blas") if _BLAS else contextlib.nullcontext()


def _gelu(x: np.ndarray) -> np.ndarray:
    # Exact (erf) GELU as BERT uses. numpy has no erf: Abramowitz-Stegun 7.1.26,
    # |error| < 1.5e-7, below fp32 resolution of the activations.
    z = np.abs(x) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741
                                                       + t * (-1.453152027 + t * 1.061405429))))
    erf = np.sign(x) * (1.0 - poly * np.exp(-z * z))
    return 0.5 * x * (1.0 + erf)


def load_tokenizer(path: Path):
    if (path / "tokenizer.json").is_file():
        return FastTokenizer(path)
    from transformers import AutoTokenizer

    from codesearch.embed import _quiet_offline_transformers

    _quiet_offline_transformers()
    return AutoTokenizer.from_pretrained(str(path), local_files_only=True)


def load_torch_model(path: Path):
    if plain_bert(path) is not None:
        from codesearch.bert_torch import BertEncoder

        model = BertEncoder(plain_bert(path))
        missing, unexpected = model.load_state_dict(bert_state(path, "pt"), strict=False)
        if not missing and not unexpected:
            return model.float()
    from transformers import AutoModel

    from codesearch.embed import _quiet_offline_transformers

    _quiet_offline_transformers()
    return AutoModel.from_pretrained(str(path), local_files_only=True)
