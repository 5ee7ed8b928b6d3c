"""A trained dual encoder in the product: the indexer embeds code with the code tower and
prose with the text tower, search encodes queries with the text tower, prefixes applied.

Two tiny random towers (different weights, so any mix-up shows), exported by the trainer's
own export, index the shared fixture repository (code in six languages plus Markdown);
the vectors read back from Qdrant are compared with each tower's own encoding."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import tiny_config

from codesearch.chunk import chunk_file
from codesearch.embed import Embedder, read_model_info
from codesearch.errors import UserError
from codesearch.indexer import Indexer
from codesearch.languages import DOC_LANGUAGES
from codesearch.locate import open_store
from codesearch.search import Searcher
from codesearch.walk import read_source, walk
from trainer.config import ModelConfig
from trainer.export import export_model
from trainer.model import DualEncoder


@pytest.fixture(scope="module")
def dual_dir(tmp_path_factory, tiny_model_dir, other_tiny_model_dir):
    config = ModelConfig(init=str(other_tiny_model_dir), code_init=str(tiny_model_dir),
                         max_length=64, query_prefix="query: ", document_prefix="passage: ")
    model = DualEncoder.from_config(config).eval()
    return export_model(model, tmp_path_factory.mktemp("models") / "dual", "tiny-dual")


def _chunks_by_hash(root, config):
    chunks = {}
    for file in walk(root).files:
        text, _ = read_source(file)
        if text is not None:
            for chunk in chunk_file(file.path, text, file.language,
                                    config.index.chunk_tokens).chunks:
                chunks[chunk.content_hash] = chunk
    return chunks


def test_dual_model_indexes_code_and_prose_with_their_towers(fixture_repo, dual_dir,
                                                             tiny_model_dir):
    info = read_model_info(dual_dir)
    assert info.path == str(dual_dir) and info.text_path == str(dual_dir / "text_encoder")
    assert info.text_id and info.model_id.startswith("tiny-dual@")
    assert (info.query_prefix, info.document_prefix) == ("query: ", "passage: ")

    config = tiny_config(dual_dir)
    config.model.max_length = 64  # as trained (the index config's 256 would win otherwise)
    summary = Indexer(fixture_repo, config).run()
    assert summary.chunks_embedded > 0

    reference = DualEncoder.load(str(dual_dir)).eval()
    chunks = _chunks_by_hash(fixture_repo, config)
    store = open_store(fixture_repo, config)
    try:
        meta = store.read_meta()
        stored = [s for s in store.state() if s.content_hash]
        vectors = store.vectors([s.id for s in stored])
    finally:
        store.close()
    assert meta["model_id"] == info.model_id and meta["text_model_id"] == info.text_id

    by_tower = {"code": [], "text": []}
    for s in stored:
        chunk = chunks[s.content_hash]
        by_tower["text" if chunk.language in DOC_LANGUAGES else "code"].append(
            (chunk.embedding_text(), vectors[s.id][0]))
    assert len(by_tower["code"]) >= 10 and len(by_tower["text"]) >= 2
    for tower, rows in by_tower.items():
        other = "code" if tower == "text" else "text"
        texts = [text for text, _ in rows]
        got = torch.tensor(np.array([vector for _, vector in rows]), dtype=torch.float32)
        # The trainer's encode adds the document prefix, as the indexer must.
        assert torch.allclose(got, reference.encode(texts, tower), atol=1e-4), tower
        assert not torch.allclose(got, reference.encode(texts, other), atol=1e-2), tower

    with Searcher(fixture_repo, config, open_store(fixture_repo, config)) as searcher:
        query = searcher.encoder.encode_queries(["deploy the service"])
        expected = reference.encode(["deploy the service"], "query").numpy()
        assert np.allclose(query, expected, atol=1e-4)  # text tower, query prefix
        assert searcher.search("deploy the service", limit=5)
        assert searcher.search("parse csv", limit=5, languages=["javascript"])

    # An index of the dual model refuses the code tower alone (and vice versa).
    with pytest.raises(UserError, match="--full"):
        Indexer(fixture_repo, tiny_config(tiny_model_dir)).run()


def test_embedder_routes_by_language_and_wraps_single_encoders(dual_dir, tiny_encoder):
    embedder = Embedder.open(read_model_info(dual_dir), device="cpu", precision="fp32")
    assert embedder.text is not embedder.code
    texts = ["# Deploy\nRun the deploy script.", "def f(x):\n    return x"]
    mixed = embedder.encode_documents(texts, ["markdown", "python"])
    assert np.allclose(mixed[0], embedder.text.encode_documents(texts[:1])[0], atol=1e-6)
    assert np.allclose(mixed[1], embedder.code.encode_documents(texts[1:])[0], atol=1e-6)
    assert embedder.tokens_seen > 0

    single = Embedder.of(tiny_encoder)
    assert single.text is single.code is tiny_encoder and Embedder.of(single) is single
    same = single.encode_documents(texts, ["markdown", "python"])
    assert np.allclose(same, tiny_encoder.encode_documents(texts), atol=1e-6)
    with pytest.raises(UserError, match="text tower"):
        Embedder.of(embedder.code)  # a dual model's code tower alone would embed prose


def test_shared_export_is_a_single_model(tmp_path, tiny_model_dir):
    config = ModelConfig(init=str(tiny_model_dir), shared=True, max_length=64)
    out = export_model(DualEncoder.from_config(config), tmp_path / "shared", "tiny-shared")
    manifest = json.loads((out / "codesearch_model.json").read_text())
    assert manifest["text_encoder"] == "." and not (out / "text_encoder").exists()
    info = read_model_info(out)
    assert info.text_path == "" and info.text_id == ""
