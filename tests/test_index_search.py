"""The whole pipeline on a real multi-language git repository.

Search quality runs on the real bundled model (weights matter). Incremental
behaviour runs on a tiny random BERT (weights do not matter, speed does) against a
private copy of the repository per test.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import FIXTURE_FILES, git, make_tiny_bert, tiny_config

import codesearch.indexer as indexer_mod
from codesearch.chunk import chunk_file
from codesearch.config import Config
from codesearch.embed import read_model_info
from codesearch.errors import UserError
from codesearch.indexer import Indexer
from codesearch.languages import language_for_path
from codesearch.locate import open_store
from codesearch.search import Searcher
from codesearch.store import EdgeStore
from codesearch.walk import read_source, walk

# ----------------------------------------------------------------- helpers


def expected_chunks(root: Path) -> dict[str, int]:
    """Chunks per indexable file, computed independently of the indexer."""
    out = {}
    for f in walk(root).files:
        text, _ = read_source(f)
        if text is None:
            continue
        n = len(chunk_file(f.path, text, f.language).chunks)
        if n:
            out[f.path] = n
    return out


def n_chunks(root: Path, rel: str) -> int:
    text = (root / rel).read_text()
    return len(chunk_file(rel, text, language_for_path(rel)).chunks)


def stored(root: Path, config: Config) -> list[tuple]:
    """(id, path, file_hash, n_chunks, content_hash) of every chunk point, sorted.

    File markers (files without chunks, recorded so they are not re-read) are left out."""
    store = open_store(root, config)
    try:
        return sorted((s.id, s.path, s.file_hash, s.n_chunks, s.content_hash)
                      for s in store.state() if s.content_hash)
    finally:
        store.close()


def stored_count(root: Path, config: Config) -> int:
    store = open_store(root, config)
    try:
        return store.count()
    finally:
        store.close()


def meta_of(root: Path, config: Config) -> dict:
    store = open_store(root, config)
    try:
        return store.read_meta() or {}
    finally:
        store.close()


def bump_mtime(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))


# ------------------------------------------------- real model: search quality


@pytest.fixture(scope="module")
def real_index(tmp_path_factory, fixture_repo_template, real_encoder):
    root = tmp_path_factory.mktemp("real") / "toolbox"
    shutil.copytree(fixture_repo_template, root, symlinks=True)
    config = Config()
    summary = Indexer(root, config, encoder=real_encoder).run()
    searcher = Searcher(root, config, open_store(root, config), encoder=real_encoder)
    yield root, summary, searcher
    searcher.close()


@pytest.fixture(scope="module")
def searcher(real_index) -> Searcher:
    return real_index[2]


def test_index_summary(real_index):
    root, summary, _ = real_index
    expected = expected_chunks(root)
    assert summary.chunks_total == sum(expected.values())
    assert summary.chunks_embedded + summary.chunks_reused == summary.chunks_total
    assert summary.chunks_embedded > 0 and summary.tokens > 0
    skipped = {s.path: s.reason for s in summary.skipped}
    assert skipped == {
        ".env": "credentials or secrets",
        "package-lock.json": "lock file",
        "web/vendor.min.js": "minified bundle",
        "assets/logo.py": "binary",
        "web/app-bundle.js": "minified (very long lines)",
    }
    assert summary.files_indexed == len(FIXTURE_FILES)  # every source file, the empty one too
    assert summary.files_deleted == 0


def test_index_holds_every_file(real_index, searcher):
    root, _, _ = real_index
    assert searcher.store.paths() == sorted(expected_chunks(root))
    meta = searcher.meta
    assert meta["complete"] is True
    assert meta["root"] == str(root.resolve())
    assert meta["model_id"].startswith("all-MiniLM-L6-v2@") and meta["dim"] == 384
    assert meta["chunks"] == searcher.store.count()


NATURAL_LANGUAGE = [
    ("call a function again with increasing delay between attempts when it fails",
     "utils/retry.py", "retry_with_backoff"),
    ("split comma separated text into rows and fields", "web/csv.js", "parseCSV"),
    ("turn a string backwards", "web/strings.ts", "reverseString"),
    ("checksum digest of a file's contents", "utils/hashing.py", "sha256_of_file"),
    ("endpoint that reports whether the service is up", "server/handler.go", "HealthHandler"),
    ("find the position of a value in a sorted array by repeatedly halving the range",
     "server/bsearch.go", "BinarySearch"),
    ("cache that throws away the entry that was not touched for the longest time",
     "src/lru.rs", "LruCache"),
    ("deliver a message to a mailbox over SMTP", "mail/notify.py", "send_email"),
    ("load key value options from a configuration file on disk", "utils/settings.py",
     "read_settings_file"),
    ("wait until the user stops typing before running a callback", "web/debounce.js",
     "debounce"),
    ("how many single character changes turn one word into another", "src/edit_distance.rs",
     "levenshtein"),
    ("how do I ship a new release to the production cluster", "docs/deploy.md",
     "Operations > Deploying to production"),
    ("check whether a number is divisible only by one and itself", "utils/settings.py",
     "is_prime"),
    ("convert degrees between temperature scales",
     "java/src/main/java/app/TemperatureConverter.java", "TemperatureConverter"),
    ("rotate database credentials", "docs/deploy.md",
     "Operations > Rotating the database password"),
]


@pytest.mark.parametrize(("query", "path", "symbol"), NATURAL_LANGUAGE,
                         ids=[s for _, _, s in NATURAL_LANGUAGE])
def test_natural_language_query_top3(searcher, query, path, symbol):
    hits = searcher.search(query, limit=3)
    assert (path, symbol) in [(h.path, h.symbol) for h in hits], [
        (h.path, h.symbol) for h in hits]


IDENTIFIERS = [
    ("retry_with_backoff", "utils/retry.py", "retry_with_backoff"),
    ("sha256_of_file", "utils/hashing.py", "sha256_of_file"),
    ("BinarySearch", "server/bsearch.go", "BinarySearch"),
    ("LruCache", "src/lru.rs", "LruCache"),
    ("reverseString", "web/strings.ts", "reverseString"),
    ("capitalizeWords", "web/strings.ts", "capitalizeWords"),
    ("HealthHandler", "server/handler.go", "HealthHandler"),
    ("levenshtein", "src/edit_distance.rs", "levenshtein"),
    ("read_settings_file", "utils/settings.py", "read_settings_file"),
    ("send_email", "mail/notify.py", "send_email"),
    ("is_prime", "utils/settings.py", "is_prime"),
    ("debounce", "web/debounce.js", "debounce"),
    # A method inside a class small enough to be one chunk: the class chunk.
    ("fahrenheitToCelsius", "java/src/main/java/app/TemperatureConverter.java",
     "TemperatureConverter"),
]


@pytest.mark.parametrize(("query", "path", "symbol"), IDENTIFIERS, ids=[q for q, _, _ in IDENTIFIERS])
def test_identifier_query_rank1(searcher, query, path, symbol):
    top = searcher.search(query, limit=5)[0]
    assert (top.path, top.symbol) == (path, symbol)
    assert top.start_line <= top.end_line


# Identifiers whose name also appears in another chunk (a type used by a function, a
# qualified method name): the definition must still come first.
DEFINITIONS_OVER_USES = [
    ("parseCSV", "web/csv.js", "parseCSV"),          # also in `module.exports = { parseCSV }`
    ("healthResponse", "server/handler.go", "healthResponse"),
    ("LruCache.put", "src/lru.rs", "LruCache.put"),
]


@pytest.mark.parametrize(("query", "path", "symbol"), DEFINITIONS_OVER_USES,
                         ids=[q for q, _, _ in DEFINITIONS_OVER_USES])
def test_identifier_query_prefers_definition_over_uses(searcher, query, path, symbol):
    hits = searcher.search(query, limit=5)
    assert (hits[0].path, hits[0].symbol) == (path, symbol), [(h.path, h.symbol) for h in hits]


def test_search_is_deterministic(searcher):
    # The same query on the same index must give the same ranking every time, even when
    # two chunks tie on the fused score.
    for query in ("parseCSV", "healthResponse", "retry_with_backoff"):
        first = [(h.path, h.start_line) for h in searcher.search(query, limit=5)]
        for _ in range(15):
            again = [(h.path, h.start_line) for h in searcher.search(query, limit=5)]
            assert again == first, query


def test_hits_point_at_real_source_lines(real_index, searcher):
    root, _, _ = real_index
    for query in ("retry with backoff", "LruCache", "parse csv", "deploy to production"):
        for hit in searcher.search(query, limit=5):
            lines = (root / hit.path).read_text().splitlines()
            assert 1 <= hit.start_line <= hit.end_line <= len(lines)
            assert hit.code == "\n".join(lines[hit.start_line - 1:hit.end_line])
            assert hit.snippet and hit.snippet.splitlines()[0] in hit.code
            assert hit.language == language_for_path(hit.path)


def test_scores_descending(searcher):
    for fusion in ("blend", "rrf", "dbsf", "dense", "sparse"):
        hits = searcher.search("read a file", limit=10, fusion=fusion)
        assert hits, fusion
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True)


def test_limit_and_empty_query(searcher):
    assert len(searcher.search("function", limit=4)) == 4
    assert len(searcher.search("function")) == 10  # the config's default limit
    assert searcher.search("   ") == []


def test_filter_by_language(searcher):
    hits = searcher.search("function that handles a request", limit=20, languages=["go"])
    assert hits and {h.language for h in hits} == {"go"}
    assert {h.path for h in hits} == {"server/handler.go", "server/bsearch.go"}
    hits = searcher.search("string", limit=20, languages=["typescript", "rust"])
    assert {h.language for h in hits} == {"typescript", "rust"}


def test_filter_by_kind(searcher):
    hits = searcher.search("how to deploy", limit=20, kinds=["section"])
    assert hits and {h.kind for h in hits} == {"section"}
    assert {h.path for h in hits} == {"README.md", "docs/deploy.md"}
    hits = searcher.search("cache", limit=20, kinds=["method"])
    assert {h.symbol for h in hits} == {"LruCache.new", "LruCache.get", "LruCache.put"}


def test_filter_by_glob(searcher):
    hits = searcher.search("parse", limit=20, glob="web/**")
    assert hits and all(h.path.startswith("web/") for h in hits)
    hits = searcher.search("cache", limit=20, glob="*.rs")
    assert {h.path for h in hits} == {"src/lru.rs", "src/edit_distance.rs"}
    hits = searcher.search("parse", limit=20, glob="utils/")
    assert hits and all(h.path.startswith("utils/") for h in hits)
    assert searcher.search("parse", glob="*.nothing") == []


def test_filters_combine(searcher):
    hits = searcher.search("retry", limit=20, languages=["python"], kinds=["function"],
                           glob="utils/**")
    assert hits and all(h.language == "python" and h.kind == "function"
                        and h.path.startswith("utils/") for h in hits)
    assert hits[0].symbol == "retry_with_backoff"
    assert searcher.search("retry", languages=["python"], kinds=["section"]) == []


def test_second_open_while_a_searcher_holds_the_index(real_index, real_encoder):
    root, _, _ = real_index
    # The module's searcher holds the embedded store's lock: a second opener must get a
    # clear UserError rather than a crash.
    with pytest.raises(UserError, match="open in another codesearch process"):
        Searcher.open(root, encoder=real_encoder)


def test_search_from_several_threads(searcher):
    from concurrent.futures import ThreadPoolExecutor

    queries = [q for q, _, _ in IDENTIFIERS[:6]]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda q: searcher.search(q, limit=1)[0].symbol, queries))
    assert results == [s for _, _, s in IDENTIFIERS[:6]]


# ------------------------------------------------ tiny model: incremental updates


@pytest.fixture
def tiny_index(fixture_repo, tiny_encoder, tiny_model_dir):
    """The fixture repo, indexed once with the tiny model; returns (root, config, summary)."""
    config = tiny_config(tiny_model_dir)
    summary = Indexer(fixture_repo, config, encoder=tiny_encoder).run()
    return fixture_repo, config, summary


def reindex(root, config, encoder, **kw):
    return Indexer(root, config, encoder=encoder).run(**kw)


def test_first_index_counts(tiny_index):
    root, config, summary = tiny_index
    expected = expected_chunks(root)
    assert summary.chunks_total == sum(expected.values()) == stored_count(root, config)
    assert summary.chunks_embedded == summary.chunks_total - summary.chunks_reused
    per_path: dict[str, int] = {}
    for _, path, _, n, _ in stored(root, config):
        per_path[path] = per_path.get(path, 0) + 1
        assert n == expected[path]
    assert per_path == expected


def test_unchanged_reindex_does_no_work(tiny_index, tiny_encoder):
    root, config, first = tiny_index
    before = stored(root, config)
    s = reindex(root, config, tiny_encoder)
    assert s.chunks_embedded == 0 and s.chunks_reused == 0
    assert s.chunks_total == first.chunks_total
    assert stored(root, config) == before
    # Nothing changed, so nothing may be reported as (re-)indexed; this includes the
    # empty utils/__init__.py, which has no chunks to store.
    assert s.files_indexed == 0
    assert s.files_unchanged == s.files_seen - 2  # the binary and the minified file


def test_edit_single_chunk_file_reembeds_exactly_it(tiny_index, tiny_encoder):
    root, config, first = tiny_index
    rel = "web/debounce.js"
    path = root / rel
    path.write_text(path.read_text().replace("clearTimeout(timer);",
                                             "if (timer) clearTimeout(timer);"))
    s = reindex(root, config, tiny_encoder)
    assert s.chunks_embedded == n_chunks(root, rel) == 1
    assert s.chunks_reused == 0
    assert s.chunks_total == first.chunks_total == stored_count(root, config)
    assert s.files_indexed == 1


def test_edit_one_function_reuses_the_rest(tiny_index, tiny_encoder):
    root, config, first = tiny_index
    rel = "utils/settings.py"
    before = {p for p in stored(root, config) if p[1] == rel}
    path = root / rel
    path.write_text(path.read_text().replace("def is_prime(n):", "def is_prime_number(n):"))
    s = reindex(root, config, tiny_encoder)
    new_count = n_chunks(root, rel)
    assert s.chunks_embedded == 1              # only the renamed function changed
    assert s.chunks_embedded + s.chunks_reused == new_count
    after = {p for p in stored(root, config) if p[1] == rel}
    assert len(after) == new_count
    assert not before & after                  # new ids: the old version is gone
    assert len({p[2] for p in after}) == 1     # one file hash
    assert s.chunks_total == first.chunks_total == stored_count(root, config)
    assert s.files_indexed == 1


def test_edit_adds_chunks(tiny_index, tiny_encoder):
    root, config, first = tiny_index
    rel = "web/strings.ts"
    with open(root / rel, "a") as handle:
        handle.write("\n/** Count the vowels in a word. */\n"
                     "export function countVowels(word: string): number {\n"
                     "  return (word.match(/[aeiou]/gi) || []).length;\n}\n")
    s = reindex(root, config, tiny_encoder)
    assert n_chunks(root, rel) == 3
    assert s.chunks_embedded == 1 and s.chunks_reused == 2
    assert s.chunks_total == first.chunks_total + 1 == stored_count(root, config)
    assert s.files_indexed == 1


def test_delete_file_removes_its_chunks(tiny_index, tiny_encoder):
    root, config, first = tiny_index
    rel = "src/lru.rs"
    removed = n_chunks(root, rel)
    git(root, "rm", "-q", rel)
    s = reindex(root, config, tiny_encoder)
    assert s.files_deleted == 1
    assert s.chunks_embedded == 0
    assert s.chunks_total == first.chunks_total - removed == stored_count(root, config)
    assert rel not in {p[1] for p in stored(root, config)}
    with Searcher(root, config, open_store(root, config), encoder=tiny_encoder) as searcher:
        for query in ("LruCache", "least recently used cache", "put get evict"):
            for fusion in ("rrf", "sparse", "dense"):
                assert rel not in {h.path for h in searcher.search(query, limit=50,
                                                                    fusion=fusion)}
        assert searcher.search("LruCache", glob="src/lru.rs") == []
    assert s.files_indexed == 0


def test_glob_resolution_follows_the_index(tiny_index, tiny_encoder):
    root, config, _ = tiny_index
    with Searcher(root, config, open_store(root, config), encoder=tiny_encoder) as searcher:
        assert searcher.search("cache eviction", glob="extra/**") == []  # resolved and kept
        (root / "extra").mkdir()
        (root / "extra" / "evict.py").write_text("def evict_oldest(cache):\n"
                                                 "    cache.pop(next(iter(cache)))\n")
        reindex(root, config, tiny_encoder, store=searcher.store)  # as the TUI does
        hits = searcher.search("cache eviction", glob="extra/**")
        assert [h.symbol for h in hits] == ["evict_oldest"]


@pytest.mark.parametrize("glob", ["web/**", "*.rs", "utils/", "**/lru.rs", "src/lru.rs",
                                  "!*.py", "docs/*.md", "[a-t]*/**"])
def test_matching_paths_agrees_with_pathspec(tiny_index, glob):
    import pathspec

    from codesearch.search import matching_paths

    root, config, _ = tiny_index
    paths = sorted({p[1] for p in stored(root, config)})
    spec = pathspec.GitIgnoreSpec.from_lines([glob])
    assert matching_paths(glob, paths) == [p for p in paths if spec.match_file(p)]


def test_move_file_reuses_vectors(tiny_index, tiny_encoder):
    root, config, first = tiny_index
    old, new = "utils/hashing.py", "utils/digest.py"
    moved = n_chunks(root, old)
    git(root, "mv", old, new)
    s = reindex(root, config, tiny_encoder)
    assert s.chunks_embedded == 0
    assert s.chunks_reused == moved > 0
    assert s.files_deleted == 1
    assert s.chunks_total == first.chunks_total == stored_count(root, config)
    paths = {p[1] for p in stored(root, config)}
    assert new in paths and old not in paths
    with Searcher(root, config, open_store(root, config), encoder=tiny_encoder) as searcher:
        top = searcher.search("sha256_of_file", limit=1, fusion="sparse")[0]
        assert (top.path, top.symbol) == (new, "sha256_of_file")
    assert s.files_indexed == 1


def test_copied_file_reuses_vectors(tiny_index, tiny_encoder):
    root, config, first = tiny_index
    shutil.copy(root / "web/csv.js", root / "web/csv_copy.js")
    s = reindex(root, config, tiny_encoder)
    copied = n_chunks(root, "web/csv.js")
    assert s.chunks_embedded == 0 and s.chunks_reused == copied
    assert s.chunks_total == first.chunks_total + copied == stored_count(root, config)


def test_touch_without_change_is_not_reindexed(tiny_index, tiny_encoder, monkeypatch):
    root, config, _ = tiny_index
    rel = "utils/retry.py"
    bump_mtime(root / rel)
    before = stored(root, config)
    s = reindex(root, config, tiny_encoder)
    assert s.chunks_embedded == 0 and s.chunks_reused == 0
    assert stored(root, config) == before
    # The new mtime is recorded, so the next run does not even read the file.
    store = open_store(root, config)
    try:
        mtimes = {c.mtime_ns for c in store.state() if c.path == rel}
    finally:
        store.close()
    assert mtimes == {(root / rel).stat().st_mtime_ns}
    read = []

    def recording_read_source(file):
        read.append(file.path)
        return read_source(file)

    monkeypatch.setattr(indexer_mod, "read_source", recording_read_source)
    reindex(root, config, tiny_encoder)
    assert rel not in read


def test_file_turned_binary_is_removed(tiny_index, tiny_encoder):
    root, config, first = tiny_index
    rel = "mail/notify.py"
    gone = n_chunks(root, rel)
    (root / rel).write_bytes(b"\x00\x01\x02 compiled")
    s = reindex(root, config, tiny_encoder)
    assert (rel, "binary") in {(x.path, x.reason) for x in s.skipped}
    assert s.chunks_total == first.chunks_total - gone == stored_count(root, config)


def test_file_emptied_is_removed(tiny_index, tiny_encoder):
    root, config, first = tiny_index
    rel = "src/edit_distance.rs"
    (root / rel).write_text("")
    s = reindex(root, config, tiny_encoder)
    assert rel not in {p[1] for p in stored(root, config)}
    assert s.chunks_total == first.chunks_total - 1 == stored_count(root, config)


def test_newly_ignored_file_is_removed(tiny_index, tiny_encoder):
    root, config, first = tiny_index
    gone = sum(n for p, n in expected_chunks(root).items() if p.startswith("web/"))
    (root / ".gitignore").write_text("web/\n")
    s = reindex(root, config, tiny_encoder)
    assert s.files_deleted == 3  # csv.js, debounce.js, strings.ts
    assert s.chunks_total == first.chunks_total - gone == stored_count(root, config)


def test_chunker_settings_change_rechunks_but_reuses_vectors(tiny_index, tiny_encoder):
    root, config, first = tiny_index
    config.index.chunk_tokens = 257  # same chunks for this repo, different settings
    s = reindex(root, config, tiny_encoder)
    assert s.chunks_embedded == 0
    assert s.chunks_reused == first.chunks_total
    assert s.chunks_total == first.chunks_total == stored_count(root, config)
    assert len({p[2] for p in stored(root, config) if p[1] == "src/lru.rs"}) == 1


def test_changed_model_refused_then_full_rebuild(fixture_repo, tiny_model_dir,
                                                 other_tiny_model_dir):
    root = fixture_repo
    first = Indexer(root, tiny_config(tiny_model_dir)).run()
    other = tiny_config(other_tiny_model_dir)
    with pytest.raises(UserError) as info:
        Indexer(root, other).run()
    message = str(info.value)
    assert "--full" in message
    assert read_model_info(tiny_model_dir).model_id in message       # what the index has
    assert read_model_info(other_tiny_model_dir).model_id in message  # what the config names
    assert stored_count(root, tiny_config(tiny_model_dir)) == first.chunks_total  # untouched
    store = open_store(root, other)
    try:
        with pytest.raises(UserError, match="--full"):
            Searcher(root, other, store)  # search with the other model is refused too
    finally:
        store.close()
    rebuilt = Indexer(root, other).run(full=True)
    assert rebuilt.chunks_embedded + rebuilt.chunks_reused == first.chunks_total
    assert rebuilt.chunks_reused == 0  # vectors of the old model are never reused
    meta = meta_of(root, other)
    assert meta["model_id"].startswith(f"{other_tiny_model_dir.name}@")
    assert meta["complete"] is True
    with Searcher.open(root) as searcher:  # settings.json now names the new model
        assert searcher.search("parseCSV", limit=1, fusion="sparse")[0].symbol == "parseCSV"


def test_changed_dimension_refused(fixture_repo, tiny_model_dir, tmp_path, minilm_path):
    Indexer(fixture_repo, tiny_config(tiny_model_dir)).run()
    wide = make_tiny_bert(tmp_path / "wide", minilm_path, hidden=48)
    with pytest.raises(UserError, match="dim 48"):
        Indexer(fixture_repo, tiny_config(wide)).run()


@pytest.mark.parametrize("interrupt_after", [1, 4, 7])
def test_interrupted_run_resumes_to_a_clean_index(fixture_repo, tmp_path, tiny_encoder,
                                                  tiny_model_dir, monkeypatch, interrupt_after):
    root = fixture_repo
    clean_root = tmp_path / "clean"
    shutil.copytree(root, clean_root, symlinks=True)  # same contents and mtimes
    config = tiny_config(tiny_model_dir)

    monkeypatch.setattr(indexer_mod, "EMBED_BATCH_CHUNKS", 3)
    monkeypatch.setattr(indexer_mod, "UPSERT_BATCH", 2)  # files span several upserts
    store = open_store(root, config, tiny_encoder.info.dim)
    real_upsert, calls = store.upsert, []

    def flaky_upsert(points):
        if all(p.dense is None for p in points):  # file markers: not what we interrupt
            return real_upsert(points)
        calls.append(len(points))
        if len(calls) > interrupt_after:
            raise KeyboardInterrupt
        real_upsert(points)

    store.upsert = flaky_upsert
    try:
        with pytest.raises(KeyboardInterrupt):
            Indexer(root, config, encoder=tiny_encoder).run(store=store)
    finally:
        store.close()
    partial = stored(root, config)
    expected = expected_chunks(root)
    assert 0 < len(partial) < sum(expected.values())
    assert meta_of(root, config)["complete"] is False
    per_path: dict[str, list] = {}
    for p in partial:
        per_path.setdefault(p[1], []).append(p)
    complete = {path for path, points in per_path.items() if len(points) == expected[path]}

    monkeypatch.undo()
    resumed = reindex(root, config, tiny_encoder)
    clean = reindex(clean_root, config, tiny_encoder)
    assert stored(root, config) == stored(clean_root, config)
    assert resumed.chunks_total == clean.chunks_total == stored_count(root, config)
    assert meta_of(root, config)["complete"] is True
    # Work done before the interruption is kept: files completed then are not redone.
    assert resumed.files_indexed == clean.files_indexed - len(complete)
    assert resumed.chunks_embedded + resumed.chunks_reused == (
        clean.chunks_total - sum(expected[p] for p in complete))


def test_interrupted_update_keeps_a_searchable_version(tiny_index, tiny_encoder, monkeypatch):
    root, config, first = tiny_index
    rel = "src/lru.rs"
    path = root / rel
    n = n_chunks(root, rel)
    assert n > 2
    path.write_text(path.read_text().replace("min_by_key", "min_by_key /* oldest */"))
    monkeypatch.setattr(indexer_mod, "UPSERT_BATCH", 2)
    store = open_store(root, config)
    real_upsert, calls = store.upsert, []

    def flaky_upsert(points):
        calls.append(len(points))
        if len(calls) > 1:   # the new version is half written
            raise KeyboardInterrupt
        real_upsert(points)

    store.upsert = flaky_upsert
    try:
        with pytest.raises(KeyboardInterrupt):
            Indexer(root, config, encoder=tiny_encoder).run(store=store)
    finally:
        store.close()
    during = [p for p in stored(root, config) if p[1] == rel]
    assert len({p[2] for p in during}) == 2  # old version complete, new version partial
    assert len(during) == n + 2
    monkeypatch.undo()
    s = reindex(root, config, tiny_encoder)
    after = [p for p in stored(root, config) if p[1] == rel]
    assert len(after) == n and len({p[2] for p in after}) == 1
    assert s.chunks_total == first.chunks_total == stored_count(root, config)


def test_index_configured_languages_and_excludes(fixture_repo, tiny_encoder, tiny_model_dir):
    config = tiny_config(tiny_model_dir)
    config.index.languages = ["python", "markdown"]
    config.index.exclude = ["mail/"]
    s = Indexer(fixture_repo, config, encoder=tiny_encoder).run()
    paths = {p[1] for p in stored(fixture_repo, config)}
    assert paths == {"README.md", "docs/deploy.md", "utils/retry.py", "utils/hashing.py",
                     "utils/settings.py"}
    assert s.chunks_total == stored_count(fixture_repo, config)


def test_index_elsewhere_via_config_path(fixture_repo, tmp_path, tiny_encoder, tiny_model_dir):
    config = tiny_config(tiny_model_dir)
    config.index.path = str(tmp_path / "elsewhere")
    s = Indexer(fixture_repo, config, encoder=tiny_encoder).run()
    assert (tmp_path / "elsewhere" / "qdrant").is_dir()
    assert not (fixture_repo / ".codesearch" / "qdrant").exists()
    assert (fixture_repo / ".codesearch" / "settings.json").is_file()  # found by search
    with Searcher.open(fixture_repo / "utils", encoder=tiny_encoder) as searcher:
        assert searcher.store.count() == s.chunks_total
        assert searcher.search("send_email", limit=1, fusion="sparse")[0].path == "mail/notify.py"


def test_edge_store_is_reopenable_after_index(tiny_index):
    root, _, summary = tiny_index
    store = EdgeStore(root / ".codesearch" / "qdrant", None)
    try:
        assert store.count() == summary.chunks_total
    finally:
        store.close()


def test_not_a_directory(tmp_path, tiny_model_dir):
    (tmp_path / "file.py").write_text("x = 1\n")
    with pytest.raises(UserError, match="not a directory"):
        Indexer(tmp_path / "file.py", tiny_config(tiny_model_dir))


GLOBS = ["web/**", "*.rs", "utils/", "**/lru.rs", "src/lru.rs", "!*.py", "docs/*.md",
         "[a-t]*/**", "*.nothing"]


def test_path_scope_covers_exactly_the_matched_paths():
    from codesearch.search import path_scope

    paths = ["a/x.py", "a/y.py", "a/b/z.py", "a/b/w.go", "c/d/e.py", "top.py"]
    assert path_scope(["a/b/z.py", "a/b/w.go"], paths) == (["a/b"], [])
    assert path_scope(["a/x.py", "a/y.py", "a/b/z.py", "a/b/w.go"], paths) == (["a"], [])
    # a/b is only partly matched, so its file is named; c/d is whole, and so is c.
    assert path_scope(["a/b/z.py", "c/d/e.py", "top.py"], paths) == (["c"], ["a/b/z.py", "top.py"])
    assert path_scope([], paths) == ([], [])


@pytest.mark.parametrize("glob", GLOBS)
def test_glob_by_folders_returns_what_exact_paths_return(tiny_index, tiny_encoder, glob):
    from codesearch.search import matching_paths
    from codesearch.store import Filters, Fusion

    root, config, _ = tiny_index
    with Searcher(root, config, open_store(root, config), encoder=tiny_encoder) as searcher:
        got = searcher.search("parse a file and cache it", limit=200, glob=glob, fusion="dense")
        matched = matching_paths(glob, searcher.store.paths())
        vector = searcher.encoder.encode_queries(["parse a file and cache it"])[0]
        exact = searcher.store.query(vector, None, Filters(paths=matched), 208, Fusion("dense"))
        assert {(h.path, h.start_line) for h in got} == {
            (s.payload["path"], s.payload["start_line"]) for s in exact}
        assert all(h.path in matched for h in got)
        if glob == "web/**":  # one folder, not its files, goes to Qdrant
            scope = searcher._globs[glob]
            assert (scope.dirs, scope.paths) == (["web"], [])


@pytest.mark.parametrize("flag", [None, True], ids=["no folders", "folder names"])
def test_an_older_index_gets_folders_on_its_next_run(tiny_index, tiny_encoder, flag):
    root, config, _ = tiny_index
    store = open_store(root, config, tiny_encoder.info.dim)
    qe = store.qe
    # As an index made before chunks carried folder ids: none, and no flag or the flag of
    # folder names ("dirs", which an index made then holds instead).
    store.shard.update(qe.UpdateOperation.delete_payload_by_filter(
        qe.Filter(must_not=[qe.IsEmptyCondition("content_hash")]), ["dir_ids"]))
    meta = store.read_meta()
    del meta["path_dirs"]
    if flag is not None:
        meta["path_dirs"] = flag
    store.write_meta(meta)
    store.close()
    with Searcher(root, config, open_store(root, config), encoder=tiny_encoder) as searcher:
        before = searcher.search("parse", limit=20, glob="web/**")
        assert before and searcher._globs["web/**"].dirs == []  # exact paths, still right
    s = reindex(root, config, tiny_encoder)
    assert s.files_indexed == 0 and s.chunks_embedded == 0
    with Searcher(root, config, open_store(root, config), encoder=tiny_encoder) as searcher:
        after = searcher.search("parse", limit=20, glob="web/**")
        assert searcher._globs["web/**"].dirs == ["web"]
        assert [(h.path, h.start_line) for h in after] == [(h.path, h.start_line) for h in before]
