"""GradCache: contrastive batches larger than memory, with exactly the full-batch gradient.

Gao et al. 2021, *Scaling Deep Contrastive Learning Batch Size under Memory Limited
Setup*. The loss couples every embedding in the batch, but the encoder's graph does not
need to: (1) embed every mini-batch without a graph, (2) compute the loss on the detached
embeddings and backpropagate to them (and to the loss's own parameters, e.g. the learned
temperature), (3) re-embed each mini-batch with a graph and backpropagate the cached
gradient of its embeddings. Memory holds one mini-batch's activations at a time.

Step (3) must see the same dropout masks as step (1), or the gradient belongs to another
function: the RNG state (CPU, and CUDA when used) is captured before each mini-batch's
first forward and restored for its second, inside `torch.random.fork_rng` so the global
RNG ends where the first pass left it — as after a plain forward/backward.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch

from trainer.model import Encoded

# The embedding function of one mini-batch, e.g. a DualEncoder.
EmbedFn = Callable[[Encoded], torch.Tensor]
# Loss over one (N, dim) tensor per group (queries, documents, negatives).
LossFn = Callable[[list[torch.Tensor]], torch.Tensor]


@dataclass(frozen=True)
class RngState:
    cpu: torch.Tensor
    cuda: tuple[int, torch.Tensor] | None  # (device index, state)

    @classmethod
    def capture(cls, device: torch.device) -> RngState:
        cuda = None
        if device.type == "cuda":
            index = device.index if device.index is not None else torch.cuda.current_device()
            cuda = (index, torch.cuda.get_rng_state(index))
        return cls(torch.get_rng_state(), cuda)

    @contextlib.contextmanager
    def replayed(self) -> Iterator[None]:
        devices = [self.cuda[0]] if self.cuda else []
        with torch.random.fork_rng(devices=devices, device_type="cuda"):
            torch.set_rng_state(self.cpu)
            if self.cuda:
                torch.cuda.set_rng_state(self.cuda[1], self.cuda[0])
            yield


def cached_backward(embed: EmbedFn, groups: Sequence[Sequence[Encoded]], loss_fn: LossFn,
                    device: torch.device,
                    context: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
                    ) -> torch.Tensor:
    """Accumulate into .grad the gradient of loss_fn(embeddings of every group); returns the
    detached loss. `context` wraps each forward (autocast)."""
    states: list[list[RngState]] = []
    cached: list[torch.Tensor] = []
    with torch.no_grad():
        for group in groups:
            states.append([])
            parts = []
            for batch in group:
                states[-1].append(RngState.capture(device))
                with context():
                    parts.append(embed(batch))
            cached.append(torch.cat(parts))
    leaves = [embeddings.detach().requires_grad_() for embeddings in cached]
    loss = loss_fn(leaves)
    loss.backward()
    for group, group_states, leaf in zip(groups, states, leaves, strict=True):
        offset = 0
        for batch, state in zip(group, group_states, strict=True):
            with state.replayed(), context():
                embeddings = embed(batch)
            embeddings.backward(leaf.grad[offset : offset + len(batch)])
            offset += len(batch)
    return loss.detach()


def plain_backward(embed: EmbedFn, groups: Sequence[Sequence[Encoded]], loss_fn: LossFn,
                   context: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
                   ) -> torch.Tensor:
    """The reference: every mini-batch forward with its graph kept, then one backward."""
    embeddings = []
    for group in groups:
        with context():
            embeddings.append(torch.cat([embed(batch) for batch in group]))
    loss = loss_fn(embeddings)
    loss.backward()
    return loss.detach()
