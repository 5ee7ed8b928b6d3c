"""Hard negatives for fine-tuning (GTE stage 2), mined by the model that starts the stage.

For each training pair: the documents of the same stream (same source, same kind)
nearest to its query, skipping the positive, every document whose normalised hash equals
the positive's (near duplicates) and every document of a pair whose query is a near
duplicate of this one (the same docstring on another function: also a right answer),
then `skip` more of the nearest (likely unlabelled positives), then `count` taken. Saved
as JSON next to the checkpoints so a resumed stage trains on the same negatives (re-mining
with the half-trained model would give different ones).

In a batch, a negative that is (a near duplicate of) any pair's positive, or that another
pair already brought, is dropped (`batch_negatives`): it would be a false negative for
that pair's row, or a duplicate text in the batch.
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
        query_hashes = [pairs[i].query_hash for i in indices]
        k = min(len(indices), depth + skip + 1)
        for start in range(0, len(indices), block):
            nearest = (queries[start : start + block] @ documents.T).topk(k, dim=1).indices
            for row, candidates in enumerate(nearest.tolist()):
                own = start + row
                chosen = [c for c in candidates if hashes[c] != hashes[own]
                          and query_hashes[c] != query_hashes[own]][skip : skip + count]
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


def batch_negatives(negatives: list[list[int]], indices: Sequence[int],
                    pairs: Sequence[Pair]) -> list[int]:
    """The negatives of a batch's pairs, flattened in pair order (the losses' extra
    columns), without false negatives for other rows of the batch or repeated texts."""
    taken = {pairs[index].document_hash for index in indices}
    chosen: list[int] = []
    for negative in (n for index in indices for n in negatives[index]):
        if pairs[negative].document_hash not in taken:
            taken.add(pairs[negative].document_hash)
            chosen.append(negative)
    return chosen
