"""Where an index lives, and opening the right Qdrant backend for it.

An index belongs to a repository root. Its folder (default `<root>/.codesearch`)
holds the embedded Qdrant shard and `settings.json`: the config it was built with
(never the API key), so later `search` and `status` calls find the same store,
embedded or server, without repeating `--config`.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

from codesearch.config import (
    CONFIG_NAMES,
    Config,
    IndexConfig,
    ModelConfig,
    QdrantConfig,
    SearchConfig,
    load_config,
)
from codesearch.errors import UserError
from codesearch.store import ClientStore, EdgeStore, Store

INDEX_DIRNAME = ".codesearch"
SETTINGS = "settings.json"


def find_root(start: Path) -> Path:
    """The nearest ancestor holding an index, else the nearest git repository, else start."""
    start = start.resolve()
    for candidate in (start, *start.parents):
        if (candidate / INDEX_DIRNAME / SETTINGS).is_file():
            return candidate
    for candidate in (start, *start.parents):
        if (candidate / ".git").exists():
            return candidate
    return start


def index_dir(root: Path, config: Config) -> Path:
    if config.index.path:
        path = Path(config.index.path).expanduser()
        return path if path.is_absolute() else (root / path)
    return root / INDEX_DIRNAME


def collection_name(root: Path, config: Config) -> str:
    if config.qdrant.collection:
        return config.qdrant.collection
    digest = hashlib.blake2b(str(root).encode(), digest_size=4).hexdigest()
    return f"codesearch_{root.name[:40] or 'root'}_{digest}"


def open_store(root: Path, config: Config, dim: int | None = None) -> Store:
    """Open (or, given `dim`, create) the index's Qdrant store."""
    if config.qdrant.url:
        return ClientStore(collection_name(root, config), dim, url=config.qdrant.url,
                           api_key=config.qdrant.resolved_api_key(), timeout=config.qdrant.timeout,
                           api_key_env=config.qdrant.api_key_env)
    return EdgeStore(index_dir(root, config) / "qdrant", dim)


def drop_store(root: Path, config: Config) -> None:
    """Delete the index's data (for `index --full`)."""
    if config.qdrant.url:
        from qdrant_client import QdrantClient

        client = QdrantClient(url=config.qdrant.url, api_key=config.qdrant.resolved_api_key(),
                              timeout=int(config.qdrant.timeout))
        name = collection_name(root, config)
        if client.collection_exists(name):
            client.delete_collection(name)
        client.close()
    else:
        import shutil

        shutil.rmtree(index_dir(root, config) / "qdrant", ignore_errors=True)


def save_settings(root: Path, config: Config) -> None:
    # Always beside the repository, even when the data lives elsewhere, so that
    # `search` run inside the repository finds it.
    folder = root / INDEX_DIRNAME
    folder.mkdir(parents=True, exist_ok=True)
    data = asdict(config)
    data["qdrant"]["api_key"] = ""  # secrets stay in the environment or the user's config
    tmp = folder / (SETTINGS + ".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, folder / SETTINGS)
    # Keep the index out of the user's `git status` even without a .gitignore entry.
    ignore = folder / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")


def config_for_indexing(root: Path, config_path: Path | None) -> Config:
    """The config an index run uses: an explicit file, else the repository's own
    .codesearch.toml, else what the index was last built with (so a plain re-index
    keeps a server URL or model given once with --config), else the defaults."""
    if config_path is None and not any((root / n).is_file() for n in CONFIG_NAMES):
        return resolve_config(root, None)
    return load_config(config_path, root)


def resolve_config(root: Path, config_path: Path | None) -> Config:
    """The config for an existing index: an explicit file, else what the index was built with."""
    if config_path is not None:
        return load_config(config_path, root)
    saved = root / INDEX_DIRNAME / SETTINGS
    if saved.is_file():
        try:
            data = json.loads(saved.read_text())
            config = Config(
                model=ModelConfig(**data["model"]),
                index=IndexConfig(**data["index"]),
                qdrant=QdrantConfig(**data["qdrant"]),
                search=SearchConfig(**data["search"]),
                source=str(saved),
            )
            return config
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise UserError(f"{saved} is damaged ({err}); re-create it with 'codesearch index'") from err
    return load_config(None, root)
