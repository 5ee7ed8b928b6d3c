"""The encoder under ONNX Runtime: queries and small re-indexes without torch.

A cold `codesearch search` pays for imports, not arithmetic: on our 2-core machines
importing torch takes 1-3 s and transformers' AutoModel 2-4 s more, while encoding one
query takes milliseconds. So an index run, which has the torch model loaded anyway,
exports it once to ONNX (torch.onnx, a few seconds) into the cache, keyed by model id.
After that, small encode calls on the CPU (a query, one edited file's chunks) run that
graph with ONNX Runtime, and texts are tokenized by the Rust `tokenizers` library that
transformers' fast tokenizers wrap: neither torch nor transformers is imported.
Large inputs (a full index) stay on torch, with bf16 where the CPU has it.
"""

from __future__ import annotations

import os
import re
import threading
import warnings
from pathlib import Path

import numpy as np

# Real tokens up to which an encode call runs in ONNX Runtime when torch is not
# loaded yet: about 8 chunks, well under the seconds that loading torch would cost.
SMALL_INPUT_TOKENS = 2048
_ONNX_INPUTS = ("input_ids", "attention_mask")


def cache_dir() -> Path:
    """$CODESEARCH_CACHE, else $XDG_CACHE_HOME/codesearch, else ~/.cache/codesearch."""
    if os.environ.get("CODESEARCH_CACHE"):
        return Path(os.environ["CODESEARCH_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "codesearch"


def onnx_path(model_id: str) -> Path:
    """Where the ONNX export of a model lives (model ids carry a weights fingerprint)."""
    return cache_dir() / "onnx" / (re.sub(r"[^\w.@-]+", "_", model_id) + ".onnx")


class FastTokenizer:
    """What Encoder asks of a transformers fast tokenizer, straight from `tokenizers`."""

    def __init__(self, path: Path):
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_file(str(path / "tokenizer.json"))
        # tokenizer.json may carry the exporter's padding and truncation; we do our own.
        self._tok.no_padding()
        self._lock = threading.Lock()  # truncation is tokenizer state
        pad = self._tok.token_to_id("[PAD]")
        self.pad_token_id = 0 if pad is None else pad

    def __call__(self, texts: str | list[str], add_special_tokens: bool = True,
                 truncation: bool = False, max_length: int | None = None) -> dict:
        single = isinstance(texts, str)
        with self._lock:
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


def load_tokenizer(path: Path):
    """The fast path when the model has a tokenizer.json, else transformers' AutoTokenizer."""
    if (path / "tokenizer.json").is_file():
        return FastTokenizer(path)
    from transformers import AutoTokenizer

    from codesearch.embed import quiet_offline_transformers

    quiet_offline_transformers()
    return AutoTokenizer.from_pretrained(str(path), local_files_only=True)


def export(model, path: Path) -> None:
    """Write a transformers encoder's last hidden state as an ONNX graph (atomically)."""
    import copy

    import torch

    class LastHidden(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.partial")
    example = torch.ones((2, 8), dtype=torch.long)
    axes = {"batch": 0, "tokens": 1}
    dynamic = {name: {i: n for n, i in axes.items()}
               for name in (*_ONNX_INPUTS, "last_hidden_state")}
    on_cpu = all(p.device.type == "cpu" for p in model.parameters())
    model = model if on_cpu else copy.deepcopy(model).cpu()  # leave a GPU model where it is
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            # The TorchScript exporter: seconds where the dynamo one takes tens of them.
            torch.onnx.export(LastHidden(model).eval(), (example, example),
                              str(partial), input_names=list(_ONNX_INPUTS),
                              output_names=["last_hidden_state"], dynamic_axes=dynamic,
                              dynamo=False, opset_version=17)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


class OnnxEncoder:
    """An exported model in ONNX Runtime: token ids in, last hidden states out."""

    def __init__(self, path: Path):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only: its warnings are not ours to show
        self.session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"])

    @classmethod
    def open(cls, model_id: str) -> OnnxEncoder | None:
        """The model's export, or None when there is none (or it cannot be read)."""
        path = onnx_path(model_id)
        if not path.is_file():
            return None
        try:
            return cls(path)
        except Exception:  # a truncated or foreign file: torch will do
            return None

    def hidden(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """(batch, tokens) int64 ids and mask -> (batch, tokens, hidden) float32."""
        return self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
