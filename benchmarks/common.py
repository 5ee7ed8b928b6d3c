"""Shared pieces of the search-quality benchmark: evaluation sets, index folders, querying.

The evaluation sets under /work/shared/eval are read-only and for evaluation only:
their code is written to temporary index folders and nowhere else, and nothing here
learns from them. Every number goes through the product: the product's walker,
chunker, embedded text, encoder, sparse vectors, Qdrant store and fusion.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

EVAL_DIR = Path("/work/shared/eval")


@dataclass
class EvalSet:
    """Documents to index and queries to run, with what counts as relevant.

    `docs`: doc id -> code; each becomes the file `<id>.py`.
    `queries`: query id -> query text.
    `positives` (one relevant doc per query) or `gains` (graded, doc id -> gain).
    """

    name: str
    docs: dict[str, str]
    queries: dict[str, str]
    positives: dict[str, str] = field(default_factory=dict)
    gains: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def graded(self) -> bool:
        return bool(self.gains)


def _jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_cosqa(root: Path = EVAL_DIR) -> EvalSet:
    folder = root / "cosqa-dev"
    docs = {row["id"]: row["code"] for row in _jsonl(folder / "corpus.jsonl")}
    queries, positives = {}, {}
    for row in _jsonl(folder / "queries.jsonl"):
        queries[row["id"]] = row["query"]
        positives[row["id"]] = row["positive"]
    missing = [q for q, p in positives.items() if p not in docs]
    if missing:
        raise SystemExit(f"cosqa: {len(missing)} positives are not in the corpus")
    return EvalSet("cosqa", docs, queries, positives=positives)


def csn_doc_id(url: str) -> str:
    """A stable id per distinct function: its GitHub URL (repo, commit, path, lines)."""
    return "f" + hashlib.blake2b(url.encode(), digest_size=6).hexdigest()


def load_csn(root: Path = EVAL_DIR) -> EvalSet:
    rows = _jsonl(root / "csn-expert-python" / "judgments.jsonl")
    docs: dict[str, str] = {}
    query_ids: dict[str, str] = {}
    gains: dict[str, dict[str, float]] = {}
    for row in rows:
        doc = csn_doc_id(row["url"])
        if docs.setdefault(doc, row["code"]) != row["code"]:
            raise SystemExit(f"csn: two different codes for {row['url']}")
        qid = query_ids.setdefault(row["query"], f"q{len(query_ids):03d}")
        gains.setdefault(qid, {})[doc] = float(row["relevance_mean"])
    queries = {qid: text for text, qid in query_ids.items()}
    return EvalSet("csn", docs, queries, gains=gains)


LOADERS = {"cosqa": load_cosqa, "csn": load_csn}


# ----------------------------------------------------------------------- index


def write_docs(folder: Path, docs: dict[str, str]) -> int:
    """One file per function; unchanged files are not rewritten (their mtime stays,
    so a kept folder re-indexes as unchanged). Returns how many files were written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    for doc, code in docs.items():
        path = folder / f"{doc}.py"
        text = code if code.endswith("\n") else code + "\n"
        try:
            if path.read_text(encoding="utf-8") == text:
                continue
        except (OSError, UnicodeDecodeError):
            pass
        path.write_text(text, encoding="utf-8")
        written += 1
    wanted = {f"{doc}.py" for doc in docs}
    for stale in folder.glob("*.py"):
        if stale.name not in wanted:
            stale.unlink()
    return written


def doc_of_path(path: str) -> str:
    """`c123.py` -> `c123` (hit paths are relative to the index root)."""
    name = path.rsplit("/", 1)[-1]
    return name[:-3] if name.endswith(".py") else name


def build_index(folder: Path) -> dict:
    """Index `folder` exactly as `codesearch index` does with the default config."""
    from codesearch.config import load_config
    from codesearch.indexer import Indexer

    started = time.perf_counter()
    summary = Indexer(folder, load_config(None, folder)).run()
    wall = time.perf_counter() - started
    return {
        "wall_seconds": round(wall, 2),
        "seconds": round(summary.seconds, 2),
        "files_seen": summary.files_seen,
        "files_indexed": summary.files_indexed,
        "files_unchanged": summary.files_unchanged,
        "chunks_total": summary.chunks_total,
        "chunks_embedded": summary.chunks_embedded,
        "chunks_reused": summary.chunks_reused,
        "tokens": summary.tokens,
        "tokens_per_second": round(summary.tokens_per_second, 1),
        "stage_seconds": {k: round(v, 2) for k, v in sorted(summary.stage_seconds.items())},
        "skipped": [[s.path, s.reason] for s in summary.skipped],
        "parse_fallbacks": [[s.path, s.reason] for s in summary.parse_fallbacks],
    }


# ---------------------------------------------------------------------- search


@dataclass(frozen=True)
class Variant:
    """One search setting: a fusion mode and, for hybrid modes, its knobs."""

    fusion: str
    rrf_k: int | None = None
    candidates: int | None = None

    @property
    def name(self) -> str:
        if self.fusion in ("dense", "sparse"):
            return self.fusion
        parts = [self.fusion]
        if self.fusion == "rrf":
            parts.append(f"k={self.rrf_k}")
        parts.append(f"cand={self.candidates}")
        return " ".join(parts)


def ranked_docs(hits, depth: int) -> list[str]:
    """Distinct doc ids in hit order: a file's best-ranked chunk stands for it."""
    out: list[str] = []
    seen: set[str] = set()
    for hit in hits:
        doc = doc_of_path(hit.path)
        if doc not in seen:
            seen.add(doc)
            out.append(doc)
            if len(out) == depth:
                break
    return out


def configure(searcher, variant: Variant, defaults) -> None:
    """Set the searcher's hybrid knobs for `variant` (defaults where it names none)."""
    cfg = searcher.config.search
    cfg.rrf_k = variant.rrf_k if variant.rrf_k is not None else defaults.rrf_k
    cfg.candidates = variant.candidates if variant.candidates is not None else defaults.candidates


def run_queries(searcher, queries: dict[str, str], variant: Variant, limit: int,
                depth: int) -> tuple[dict[str, list[str]], float, int]:
    """Every query through `Searcher.search`; returns ranked doc ids per query,
    seconds taken, and how many queries came back with fewer than `depth` docs."""
    runs: dict[str, list[str]] = {}
    short = 0
    started = time.perf_counter()
    for qid, text in queries.items():
        hits = searcher.search(text, limit=limit, fusion=variant.fusion)
        runs[qid] = ranked_docs(hits, depth)
        short += len(runs[qid]) < depth
    return runs, time.perf_counter() - started, short


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def latency(searcher, queries: list[str], fusion: str, languages: list[str] | None,
            warmup: int = 20, limit: int = 10, repeats: int = 3) -> dict[str, float]:
    """Warm per-query latency of `Searcher.search` (query encoding included), in ms.

    Each query runs `repeats` times (rounds over all queries) and counts with its
    median, which damps other processes' load on a shared CPU."""
    for text in queries[:warmup]:
        searcher.search(text, limit=limit, fusion=fusion, languages=languages)
    times: list[list[float]] = [[] for _ in queries]
    for _ in range(repeats):
        for i, text in enumerate(queries):
            t = time.perf_counter()
            searcher.search(text, limit=limit, fusion=fusion, languages=languages)
            times[i].append((time.perf_counter() - t) * 1000)
    per_query = [statistics.median(t) for t in times]
    return {"p50_ms": round(percentile(per_query, 50), 2),
            "p95_ms": round(percentile(per_query, 95), 2),
            "mean_ms": round(statistics.fmean(per_query), 2),
            "max_ms": round(max(per_query), 2), "n": len(per_query), "repeats": repeats}


class MemoQueries:
    """The searcher's encoder, remembering each query's vector: every fusion variant
    and repeat re-asks the same 500 queries, and encoding is deterministic, so one
    encode per query gives the same rankings at a fraction of the time. Removed
    before latency is measured."""

    def __init__(self, encoder):
        self.encoder = encoder
        self.vectors: dict[str, object] = {}

    def encode_queries(self, texts: list[str]):
        import numpy as np

        missing = [t for t in texts if t not in self.vectors]
        if missing:
            for text, vector in zip(missing, self.encoder.encode_queries(missing), strict=True):
                self.vectors[text] = vector
        return np.stack([self.vectors[t] for t in texts])

    def __getattr__(self, name: str):
        return getattr(self.encoder, name)

