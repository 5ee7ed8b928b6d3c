"""Contrastive losses over L2-normalised embeddings, one module each.

Every loss takes queries (B, dim), their positive documents (B, dim) and optional hard
negatives, (B, H, dim) or (N, dim) (N = B*H, or fewer once a batch's duplicates are
dropped), appended as extra document columns: every query is scored against all of them.
"""

from trainer.losses.gte import GTEContrastiveLoss
from trainer.losses.infonce import SymmetricInfoNCE

__all__ = ["GTEContrastiveLoss", "SymmetricInfoNCE"]

