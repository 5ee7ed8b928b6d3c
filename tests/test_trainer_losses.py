"""The trainer's losses against values computed by hand, term by term."""

from __future__ import annotations

import math

import pytest
import torch

from trainer.losses import GTEContrastiveLoss, SymmetricInfoNCE


def _unit(rows: list[list[float]]) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.tensor(rows, dtype=torch.float64), dim=1)


Q = _unit([[1.0, 0.2, 0.0], [0.1, 1.0, 0.3], [0.0, 0.4, 1.0]])
D = _unit([[0.9, 0.1, 0.2], [0.3, 0.8, 0.0], [0.2, 0.2, 0.9]])
NEG = _unit([[0.5, 0.5, 0.1], [0.0, 1.0, 0.0], [0.7, 0.0, 0.7]])  # one per pair


def _dot(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a * b).sum())


def _logsumexp(values: list[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def _gte_by_hand(q, d, tau: float, negatives=None) -> float:
    n = len(q)
    losses = []
    for i in range(n):
        terms = [_dot(q[i], d[j]) for j in range(n)]                    # q_i -> d_j
        if negatives is not None:
            terms += [_dot(q[i], neg) for neg in negatives]              # q_i -> hard negatives
        terms += [_dot(q[i], q[j]) for j in range(n) if j != i]         # q_i -> q_j
        terms += [_dot(q[j], d[i]) for j in range(n)]                   # q_j -> d_i
        terms += [_dot(d[j], d[i]) for j in range(n) if j != i]         # d_j -> d_i
        losses.append(_logsumexp([t / tau for t in terms]) - _dot(q[i], d[i]) / tau)
    return sum(losses) / n


def _infonce_by_hand(q, d, tau: float, negatives=None) -> float:
    n = len(q)
    candidates = list(d) + (list(negatives) if negatives is not None else [])
    rows = [_logsumexp([_dot(q[i], c) / tau for c in candidates]) - _dot(q[i], d[i]) / tau
            for i in range(n)]
    columns = [_logsumexp([_dot(d[i], q[j]) / tau for j in range(n)]) - _dot(q[i], d[i]) / tau
               for i in range(n)]
    return (sum(rows) / n + sum(columns) / n) / 2


@pytest.mark.parametrize("tau", [0.5, 0.05])
def test_gte_loss_equals_hand_computed_3x3(tau):
    loss = GTEContrastiveLoss(temperature=tau)(Q, D)
    assert float(loss) == pytest.approx(_gte_by_hand(Q, D, tau), rel=1e-9)


def test_gte_loss_with_hard_negatives_in_either_shape():
    expected = _gte_by_hand(Q, D, 0.5, negatives=NEG)
    loss = GTEContrastiveLoss(temperature=0.5)
    assert float(loss(Q, D, NEG)) == pytest.approx(expected, rel=1e-9)              # (B*H, dim)
    assert float(loss(Q, D, NEG.reshape(3, 1, 3))) == pytest.approx(expected, rel=1e-9)  # (B, H, dim)
    assert float(loss(Q, D, NEG)) > float(loss(Q, D))  # more terms in every partition


def test_gte_masks_self_similarity():
    # With q_i.q_i and d_i.d_i left in, each partition would gain exp(1/tau) twice.
    masked = _gte_by_hand(Q, D, 0.5)
    assert float(GTEContrastiveLoss(0.5)(Q, D)) == pytest.approx(masked)
    with_self = []
    for i in range(3):
        terms = [_dot(Q[i], D[j]) for j in range(3)] + [_dot(Q[i], Q[j]) for j in range(3)]
        terms += [_dot(Q[j], D[i]) for j in range(3)] + [_dot(D[j], D[i]) for j in range(3)]
        with_self.append(_logsumexp([t / 0.5 for t in terms]) - _dot(Q[i], D[i]) / 0.5)
    assert sum(with_self) / 3 > masked + 0.1


def test_infonce_symmetric_value_on_small_example():
    loss = SymmetricInfoNCE(temperature=0.1).double()
    assert float(loss(Q, D).detach()) == pytest.approx(_infonce_by_hand(Q, D, 0.1), rel=1e-6)
    assert float(loss(Q, D, NEG.reshape(3, 1, 3)).detach()) == pytest.approx(
        _infonce_by_hand(Q, D, 0.1, negatives=NEG), rel=1e-6)


def test_infonce_is_row_plus_column_cross_entropy_over_two():
    q, d = Q[:2], D[:2]
    tau = 0.2
    s = [[_dot(q[i], d[j]) / tau for j in range(2)] for i in range(2)]
    row = [-math.log(math.exp(s[i][i]) / (math.exp(s[i][0]) + math.exp(s[i][1]))) for i in range(2)]
    col = [-math.log(math.exp(s[j][j]) / (math.exp(s[0][j]) + math.exp(s[1][j]))) for j in range(2)]
    expected = (sum(row) / 2 + sum(col) / 2) / 2
    assert float(SymmetricInfoNCE(tau).double()(q, d).detach()) == pytest.approx(expected, rel=1e-6)


def test_infonce_temperature_is_learned_in_log_space_and_clamped():
    loss = SymmetricInfoNCE(temperature=0.05)
    assert loss.log_scale.requires_grad
    assert loss.temperature == pytest.approx(0.05)
    q, d = Q.float(), D.float()
    loss(q, d).backward()
    assert loss.log_scale.grad is not None and float(loss.log_scale.grad) != 0.0
    with torch.no_grad():
        loss.log_scale.fill_(10.0)  # temperature e^-10: beyond the clamp
    assert loss.temperature == pytest.approx(0.01)
    assert not SymmetricInfoNCE(0.05, learn_temperature=False).log_scale.requires_grad


def test_losses_fall_when_positives_align():
    noise = torch.randn(8, 16, generator=torch.Generator().manual_seed(0))
    q = torch.nn.functional.normalize(noise, dim=1)
    far = torch.nn.functional.normalize(torch.randn(8, 16, generator=torch.Generator().manual_seed(1)), dim=1)
    for loss in (SymmetricInfoNCE(), GTEContrastiveLoss()):
        assert float(loss(q, q).detach()) < float(loss(q, far).detach())
