"""Contrastive losses over L2-normalised embeddings, one module each.

Every loss takes queries (B, dim), their positive documents (B, dim) and optional hard
negatives, (B, H, dim) or (B*H, dim), appended as extra document columns.
"""

from trainer.losses.gte import GTEContrastiveLoss
from trainer.losses.infonce import SymmetricInfoNCE

__all__ = ["GTEContrastiveLoss", "SymmetricInfoNCE"]

