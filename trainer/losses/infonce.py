"""Symmetric in-batch InfoNCE with a learned temperature.

Neelakantan et al. 2022, *Text and Code Embeddings by Contrastive Pre-Training*
(cpt-text / cpt-code), section 2: for a batch of M pairs (x_i, y_i) the logits are the
M x M matrix of cosine similarities scaled by exp(tau) (a learned log-scale, as in CLIP,
Radford et al. 2021); the diagonal holds the positives, every other entry is an in-batch
negative. The loss is the mean of the row-wise cross-entropy (query -> documents) and the
column-wise one (document -> queries).

Shapes:
    queries    (B, dim)       unit vectors from the text encoder
    documents  (B, dim)       unit vectors; documents[i] is the positive of queries[i]
    negatives  (B, H, dim) or (N, dim), optional hard negatives (N = B*H or fewer).
               They are appended as extra columns of the query -> document direction only:
               a hard negative has no query of its own, so no column of the other one.
    returns    scalar loss

Row logits are (B, B + N), column logits (B, B).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class SymmetricInfoNCE(nn.Module):
    def __init__(self, temperature: float = 0.05, min_temperature: float = 0.01,
                 learn_temperature: bool = True) -> None:
        super().__init__()
        # Learned as log(1/temperature): the scale stays positive and the optimizer
        # moves it multiplicatively, as CLIP does.
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / temperature)),
                                      requires_grad=learn_temperature)
        # CLIP clamps the scale at 100 (temperature 0.01) so training cannot diverge.
        self.max_log_scale = math.log(1.0 / min_temperature)

    @property
    def temperature(self) -> float:
        return float(1.0 / self.scale().detach())

    def scale(self) -> torch.Tensor:
        return self.log_scale.clamp(max=self.max_log_scale).exp()

    def forward(self, queries: torch.Tensor, documents: torch.Tensor,
                negatives: torch.Tensor | None = None) -> torch.Tensor:
        scale = self.scale()
        candidates = documents
        if negatives is not None:
            candidates = torch.cat([documents, negatives.reshape(-1, documents.shape[-1])])
        targets = torch.arange(len(queries), device=queries.device)
        rows = scale * queries @ candidates.T           # (B, B + N)
        columns = scale * documents @ queries.T          # (B, B): document i -> all queries
        return (F.cross_entropy(rows, targets) + F.cross_entropy(columns, targets)) / 2
