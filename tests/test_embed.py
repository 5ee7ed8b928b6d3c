"""embed.py: our encoder against a plain transformers reference, and its batching."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_tiny_bert
from hypothesis import given, settings
from hypothesis import strategies as st

from codesearch.embed import (
    DEFAULT_MODEL,
    Encoder,
    length_batches,
    padded_width,
    pool,
    read_model_info,
    resolve_model_path,
)
from codesearch.errors import UserError

TEXTS = [
    "def add(a, b):\n    return a + b",
    "retry an HTTP request with exponential backoff",
    "x",
    "SELECT name, email FROM users WHERE id = ? ORDER BY created_at DESC LIMIT 10",
    "class LruCache:\n    " + "\n    ".join(f"def method_{i}(self, key): return self.d[key]"
                                           for i in range(60)),   # longer than max_length
    "función que invierte una cadena de texto",  # non-ASCII
    "func BinarySearch(xs []int, target int) int {",
    "",
]


def reference_embeddings(model_dir: Path, texts: list[str], max_length: int = 256) -> np.ndarray:
    """Mean pooling the way the sentence-transformers model card does it."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    batch = tokenizer(texts, padding=True, truncation=True, max_length=max_length,
                      return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


@pytest.fixture(scope="module")
def reference(minilm_path) -> np.ndarray:
    return reference_embeddings(minilm_path, TEXTS)


@pytest.fixture(scope="module")
def ours(real_encoder) -> np.ndarray:
    return real_encoder.encode(TEXTS)


def row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(1)


def test_bundled_model_info(minilm_path):
    info = read_model_info(minilm_path)
    assert info.model_id.startswith(f"{DEFAULT_MODEL}@")
    assert (info.dim, info.pooling, info.max_length) == (384, "mean", 256)
    assert info.query_prefix == info.document_prefix == ""
    assert read_model_info(minilm_path).model_id == info.model_id  # stable
    for alias in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}", "bundled"):
        assert resolve_model_path(alias) == minilm_path


def test_fp32_matches_reference(ours, reference):
    assert ours.dtype == np.float32 and ours.shape == (len(TEXTS), 384)
    cos = row_cosines(ours, reference)
    assert cos.min() > 0.999, cos


def test_bf16_matches_reference(minilm_path, reference):
    encoder = Encoder(read_model_info(minilm_path), device="cpu", precision="bf16")
    cos = row_cosines(encoder.encode(TEXTS), reference)
    assert cos.min() > 0.99, cos


def test_unit_norm(ours):
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_order_preserved_under_length_sorting(real_encoder, reference, monkeypatch):
    # A small budget forces several length buckets, each sorted longest first.
    monkeypatch.setattr(real_encoder, "batch_tokens", 300)
    encoder = real_encoder
    shuffled = [7, 2, 4, 0, 5, 1, 6, 3]
    ours = encoder.encode([TEXTS[i] for i in shuffled])
    assert row_cosines(ours, reference[shuffled]).min() > 0.999
    single = np.stack([encoder.encode([t])[0] for t in TEXTS])
    assert row_cosines(single, reference).min() > 0.999


def test_truncation_at_max_length(real_encoder, minilm_path):
    long_text = TEXTS[4]
    ids = real_encoder.tokenizer(long_text)["input_ids"]
    assert len(ids) > 256
    truncated = real_encoder.tokenizer.decode(ids[1:255])
    a = real_encoder.encode([long_text, long_text + " and a different ending " * 40])
    assert float(a[0] @ a[1]) > 0.9999  # nothing past max_length reaches the model
    assert float(a[0] @ real_encoder.encode([truncated])[0]) > 0.99


def test_tokens_seen_counts_real_tokens(real_encoder):
    before = real_encoder.tokens_seen
    real_encoder.encode(["hello world", "x"])  # [CLS] hello world [SEP], [CLS] x [SEP]
    assert real_encoder.tokens_seen - before == 4 + 3


def test_torch_batches_pad_to_a_few_widths(tiny_model_dir):
    # oneDNN caches a compiled kernel per input shape: widths are multiples of WIDTH_STEP.
    from codesearch.embed import WIDTH_STEP

    encoder = Encoder(read_model_info(tiny_model_dir), device="cpu", precision="fp32")
    widths = []
    encoder.model.register_forward_pre_hook(
        lambda _m, _args, kwargs: widths.append(kwargs["input_ids"].shape[1]), with_kwargs=True)
    texts = [" ".join(["word"] * n) for n in (1, 5, 40, 77, 200)]
    vectors = encoder.encode(texts)
    assert widths and all(w % WIDTH_STEP == 0 for w in widths)
    # Padding changes nothing: each text alone, unpadded, gives the same vector.
    for text, vector in zip(texts, vectors, strict=True):
        with encoder._torch_mode():
            alone = encoder._forward(encoder.tokenizer([text])["input_ids"], step=1)[0]
        assert float(alone @ vector) > 0.9999
    assert encoder.tokens_seen == sum(n + 2 for n in (1, 5, 40, 77, 200)) * 2


def test_empty_input(real_encoder):
    out = real_encoder.encode([])
    assert out.shape == (0, 384) and out.dtype == np.float32


def test_query_and_document_prefixes(tmp_path: Path, minilm_path):
    model = make_tiny_bert(tmp_path / "prefixed", minilm_path,
                           manifest={"name": "prefixed", "query_prefix": "query: ",
                                     "document_prefix": "passage: ", "max_length": 64})
    info = read_model_info(model)
    assert info.model_id.startswith("prefixed@") and info.max_length == 64 and info.dim == 32
    encoder = Encoder(info, device="cpu", precision="fp32")
    q, d, plain_q, _ = encoder.encode(["query: find x", "passage: find x",
                                             "find x", "find x"])
    assert np.allclose(encoder.encode_queries(["find x"])[0], q, atol=1e-6)
    assert np.allclose(encoder.encode_documents(["find x"])[0], d, atol=1e-6)
    assert not np.allclose(q, plain_q, atol=1e-3)


def test_cls_pooling_from_sentence_transformers_config(tmp_path: Path, minilm_path):
    model = make_tiny_bert(tmp_path / "cls", minilm_path, pooling_cls=True)
    info = read_model_info(model)
    assert info.pooling == "cls"
    encoder = Encoder(info, device="cpu", precision="fp32")
    from transformers import AutoModel, AutoTokenizer

    tok, ref_model = AutoTokenizer.from_pretrained(model), AutoModel.from_pretrained(model)
    batch = tok(["a function", "parse a file into rows"], padding=True, return_tensors="pt")
    with torch.no_grad():
        cls = ref_model(**batch).last_hidden_state[:, 0]
    expected = torch.nn.functional.normalize(cls, dim=-1).numpy()
    assert row_cosines(encoder.encode(["a function", "parse a file into rows"]),
                       expected).min() > 0.9999


def test_model_identity_changes_with_weights_and_config(tmp_path: Path, minilm_path,
                                                        tiny_model_dir, other_tiny_model_dir):
    a = read_model_info(tiny_model_dir)
    b = read_model_info(other_tiny_model_dir)
    assert a.model_id != b.model_id
    wider = make_tiny_bert(tmp_path / tiny_model_dir.name, minilm_path, hidden=48)
    c = read_model_info(wider)
    assert c.dim == 48 and c.model_id != a.model_id  # same folder name, other config


def test_model_identity_changes_when_weights_are_replaced_in_place(tmp_path: Path, minilm_path):
    # A model re-exported (e.g. trained further) into the same folder has the same
    # architecture, so the same config and the same weight file size, but other vectors:
    # its id must change, or an index silently mixes vectors of two models.
    folder = tmp_path / "my-model"
    before = read_model_info(make_tiny_bert(folder, minilm_path, seed=0))
    after = read_model_info(make_tiny_bert(folder, minilm_path, seed=1))
    assert before.model_id != after.model_id


def test_max_length_capped_by_position_embeddings(tiny_model_dir):
    assert read_model_info(tiny_model_dir, max_length=4096).max_length == 512
    assert read_model_info(tiny_model_dir, max_length=100).max_length == 100


def test_pool_mean_ignores_padding():
    hidden = torch.tensor([[[1.0, 0.0], [3.0, 0.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    out = pool(hidden, mask, "mean")
    assert torch.allclose(out, torch.tensor([[1.0, 0.0]]))
    out = pool(torch.tensor([[[0.0, 2.0], [5.0, 5.0]]]), torch.tensor([[1, 1]]), "cls")
    assert torch.allclose(out, torch.tensor([[0.0, 1.0]]))


# ------------------------------------------------------------------ errors


def test_not_a_model_directory(tmp_path: Path):
    with pytest.raises(UserError, match="not a transformers model directory"):
        read_model_info(tmp_path)


def test_unknown_model_name():
    with pytest.raises(UserError, match="neither a directory nor in the local Hugging Face cache"):
        resolve_model_path("no-such-org/no-such-model-xyz")


def test_weights_missing(tmp_path: Path, tiny_model_dir):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((tiny_model_dir / "config.json").read_text())
    with pytest.raises(UserError, match="cannot load model"):
        Encoder(read_model_info(broken), device="cpu")


def test_unknown_precision(tiny_model_dir):
    with pytest.raises(UserError, match="unknown precision 'fp16'"):
        Encoder(read_model_info(tiny_model_dir), device="cpu", precision="fp16")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("device", ["cuda", "gpu"])
def test_unavailable_device_is_a_user_error(tiny_model_dir, device: str):
    with pytest.raises(UserError, match=device):
        Encoder(read_model_info(tiny_model_dir), device=device, precision="fp32")


# ------------------------------------------------------------------ batching


def test_length_batches_example():
    lengths = [10, 200, 30, 200, 12, 11, 31]
    batches = length_batches(lengths, batch_tokens=400)
    assert batches == [[1, 3], [6, 2, 4, 5, 0]]  # longest first: 200 200 | 31 30 12 11 10


def test_length_batches_oversized_item_alone():
    assert length_batches([1000, 5, 5], batch_tokens=100) == [[0], [1, 2]]


def test_length_batches_max_batch():
    batches = length_batches([3] * 10, batch_tokens=10_000, max_batch=4)
    assert [len(b) for b in batches] == [4, 4, 2]


def test_length_batches_empty():
    assert length_batches([], batch_tokens=100) == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 600), max_size=300), st.integers(1, 5000), st.integers(1, 64),
       st.sampled_from([1, 8, 32]))
def test_length_batches_respect_the_token_budget(lengths, budget, max_batch, step):
    batches = length_batches(lengths, budget, max_batch=max_batch, step=step)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))      # every index exactly once
    for batch in batches:
        assert 1 <= len(batch) <= max_batch
        width = padded_width(max(lengths[i] for i in batch), step)
        assert width % step == 0
        assert len(batch) * width <= budget or len(batch) == 1
    # Longest first overall: buckets hold similar lengths.
    assert [lengths[i] for i in flat] == sorted(lengths, reverse=True)


def test_model_manifest_dim_overrides_config(tmp_path: Path, minilm_path):
    model = make_tiny_bert(tmp_path / "m", minilm_path)
    (model / "codesearch_model.json").write_text(json.dumps({"dim": 32, "pooling": "mean"}))
    assert read_model_info(model).dim == 32


# ------------------------------------------------------- ONNX Runtime (runtime.py)


def test_onnx_export_matches_torch_and_spares_torch(minilm_path, reference, tmp_path,
                                                    monkeypatch):
    """An exported model encodes as torch does, and small inputs then never load torch."""
    from codesearch.runtime import onnx_path

    monkeypatch.setenv("CODESEARCH_CACHE", str(tmp_path / "cache"))
    info = read_model_info(minilm_path)
    fresh = Encoder(info, device="cpu", precision="fp32")
    assert not fresh.export_runtime()          # torch not loaded: nothing to export from
    fresh.encode(TEXTS[:1] * 300)               # large input: loads the torch model
    assert fresh._model is not None and fresh.export_runtime()
    assert onnx_path(info.model_id).is_file() and not fresh.export_runtime()  # once

    light = Encoder(info, device="cpu", precision="fp32")
    ours = light.encode(TEXTS)
    assert light._model is None, "a small input loaded torch despite the export"
    assert row_cosines(ours, reference).min() > 0.9999
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert light.tokens_seen == sum(len(x) for x in light.tokenizer(
        TEXTS, truncation=True, max_length=info.max_length)["input_ids"])


def test_onnx_export_with_cls_pooling(tmp_path, minilm_path, monkeypatch):
    monkeypatch.setenv("CODESEARCH_CACHE", str(tmp_path / "cache"))
    model = make_tiny_bert(tmp_path / "cls", minilm_path, pooling_cls=True)
    torch_side = Encoder(read_model_info(model), device="cpu", precision="fp32")
    expected = torch_side.encode(TEXTS * 40)[: len(TEXTS)]  # large: torch
    assert torch_side.export_runtime()
    light = Encoder(read_model_info(model), device="cpu", precision="fp32")
    assert row_cosines(light.encode(TEXTS), expected).min() > 0.9999
    assert light._model is None


def test_a_corrupt_export_falls_back_to_torch(tmp_path, tiny_model_dir, monkeypatch):
    from codesearch.runtime import onnx_path

    monkeypatch.setenv("CODESEARCH_CACHE", str(tmp_path / "cache"))
    info = read_model_info(tiny_model_dir)
    onnx_path(info.model_id).parent.mkdir(parents=True)
    onnx_path(info.model_id).write_bytes(b"not an onnx graph")
    encoder = Encoder(info, device="cpu", precision="fp32")
    assert encoder.encode(["hello"]).shape == (1, info.dim)
    assert encoder._model is not None  # torch answered

