"""Index configuration: a TOML file, every key optional, every key checked.

See index_configs/default.toml for each key with its meaning. Unknown keys, wrong
types and unknown languages are errors, not silently ignored settings.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from codesearch.errors import UserError
from codesearch.languages import KNOWN_LANGUAGES

FUSIONS = ("blend", "rrf", "dbsf", "dense", "sparse")
PRECISIONS = ("auto", "bf16", "fp32")


@dataclass
class ModelConfig:
    name: str = "all-MiniLM-L6-v2"   # bundled default, a model directory, or a cached hub name
    max_length: int = 256            # tokens per chunk the encoder sees
    device: str = "auto"             # auto | cpu | cuda | cuda:N
    precision: str = "auto"          # auto | bf16 | fp32
    batch_tokens: int = 16384        # padded tokens per forward pass


@dataclass
class IndexConfig:
    path: str = ""                   # embedded index folder; default <repo>/.codesearch
    max_file_bytes: int = 1_000_000
    exclude: list[str] = field(default_factory=list)     # gitignore-style patterns
    languages: list[str] = field(default_factory=list)   # empty: every language we know
    chunk_tokens: int = 256          # budget above which a class is split into methods


@dataclass
class QdrantConfig:
    url: str = ""                    # empty: embedded on disk; else a Qdrant server/cluster
    api_key_env: str = "QDRANT_API_KEY"  # environment variable holding the API key
    api_key: str = ""                # discouraged: prefer api_key_env
    collection: str = ""             # default: derived from the repository path
    timeout: float = 10.0

    def resolved_api_key(self) -> str | None:
        return self.api_key or os.environ.get(self.api_key_env) or None


@dataclass
class SearchConfig:
    limit: int = 10
    fusion: str = "blend"            # blend | rrf | dbsf | dense | sparse
    candidates: int = 100            # per-retriever prefetch before fusion
    rrf_k: int = 60
    # blend: cosine + sparse_weight * s / (s + sparse_saturation), s the lexical score
    sparse_weight: float = 0.05
    sparse_saturation: float = 8.0


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    index: IndexConfig = field(default_factory=IndexConfig)
    qdrant: QdrantConfig = field(default_factory=QdrantConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    source: str = ""                 # the file this came from, for messages


CONFIG_NAMES = (".codesearch.toml", "codesearch.toml")


def load_config(path: Path | None, root: Path | None = None) -> Config:
    """Read `path`, or the repository's own .codesearch.toml, or use defaults."""
    if path is None and root is not None:
        path = next((root / n for n in CONFIG_NAMES if (root / n).is_file()), None)
    if path is None:
        return Config()
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise UserError(f"config file {path} does not exist") from err
    except OSError as err:
        raise UserError(f"cannot read config {path}: {err.strerror}") from err
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"config {path} is not valid TOML: {err}") from err
    config = Config(source=str(path))
    known = {"model": config.model, "index": config.index, "qdrant": config.qdrant,
             "search": config.search}
    for section, values in data.items():
        if section not in known:
            raise UserError(f"config {path}: unknown section [{section}] "
                            f"(expected one of {', '.join(known)})")
        if not isinstance(values, dict):
            raise UserError(f"config {path}: '{section}' must be a [section] table")
        _fill(known[section], values, f"{path} [{section}]")
    _validate(config, path)
    return config


def _fill(target, values: dict, where: str) -> None:
    types = {f.name: f.type for f in fields(target)}
    for key, value in values.items():
        if key not in types:
            raise UserError(f"config {where}: unknown key '{key}' (known: {', '.join(types)})")
        current = getattr(target, key)
        expected = type(current)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or isinstance(value, bool) != isinstance(current, bool):
            raise UserError(f"config {where}: '{key}' must be {expected.__name__}, "
                            f"got {type(value).__name__}")
        if isinstance(value, list) and not all(isinstance(v, str) for v in value):
            raise UserError(f"config {where}: '{key}' must be a list of strings")
        setattr(target, key, value)


def _validate(config: Config, path: Path) -> None:
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", config.model.device):
        raise UserError(f"config {path}: [model] device must be auto, cpu, cuda or cuda:N, "
                        f"not '{config.model.device}'")
    if config.model.precision not in PRECISIONS:
        raise UserError(f"config {path}: [model] precision must be one of {', '.join(PRECISIONS)}")
    unknown = sorted(set(config.index.languages) - KNOWN_LANGUAGES)
    if unknown:
        raise UserError(f"config {path}: unknown language(s) {', '.join(unknown)} in [index] "
                        f"languages (known: {', '.join(sorted(KNOWN_LANGUAGES))})")
    if config.search.fusion not in FUSIONS:
        raise UserError(f"config {path}: [search] fusion must be one of {', '.join(FUSIONS)}")
    for name, value in (("model.max_length", config.model.max_length),
                        ("model.batch_tokens", config.model.batch_tokens),
                        ("index.max_file_bytes", config.index.max_file_bytes),
                        ("index.chunk_tokens", config.index.chunk_tokens),
                        ("search.limit", config.search.limit),
                        ("search.candidates", config.search.candidates)):
        if value <= 0:
            raise UserError(f"config {path}: {name} must be positive")
