"""Retrieval metrics on held-out pairs, CodeSearchNet-style and over the whole corpus.

CodeSearchNet (Husain et al. 2019) ranks each query's positive among 999 distractors:
the held-out pairs are shuffled and cut into pools of 1000, and every query of a pool is
ranked against the pool's 1000 documents. We report MRR@10 (reciprocal rank, 0 past
rank 10), Recall@1 and Recall@10 over those pools, and the same over the whole held-out
corpus of that kind, which is closer to searching a real repository. A positive's rank is
1 + the number of documents scoring strictly higher. Code and prose pairs are scored
separately: `code/pool_mrr@10`, `text/corpus_r@1`, ...
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from trainer.data import KINDS, Pair
from trainer.model import DualEncoder

HEADLINE = ("code/pool_mrr@10", "text/pool_mrr@10")  # what "best checkpoint" means


def ranking_metrics(ranks: np.ndarray) -> dict[str, float]:
    """1-based ranks of each query's positive -> MRR@10, Recall@1, Recall@10."""
    if len(ranks) == 0:
        return {}
    reciprocal = np.where(ranks <= 10, 1.0 / ranks, 0.0)
    return {"mrr@10": float(reciprocal.mean()), "r@1": float((ranks <= 1).mean()),
            "r@10": float((ranks <= 10).mean())}


def positive_ranks(queries: torch.Tensor, documents: torch.Tensor, block: int = 1024) -> np.ndarray:
    """Rank of documents[i] for queries[i] among all documents (rows are unit vectors)."""
    ranks = []
    for start in range(0, len(queries), block):
        scores = queries[start : start + block] @ documents.T
        rows = torch.arange(len(scores))
        positive = scores[rows, rows + start].unsqueeze(1)
        ranks.append((scores > positive).sum(1) + 1)
    return torch.cat(ranks).numpy()


def pool_ranks(queries: torch.Tensor, documents: torch.Tensor, pool: int,
               seed: int = 0) -> tuple[np.ndarray, int]:
    """Ranks within shuffled pools of `pool` pairs; the last partial pool is dropped unless
    it is the only one. Returns (ranks, pool size used)."""
    order = np.random.default_rng(seed).permutation(len(queries))
    size = min(pool, len(order))
    ranks = [positive_ranks(queries[chunk], documents[chunk])
             for start in range(0, len(order) - size + 1, size)
             for chunk in [torch.as_tensor(order[start : start + size])]]
    return np.concatenate(ranks), size


def evaluate(model: DualEncoder, pairs: Sequence[Pair], pool: int = 1000,
             max_pairs: int = 0, batch_tokens: int = 16384, bf16: bool = False,
             seed: int = 0) -> dict[str, float]:
    """Metrics per kind; `max_pairs` > 0 caps each kind (a fixed, seeded subset)."""
    was_training = model.training
    model.eval()
    metrics: dict[str, float] = {}
    for kind in KINDS:
        chosen = [pair for pair in pairs if pair.kind == kind]
        if len(chosen) < 2:
            continue
        if max_pairs and len(chosen) > max_pairs:
            keep = np.random.default_rng(seed).permutation(len(chosen))[:max_pairs]
            chosen = [chosen[i] for i in sorted(keep)]
        queries = model.encode([p.query for p in chosen], "query", batch_tokens, bf16)
        documents = model.encode([p.document for p in chosen], kind, batch_tokens, bf16)
        ranks, size = pool_ranks(queries, documents, pool, seed)
        metrics[f"{kind}/pairs"] = len(chosen)
        metrics[f"{kind}/pool"] = size
        for name, value in ranking_metrics(ranks).items():
            metrics[f"{kind}/pool_{name}"] = value
        for name, value in ranking_metrics(positive_ranks(queries, documents)).items():
            metrics[f"{kind}/corpus_{name}"] = value
    model.train(was_training)
    return metrics


def headline(metrics: dict[str, float]) -> float:
    """The figure the best checkpoint is chosen by: code MRR@10, else prose MRR@10."""
    for key in HEADLINE:
        if key in metrics:
            return metrics[key]
    return float("-inf")


def format_table(results: dict[str, dict[str, float]]) -> str:
    """A markdown table: one row per metric, one column per model."""
    models = list(results)
    keys = sorted({key for metrics in results.values() for key in metrics},
                  key=lambda k: (k.split("/")[0], "corpus" in k, k))
    lines = ["| metric | " + " | ".join(models) + " |",
             "|---|" + "---:|" * len(models)]
    for key in keys:
        cells = []
        for model in models:
            value = results[model].get(key)
            if value is None:
                cells.append("")
            elif key.endswith(("/pairs", "/pool")):
                cells.append(str(int(value)))
            else:
                cells.append(f"{value:.4f}")
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
