"""Hard negatives for fine-tuning (GTE stage 2), mined by the model that starts the stage.

For each training pair: the documents of the same stream (same source, same kind)
nearest to its query, skipping the positive and every document whose normalised hash
equals the positive's (near duplicates would be false negatives), then `skip` more of the
nearest (likely unlabelled positives), then `count` taken. Saved as JSON next to the
checkpoints so a resumed stage trains on the same negatives (re-mining with the half-
trained model would give different ones).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from trainer.data import Pair, group_streams
from trainer.model import DualEncoder


def mine_negatives(model: DualEncoder, pairs: Sequence[Pair], count: int, depth: int = 30,
                   skip: int = 0, batch_tokens: int = 16384, bf16: bool = False,
                   block: int = 1024) -> list[list[int]]:
    """For every pair, up to `count` indices (into `pairs`) of hard negative documents."""
    was_training = model.training
    model.eval()
    negatives: list[list[int]] = [[] for _ in pairs]
    for indices in group_streams(pairs).values():
        kind = pairs[indices[0]].kind
        queries = model.encode([pairs[i].query for i in indices], "query", batch_tokens, bf16)
        documents = model.encode([pairs[i].document for i in indices], kind, batch_tokens, bf16)
        hashes = [pairs[i].document_hash for i in indices]
        k = min(len(indices), depth + skip + 1)
        for start in range(0, len(indices), block):
            nearest = (queries[start : start + block] @ documents.T).topk(k, dim=1).indices
            for row, candidates in enumerate(nearest.tolist()):
                own = start + row
                chosen = [c for c in candidates if hashes[c] != hashes[own]][skip : skip + count]
                negatives[indices[own]] = [indices[c] for c in chosen]
    model.train(was_training)
    return negatives


def load_or_mine(path: Path, model: DualEncoder, pairs: Sequence[Pair], count: int,
                 **options) -> list[list[int]]:
    if path.exists():
        saved = json.loads(path.read_text())
        if len(saved) == len(pairs):
            return saved
    negatives = mine_negatives(model, pairs, count, **options)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(negatives))
    tmp.replace(path)
    return negatives


def batch_negatives(negatives: list[list[int]], indices: Sequence[int]) -> list[int]:
    """The negatives of a batch's pairs, flattened in pair order (the losses' extra columns)."""
    return [negative for index in indices for negative in negatives[index]]
