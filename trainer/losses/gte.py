"""GTE's improved contrastive loss: one partition function over four similarity sets.

Li et al. 2023, *Towards General Text Embeddings with Multi-stage Contrastive Learning*
(GTE), section 3.3. For pair i with temperature tau and s = cosine similarity:

    loss_i = -log( exp(s(q_i, d_i)/tau) / Z_i )
    Z_i = sum_j exp(s(q_i, d_j)/tau)     query  -> every document (and hard negative)
        + sum_j exp(s(q_i, q_j)/tau)     query  -> every other query      (j != i)
        + sum_j exp(s(q_j, d_i)/tau)     every query -> the document
        + sum_j exp(s(d_j, d_i)/tau)     every other document -> the document (j != i)

The self-similarities q_i.q_i and d_i.d_i are masked out: they are 1 whatever the model
does and would swamp Z_i. As in the paper's formula the positive s(q_i, d_i) sits in both
the first and the third sum. The temperature is fixed (paper: 0.01).

Shapes:
    queries    (B, dim)  unit vectors
    documents  (B, dim)  unit vectors; documents[i] is the positive of queries[i]
    negatives  (B, H, dim) or (N, dim), optional; N = B*H extra columns of the q -> d set
    returns    scalar loss (mean over the batch)

The logit matrix is (B, B + N + B + B + B): [q->d | q->neg | q->q | d->q | d->d].
"""

from __future__ import annotations

import torch
from torch import nn


class GTEContrastiveLoss(nn.Module):
    def __init__(self, temperature: float = 0.01) -> None:
        super().__init__()
        self.fixed_temperature = temperature

    @property
    def temperature(self) -> float:
        return self.fixed_temperature

    def forward(self, queries: torch.Tensor, documents: torch.Tensor,
                negatives: torch.Tensor | None = None) -> torch.Tensor:
        batch = len(queries)
        diagonal = torch.eye(batch, dtype=torch.bool, device=queries.device)
        q_to_d = queries @ documents.T                                  # [i, j] = s(q_i, d_j)
        parts = [q_to_d]
        if negatives is not None:
            parts.append(queries @ negatives.reshape(-1, queries.shape[-1]).T)
        parts.append((queries @ queries.T).masked_fill(diagonal, float("-inf")))
        parts.append(q_to_d.T)                                          # [i, j] = s(q_j, d_i)
        parts.append((documents @ documents.T).masked_fill(diagonal, float("-inf")))
        logits = torch.cat(parts, dim=1) / self.fixed_temperature
        positives = q_to_d.diagonal() / self.fixed_temperature
        return (torch.logsumexp(logits, dim=1) - positives).mean()
