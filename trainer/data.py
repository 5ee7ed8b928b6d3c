"""Pairs on disk and the batch sampler.

A data directory (written by `trainer mine`) holds `train/SOURCE.jsonl`,
`eval/SOURCE.jsonl` and `manifest.json`. One JSON object per line is a `Pair`.

Batches follow GTE (Li et al. 2023, section 3.1): every batch comes from one stream, a
(source, kind) pair such as `requests/code`, drawn with probability p_i ∝ n_i^alpha so
that big repositories do not drown small ones (alpha = 0.5) while every stream stays a
coherent task, which keeps in-batch negatives from being told apart by their domain
alone. No query and no document appears twice in one batch (duplicates would be false
negatives). The order is a pure function of the seed and the sampler's state, which a
checkpoint saves.
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from codesearch.errors import UserError

SPLITS = ("train", "eval")
KINDS = ("code", "text")  # code: docstring -> code; text: prose -> neighbouring prose
_NOT_WORD = re.compile(r"[\W_]+")


def normalised_hash(text: str) -> str:
    """Identity up to case, whitespace and punctuation: finds exact and near duplicates."""
    normal = _NOT_WORD.sub(" ", text.lower()).strip()
    return hashlib.blake2b(normal.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


@dataclass(frozen=True)
class Pair:
    query: str  # docstring summary, heading or paragraph
    document: str  # code (as the indexer embeds it) or the neighbouring prose
    kind: str  # one of KINDS
    language: str  # of the file the pair comes from
    source: str  # repository or package
    path: str  # file, relative to the source
    symbol: str = ""
    query_hash: str = ""  # normalised_hash of query
    document_hash: str = ""  # normalised_hash of document

    @property
    def stream(self) -> str:
        return f"{self.source}/{self.kind}"

    @classmethod
    def make(cls, query: str, document: str, **fields) -> Pair:
        return cls(query, document, query_hash=normalised_hash(query),
                   document_hash=normalised_hash(document), **fields)


def write_pairs(path: Path, pairs: Iterable[Pair]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for pair in pairs:
            out.write(json.dumps(asdict(pair), ensure_ascii=False) + "\n")


def read_pairs(data_dir: Path, split: str) -> list[Pair]:
    """Every pair of a split, in a fixed order (shards sorted by name)."""
    folder = data_dir / split
    if not folder.is_dir():
        raise UserError(f"{folder} does not exist: run `python -m trainer mine` first")
    pairs: list[Pair] = []
    for shard in sorted(folder.glob("*.jsonl")):
        with shard.open(encoding="utf-8") as lines:
            pairs.extend(Pair(**json.loads(line)) for line in lines if line.strip())
    return pairs


def group_streams(pairs: Sequence[Pair]) -> dict[str, list[int]]:
    """Stream name -> indices into `pairs`, streams sorted by name."""
    streams: dict[str, list[int]] = {}
    for index, pair in enumerate(pairs):
        streams.setdefault(pair.stream, []).append(index)
    return dict(sorted(streams.items()))


def source_probabilities(sizes: Sequence[int], alpha: float) -> np.ndarray:
    """GTE's multinomial: p_i = n_i^alpha / sum_j n_j^alpha."""
    weights = np.asarray(sizes, dtype=np.float64) ** alpha
    return weights / weights.sum()


@dataclass(frozen=True)
class Batch:
    stream: str
    kind: str
    indices: list[int]  # into the pair list the sampler was built on


class SourceSampler:
    """Endless batches, each from one stream drawn with p ∝ n^alpha, deduplicated inside."""

    def __init__(self, pairs: Sequence[Pair], batch_size: int, alpha: float = 0.5,
                 seed: int = 0) -> None:
        if not pairs:
            raise UserError("no training pairs: the data directory's train split is empty")
        self.pairs = pairs
        self.batch_size = batch_size
        self.seed = seed
        self.streams = group_streams(pairs)
        self.names = list(self.streams)
        self.probabilities = source_probabilities([len(v) for v in self.streams.values()], alpha)
        self.rng = np.random.default_rng(seed)
        # Per stream: (epoch, position) in that epoch's permutation. Permutations are
        # derived from (seed, stream, epoch), so only these two numbers need saving.
        self.cursors = {name: (0, 0) for name in self.names}

    def _order(self, name: str, epoch: int) -> np.ndarray:
        stream_id = zlib.crc32(name.encode())
        rng = np.random.default_rng([self.seed, stream_id, epoch])
        return np.asarray(self.streams[name])[rng.permutation(len(self.streams[name]))]

    def next_batch(self) -> Batch:
        name = self.names[int(self.rng.choice(len(self.names), p=self.probabilities))]
        epoch, position = self.cursors[name]
        order = self._order(name, epoch)
        queries: set[str] = set()
        documents: set[str] = set()
        picked: list[int] = []
        # Look at each pair of the stream at most once per batch: a stream smaller than
        # the batch gives a smaller batch rather than duplicates.
        for _ in range(len(order)):
            if len(picked) == self.batch_size:
                break
            if position == len(order):
                epoch, position = epoch + 1, 0
                order = self._order(name, epoch)
            index = int(order[position])
            position += 1
            pair = self.pairs[index]
            if pair.query_hash in queries or pair.document_hash in documents:
                continue  # a false negative for its twin; it comes back next epoch
            queries.add(pair.query_hash)
            documents.add(pair.document_hash)
            picked.append(index)
        self.cursors[name] = (epoch, position)
        return Batch(name, self.pairs[picked[0]].kind, picked)

    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state, "cursors": dict(self.cursors),
                "seed": self.seed, "names": self.names}

    def load_state_dict(self, state: dict) -> None:
        if state["names"] != self.names or state["seed"] != self.seed:
            raise UserError("the checkpoint was made on other training data or seed; "
                            "resume with the same data directory and config")
        self.rng.bit_generator.state = state["rng"]
        self.cursors = {name: tuple(cursor) for name, cursor in state["cursors"].items()}
