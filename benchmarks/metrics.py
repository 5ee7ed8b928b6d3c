"""Retrieval metrics for one query at a time; averaging is the caller's job.

Two functions, small enough to check by hand (`python -m doctest benchmarks/metrics.py`):

- `rank_metrics`: one relevant item per query (CoSQA): reciprocal rank cut at
  `mrr_k` and recall at each k (with one positive, recall@k is a hit@k).
- `ndcg_at_k`: graded relevance (CodeSearchNet expert judgments): linear gain
  (gain = the judged relevance), discount log2(rank + 1), unjudged items gain 0, and
  the ideal DCG from all judged items of the query, so a system is not rewarded
  for failing to retrieve judged items.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence


def rank_metrics(ranked: Sequence[str], positive: str, ks: Iterable[int] = (1, 5, 10),
                 mrr_k: int = 10) -> dict[str, float]:
    """MRR@mrr_k and Recall@k of one query with a single relevant item.

    `ranked` is the system's list of distinct item ids, best first.

    >>> rank_metrics(["a", "b", "c"], "b", ks=(1, 2))
    {'mrr@10': 0.5, 'recall@1': 0.0, 'recall@2': 1.0}
    >>> rank_metrics(["a", "b"], "z", ks=(1,))
    {'mrr@10': 0.0, 'recall@1': 0.0}
    >>> rank_metrics([str(i) for i in range(20)], "12", ks=(10, 20))
    {'mrr@10': 0.0, 'recall@10': 0.0, 'recall@20': 1.0}
    """
    rank = next((i + 1 for i, item in enumerate(ranked) if item == positive), None)
    out = {f"mrr@{mrr_k}": 1.0 / rank if rank is not None and rank <= mrr_k else 0.0}
    for k in ks:
        out[f"recall@{k}"] = 1.0 if rank is not None and rank <= k else 0.0
    return out


def ndcg_at_k(ranked: Sequence[str], gains: Mapping[str, float], k: int = 10) -> float:
    """nDCG@k with linear gains; items missing from `gains` count 0.

    The ideal ranking orders all judged items of the query by gain; a query whose
    judged items all have gain 0 has no defined nDCG (returns nan: leave it out).

    >>> ndcg_at_k(["a", "b"], {"a": 3, "b": 1})
    1.0
    >>> round(ndcg_at_k(["b", "a"], {"a": 3, "b": 1}), 4)  # (1 + 3/log2 3) / (3 + 1/log2 3)
    0.7967
    >>> round(ndcg_at_k(["x", "a"], {"a": 2, "b": 2}, k=10), 4)  # (2/log2 3) / (2 + 2/log2 3)
    0.3869
    >>> ndcg_at_k(["a"], {"a": 0})
    nan
    """
    dcg = sum(gains.get(item, 0.0) / math.log2(i + 2) for i, item in enumerate(ranked[:k]))
    ideal = sorted(gains.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else math.nan
