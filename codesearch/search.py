"""Search an index: the library API that the CLI, the TUI and editors call.

    from codesearch import Searcher
    with Searcher.open("path/to/repo") as searcher:
        for hit in searcher.search("retry an HTTP request with backoff", languages=["python"]):
            print(hit.path, hit.start_line, hit.symbol, hit.score)

One `Searcher` loads the model once and answers many queries; it is safe to call
from several threads. Dense and lexical candidates are fused inside one Qdrant
query (a score blend by default, chosen by measurement: see BENCHMARKS.md).
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import pathspec

from codesearch import sparse
from codesearch.config import Config
from codesearch.embed import Embedder, Encoder, read_model_info, resolve_model_path
from codesearch.errors import UserError
from codesearch.indexer import check_model
from codesearch.languages import KNOWN_LANGUAGES
from codesearch.locate import find_root, open_store, resolve_config
from codesearch.store import PATH_DIRS, Filters, Fusion, Store, folders_of

SNIPPET_LINES = 3
# A query that is one code identifier (`parseCSV`, `LruCache.put`, `read_config`) is
# a request for that name. Rank fusion flattens the lexical retriever's decisive
# margin for the exact name into "rank 1 vs rank 2"; score fusion (DBSF) keeps it.
_IDENTIFIER = re.compile(r"[A-Za-z_$][\w$]*(?:(?:\.|::|#|->)[A-Za-z_$][\w$]*)*")
_CODE_SHAPED = re.compile(r"[a-z0-9][A-Z]|_|\.|::|#|->")
TIE_MARGIN = 8


@dataclass(frozen=True)
class Hit:
    path: str
    start_line: int
    end_line: int
    symbol: str
    kind: str
    language: str
    score: float
    snippet: str
    code: str
    parent: str = ""
    signature: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def looks_like_identifier(query: str) -> bool:
    """One token shaped like code: camelCase, snake_case or a qualified name."""
    return bool(_IDENTIFIER.fullmatch(query) and _CODE_SHAPED.search(query))


def snippet_of(code: str, lines: int = SNIPPET_LINES) -> str:
    """The first few non-blank lines of a chunk: usually its signature and docstring."""
    kept = [line.rstrip() for line in code.splitlines() if line.strip()]
    return "\n".join(kept[:lines])


class Searcher:
    def __init__(self, root: Path, config: Config, store: Store,
                 encoder: Encoder | Embedder | None = None):
        self.root = root
        self.config = config
        self.store = store
        self._lock = threading.Lock()
        meta = store.read_meta()
        if not meta:
            raise UserError(f"no index for {root}: run 'codesearch index {root}' first")
        self.meta = meta
        if encoder is None:
            info = read_model_info(resolve_model_path(config.model.name), config.model.max_length)
            check_model(meta, info)
            # Queries go to a dual model's text tower (they are prose), with its prefix.
            encoder = Embedder.open(info, device=config.model.device,
                                    precision=config.model.precision,
                                    batch_tokens=config.model.batch_tokens)
        else:
            check_model(meta, encoder.info)
        self.encoder = Embedder.of(encoder)
        self._paths: list[str] | None = None
        self._paths_generation = None
        self._by_dirs = False  # whether the index's chunks carry their folders ("dirs")
        self._globs: dict[str, GlobScope] = {}  # resolutions for this generation

    @classmethod
    def open(cls, path: str | Path = ".", config_path: str | Path | None = None,
             encoder: Encoder | Embedder | None = None) -> Searcher:
        """Open the index of the repository at (or around) `path`."""
        start = Path(path)
        if not start.exists():
            raise UserError(f"path {start} does not exist")
        root = find_root(start if start.is_dir() else start.parent)
        config = resolve_config(root, Path(config_path) if config_path else None)
        return cls(root, config, open_store(root, config), encoder)

    def search(self, query: str, limit: int | None = None, languages: list[str] | None = None,
               kinds: list[str] | None = None, glob: str | None = None,
               fusion: str | None = None) -> list[Hit]:
        """Best chunks for `query`, best first. `glob` is gitignore-style (`src/**`, `*.go`)."""
        query = query.strip()
        if not query:
            return []
        cfg = self.config.search
        fusion = fusion or cfg.fusion
        scope = self._glob_scope(glob) if glob else None
        filters = Filters(languages=list(languages or []), kinds=list(kinds or []),
                          paths=scope.paths if scope else None,
                          dirs=scope.dirs if scope else [])
        if filters.empty_result():
            return []
        unknown = sorted(set(filters.languages) - KNOWN_LANGUAGES)
        if unknown:
            raise UserError(f"unknown language(s) {', '.join(unknown)}; "
                            f"known: {', '.join(sorted(KNOWN_LANGUAGES))}")
        with self._lock:
            dense = None
            if fusion != "sparse":
                dense = self.encoder.encode_queries([query])[0]
            lexical = sparse.query_vector(query) if fusion != "dense" else None
            limit = limit or cfg.limit
            # A few extra so that ties at the cut are broken by us, not by chance.
            if fusion in ("rrf", "blend") and looks_like_identifier(query):
                fusion = "dbsf"
            scored = self.store.query(dense, lexical, filters, limit + TIE_MARGIN, Fusion(
                fusion, cfg.candidates, cfg.rrf_k, cfg.sparse_weight, cfg.sparse_saturation))
        hits = sorted((_hit(s.payload, s.score) for s in scored
                       # A folder admits a file an index run is adding right now.
                       if scope is None or s.payload.get("path") in scope.matched),
                      key=lambda h: (-h.score, h.path, h.start_line))
        return hits[:limit]

    def _glob_scope(self, glob: str) -> GlobScope:
        """Resolve a glob against the indexed paths, kept until the index changes: an
        editor or the TUI sends one glob with query after query, and at 50k paths a
        resolution costs tens of ms."""
        with self._lock:
            meta = self.store.read_meta() or {}
            if self._paths is None or meta.get("generation") != self._paths_generation:
                self._paths = self.store.paths()
                self._paths_generation = meta.get("generation")
                self._by_dirs = meta.get("path_dirs") == PATH_DIRS
                self._globs = {}
            if glob not in self._globs:
                if len(self._globs) >= 64:
                    self._globs.clear()
                matched = matching_paths(glob, self._paths)
                if self._by_dirs:
                    dirs, paths = path_scope(matched, self._paths)
                else:  # an index made before chunks carried their folders
                    dirs, paths = [], matched
                self._globs[glob] = GlobScope(frozenset(matched), dirs, paths)
            return self._globs[glob]

    def close(self) -> None:
        # Under the lock: a search in another thread finishes before the engine closes.
        with self._lock:
            self.store.close()

    def __enter__(self) -> Searcher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass(frozen=True)
class GlobScope:
    """A glob resolved against an index: the paths it matches, and how Qdrant filters
    them: points under one of `dirs`, or at one of `paths`."""

    matched: frozenset[str]
    dirs: list[str]
    paths: list[str]


def path_scope(matched: list[str], paths: list[str]) -> tuple[list[str], list[str]]:
    """(folders, rest): the outermost folders all of whose indexed paths are in `matched`
    (a subset of `paths`), and the matched paths outside them. Qdrant then filters on a
    few folders (the "dirs" payload) instead of thousands of paths: `**/rust/**` over 51k
    paths is a handful of folders."""
    total: Counter[str] = Counter(d for p in paths for d in folders_of(p))
    hit: Counter[str] = Counter(d for p in matched for d in folders_of(p))
    dirs: set[str] = set()
    rest = []
    for p in matched:
        whole = next((d for d in folders_of(p) if hit[d] == total[d]), None)
        if whole is None:
            rest.append(p)
        else:
            dirs.add(whole)
    return sorted(dirs), rest


def matching_paths(glob: str, paths: list[str]) -> list[str]:
    spec = pathspec.GitIgnoreSpec.from_lines([glob])
    if len(spec.patterns) == 1 and spec.patterns[0].include:
        # One including pattern: its regex straight over our already normalised paths,
        # skipping match_file's normalisation of every path again.
        regex = spec.patterns[0].regex
        return [p for p in paths if regex.match(p)]
    return [p for p in paths if spec.match_file(p)]


def _hit(payload: dict, score: float) -> Hit:
    code = payload.get("code", "")
    return Hit(
        path=payload["path"], start_line=int(payload["start_line"]),
        end_line=int(payload["end_line"]), symbol=payload.get("symbol", ""),
        kind=payload.get("kind", ""), language=payload.get("language", ""), score=float(score),
        snippet=snippet_of(code), code=code, parent=payload.get("parent", ""),
        signature=payload.get("signature", ""),
    )
