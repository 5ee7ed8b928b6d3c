"""Write a trained DualEncoder as a model directory the indexer and sentence-transformers load.

Layout:
    OUT/                        the code tower: config.json, model.safetensors, tokenizer,
                                modules.json, sentence_bert_config.json, 1_Pooling/, 2_Normalize/
                                (so `SentenceTransformer(OUT)` embeds code)
    OUT/text_encoder/           the text tower, same layout (absent when shared)
    OUT/codesearch_model.json   name, pooling, max_length, dim, prefixes,
                                text_encoder / code_encoder (subfolders, "." = OUT), eval,
                                weights_hash (content of both towers)

`codesearch.embed.read_model_info(OUT)` reads the code tower; `read_model_info(OUT /
manifest["text_encoder"])` the text tower, which has a manifest of its own.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from codesearch.embed import MANIFEST_NAME
from trainer.model import DualEncoder

TEXT_SUBFOLDER = "text_encoder"


def export_model(model: DualEncoder, out: Path, name: str, eval_figures: dict | None = None,
                 extra: dict | None = None) -> Path:
    """Save `model` to `out` (replaced whole, via a temporary sibling); returns `out`."""
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    spec = model.spec
    text_folder = "." if spec.shared else TEXT_SUBFOLDER
    manifest = {
        "name": name,
        "pooling": spec.pooling,
        "max_length": spec.max_length,
        "dim": model.dim,
        "query_prefix": spec.query_prefix,
        "document_prefix": spec.document_prefix,
        "text_encoder": text_folder,
        "code_encoder": ".",
        "shared": spec.shared,
        "eval": eval_figures or {},
        **(extra or {}),
    }
    _save_tower(model.code_encoder, model.tokenizers["code"], tmp, spec.pooling,
                spec.max_length, prompts=(spec.query_prefix, spec.document_prefix))
    if not spec.shared:
        text_dir = tmp / TEXT_SUBFOLDER
        _save_tower(model.text_encoder, model.tokenizers["text"], text_dir, spec.pooling,
                    spec.max_length, prompts=(spec.query_prefix, spec.document_prefix))
        # Its own manifest, so read_model_info(OUT/text_encoder) gives the right prefixes.
        text_manifest = {key: manifest[key] for key in
                         ("pooling", "max_length", "dim", "query_prefix", "document_prefix")}
        _write_json(text_dir / MANIFEST_NAME, {"name": f"{name}-text", **text_manifest})
    manifest["weights_hash"] = _weights_hash(tmp)
    _write_json(tmp / MANIFEST_NAME, manifest)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def _save_tower(encoder, tokenizer, folder: Path, pooling: str, max_length: int,
                prompts: tuple[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    encoder.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    dim = int(encoder.config.hidden_size)
    # sentence-transformers: Transformer -> Pooling -> Normalize, as the indexer embeds.
    _write_json(folder / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize",
         "type": "sentence_transformers.models.Normalize"},
    ])
    _write_json(folder / "sentence_bert_config.json",
                {"max_seq_length": max_length, "do_lower_case": False})
    _write_json(folder / "1_Pooling" / "config.json", {
        "word_embedding_dimension": dim,
        "pooling_mode_cls_token": pooling == "cls",
        "pooling_mode_mean_tokens": pooling == "mean",
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    })
    (folder / "2_Normalize").mkdir(exist_ok=True)
    query_prefix, document_prefix = prompts
    _write_json(folder / "config_sentence_transformers.json", {
        "prompts": {"query": query_prefix, "document": document_prefix},
        "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    })


def _weights_hash(folder: Path) -> str:
    """Content hash of every tower's weights: two exports of one architecture have equal
    file sizes, so only this tells a retrained model from the one an index was built with."""
    digest = hashlib.blake2b(digest_size=12)
    for weights in sorted(folder.rglob("*.safetensors")):
        digest.update(weights.relative_to(folder).as_posix().encode())
        with weights.open("rb") as data:
            while block := data.read(1 << 22):
                digest.update(block)
    return digest.hexdigest()


def _write_json(path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2) + "\n")
