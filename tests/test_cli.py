"""The `codesearch` command: output formats, exit codes and error messages.

Most tests call `codesearch.cli.main(argv)` in-process; a few run
`python -m codesearch` in a real subprocess. The repositories are indexed with
the tiny model (the CLI loads it from the config), so every call is quick.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git, run_cli, write_tiny_config

from codesearch.chunk import chunk_file
from codesearch.cli import main
from codesearch.store import EdgeStore

REQUIRED = {"path", "start_line", "end_line", "symbol", "kind", "language", "score", "snippet"}


def cli(capsys, *argv, stdin: str | None = None, monkeypatch=None) -> tuple[int, str, str]:
    """Run main(argv) like the process would: SystemExit becomes the exit code."""
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def json_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def assert_one_line_error(code: int, out: str, err: str, *fragments: str) -> None:
    assert code == 2, (out, err)
    assert "Traceback" not in err and "Traceback" not in out
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("codesearch: error:")
    for fragment in fragments:
        assert fragment in lines[0]


# ----------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def indexed_repo(tmp_path_factory, fixture_repo_template, tiny_model_dir) -> Path:
    """A fixture repo indexed through the CLI with the tiny model; read-only for tests."""
    base = tmp_path_factory.mktemp("cli")
    root = base / "toolbox"
    shutil.copytree(fixture_repo_template, root, symlinks=True)
    config = write_tiny_config(base, tiny_model_dir)
    assert main(["index", str(root), "--config", str(config), "-q"]) == 0
    return root


@pytest.fixture
def fresh_repo(fixture_repo, tmp_path, tiny_model_dir) -> tuple[Path, Path]:
    """A private, not yet indexed copy, and a config naming the tiny model."""
    return fixture_repo, write_tiny_config(tmp_path, tiny_model_dir)


# ------------------------------------------------------------------- search


def test_search_json_lines(capsys, indexed_repo):
    code, out, err = cli(capsys, "search", "retry_with_backoff", indexed_repo, "--json", "-k",
                         "5", "--fusion", "sparse")
    assert code == 0 and err == ""
    hits = json_lines(out)
    assert 1 <= len(hits) <= 5
    for hit in hits:
        assert set(hit) >= REQUIRED
        assert "code" not in hit and "query" not in hit
        assert isinstance(hit["start_line"], int) and isinstance(hit["score"], float)
        assert hit["start_line"] <= hit["end_line"]
        assert (indexed_repo / hit["path"]).is_file()
    top = hits[0]
    assert (top["path"], top["symbol"], top["kind"], top["language"]) == (
        "utils/retry.py", "retry_with_backoff", "function", "python")
    assert (top["start_line"], top["end_line"]) == (7, 16)
    assert top["snippet"].splitlines()[0] == (
        "def retry_with_backoff(func, attempts=5, base_delay=0.5, max_delay=30.0):")


def test_search_default_limit_is_ten(capsys, indexed_repo):
    code, out, _ = cli(capsys, "search", "function", indexed_repo, "--json")
    assert code == 0 and len(json_lines(out)) == 10


def test_search_text_output(capsys, indexed_repo):
    code, out, err = cli(capsys, "search", "sha256_of_file", indexed_repo, "-k", "1",
                         "--fusion", "sparse")
    assert code == 0 and err == ""
    first = out.splitlines()[0]
    assert first.startswith("utils/hashing.py:4  sha256_of_file  function python ")
    assert "\x1b[" not in out  # no colour when not a terminal
    assert "    def sha256_of_file(path, block_size=65536):" in out


def test_search_reads_queries_from_stdin(capsys, monkeypatch, indexed_repo):
    code, out, err = cli(capsys, "search", "-", indexed_repo, "--json", "-k", "2",
                         "--fusion", "sparse", stdin="parseCSV\n\n   \nsend_email\n",
                         monkeypatch=monkeypatch)
    assert code == 0 and err == ""
    hits = json_lines(out)
    assert len(hits) == 4
    assert [h["query"] for h in hits] == ["parseCSV", "parseCSV", "send_email", "send_email"]
    assert all(set(h) >= REQUIRED for h in hits)
    assert hits[2]["symbol"] == "send_email"


def test_search_from_a_subdirectory_finds_the_index(capsys, indexed_repo):
    code, out, _ = cli(capsys, "search", "send_email", indexed_repo / "utils", "--json",
                       "--fusion", "sparse", "-k", "1")
    assert code == 0
    assert json_lines(out)[0]["path"] == "mail/notify.py"  # paths stay repo-relative


def test_search_filters(capsys, indexed_repo):
    code, out, _ = cli(capsys, "search", "parse text", indexed_repo, "--json", "-k", "50",
                       "--lang", "javascript", "--lang", "typescript", "--kind", "function",
                       "--glob", "web/**")
    assert code == 0
    hits = json_lines(out)
    assert {h["symbol"] for h in hits} == {"parseCSV", "debounce", "reverseString",
                                           "capitalizeWords"}
    code, out, _ = cli(capsys, "search", "anything", indexed_repo, "--json", "-k", "50",
                       "--kind", "section")
    assert code == 0 and {h["language"] for h in json_lines(out)} == {"markdown"}


def test_search_unknown_language_is_an_error(capsys, indexed_repo):
    code, out, err = cli(capsys, "search", "retry", indexed_repo, "--lang", "pyhton")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "unknown language" in err and "python" in err


@pytest.mark.parametrize("args", [
    ["--glob", "*.nothing"],
    ["--glob", "does/not/exist/**"],
    ["--lang", "bash"],  # a language the fixture repo has no file in
    ["--lang", "go", "--kind", "section"],
])
def test_search_exit_1_when_nothing_found(capsys, indexed_repo, args):
    code, out, err = cli(capsys, "search", "retry", indexed_repo, *args)
    assert (code, out, err) == (1, "", "")
    code, out, err = cli(capsys, "search", "retry", indexed_repo, "--json", *args)
    assert (code, out, err) == (1, "", "")


def test_search_blank_stdin_finds_nothing(capsys, monkeypatch, indexed_repo):
    code, out, err = cli(capsys, "search", "-", indexed_repo, stdin="\n\n",
                         monkeypatch=monkeypatch)
    assert (code, out, err) == (1, "", "")


# ------------------------------------------------------------------- errors


def test_error_nonexistent_path(capsys, tmp_path):
    missing = tmp_path / "nope"
    for argv in (["search", "x", missing], ["index", missing], ["status", missing]):
        assert_one_line_error(*cli(capsys, *argv), "does not exist", str(missing))


def test_error_index_a_file(capsys, tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    assert_one_line_error(*cli(capsys, "index", tmp_path / "a.py"), "not a directory")


def test_error_no_index(capsys, tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    for argv in (["search", "x", tmp_path], ["status", tmp_path]):
        assert_one_line_error(*cli(capsys, *argv), "codesearch index")


@pytest.mark.parametrize(("text", "fragment"), [
    ("[modle]\n", "unknown section [modle]"),
    ("[search]\nfusion = 'best'\n", "fusion must be one of"),
    ("[index\n", "not valid TOML"),
    ("[model]\nname = '/no/such/model/dir'\n", "/no/such/model/dir"),
    ("[model]\ndevice = 'gpu'\n", "device"),
])
def test_error_invalid_config(capsys, tmp_path, fixture_repo, text, fragment):
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    assert_one_line_error(*cli(capsys, "index", fixture_repo, "--config", bad, "-q"), fragment)


def test_error_missing_config(capsys, tmp_path, fixture_repo):
    assert_one_line_error(*cli(capsys, "index", fixture_repo, "--config", tmp_path / "x.toml"),
                          "does not exist")


@pytest.mark.parametrize("argv", [
    ["search", "x", "--kind", "bogus"],
    ["search", "x", "--fusion", "average"],
    ["search", "x", "-k", "many"],
    ["frobnicate"],
    [],
])
def test_error_bad_arguments(capsys, argv):
    assert_one_line_error(*cli(capsys, *argv))


def test_error_nonpositive_limit(capsys, indexed_repo):
    assert_one_line_error(*cli(capsys, "search", "x", indexed_repo, "-k", "0"), "--limit")


def test_error_index_in_use(capsys, fresh_repo):
    root, config = fresh_repo
    assert cli(capsys, "index", root, "--config", config, "-q")[0] == 0
    holder = EdgeStore(root / ".codesearch" / "qdrant", None)
    try:
        for argv in (["index", root, "--config", config, "-q"], ["search", "x", root],
                     ["status", root]):
            assert_one_line_error(*cli(capsys, *argv), "open in another codesearch process")
    finally:
        holder.close()


def test_version(capsys):
    code, out, _ = cli(capsys, "--version")
    assert code == 0 and out.strip() == "codesearch 0.1.0"


# --------------------------------------------------------------- index / status


def test_index_summary_lists_skipped_files(capsys, fresh_repo):
    root, config = fresh_repo
    code, out, _ = cli(capsys, "index", root, "--config", config, "--json")
    assert code == 0
    summary = json.loads(out)
    skipped = {x["path"]: x["reason"] for x in summary["skipped"]}
    assert skipped == {
        ".env": "credentials or secrets",
        "package-lock.json": "lock file",
        "web/vendor.min.js": "minified bundle",
        "assets/logo.py": "binary",
        "web/app-bundle.js": "minified (very long lines)",
    }
    assert summary["chunks"] == summary["chunks_embedded"] + summary["chunks_reused"] > 0
    assert summary["files_deleted"] == 0

    lru = root / "src" / "lru.rs"
    lru_chunks = len(chunk_file("src/lru.rs", lru.read_text(), "rust").chunks)
    lru.unlink()
    code, out, _ = cli(capsys, "index", root, "--config", config, "-v")
    assert code == 0
    assert f"-> {summary['chunks'] - lru_chunks} chunks" in out
    assert "1 removed" in out
    assert "skipped 5 files: " in out
    for reason in ("credentials or secrets", "lock file", "minified bundle", "binary",
                   "minified (very long lines)"):
        assert f"1 {reason}" in out
    for path, reason in skipped.items():
        assert f"  skipped {path}: {reason}" in out.splitlines()


def test_index_quiet(capsys, fresh_repo):
    root, config = fresh_repo
    assert cli(capsys, "index", root, "--config", config, "-q") == (0, "", "")


def test_index_model_change_needs_full(capsys, fresh_repo, tmp_path, other_tiny_model_dir):
    root, config = fresh_repo
    assert cli(capsys, "index", root, "--config", config, "-q")[0] == 0
    other = write_tiny_config(tmp_path, other_tiny_model_dir, "other.toml")
    assert_one_line_error(*cli(capsys, "index", root, "--config", other, "-q"), "--full")
    code, out, _ = cli(capsys, "index", root, "--config", other, "--full", "--json")
    assert code == 0
    assert json.loads(out)["chunks_reused"] == 0
    code, out, _ = cli(capsys, "status", root, "--json")
    assert json.loads(out)["model"].startswith(f"{other_tiny_model_dir.name}@")


def test_plain_reindex_keeps_the_config_the_index_was_built_with(capsys, fresh_repo):
    # Indexed once with --config naming the tiny model; a later plain `index` must not
    # fall back to the default model (it would refuse the index or load the big model).
    root, config = fresh_repo
    assert cli(capsys, "index", root, "--config", config, "-q")[0] == 0
    (root / "added.py").write_text("def added_function():\n    return 42\n")
    code, out, err = cli(capsys, "index", root, "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["files_indexed"] == 1
    code, out, _ = cli(capsys, "status", root, "--json")
    assert json.loads(out)["model"].startswith("tiny-bert@")


def test_status_after_fresh_index_reports_nothing_to_do(capsys, fresh_repo):
    root, config = fresh_repo
    assert cli(capsys, "index", root, "--config", config, "-q")[0] == 0
    code, out, _ = cli(capsys, "status", root, "--json")
    assert code == 0
    status = json.loads(out)
    assert status["complete"] is True
    assert (status["changed"], status["deleted"]) == ([], [])
    # Files that yield no chunks (empty, binary, minified) are not "new" on every run.
    assert status["new"] == []


def test_status_reports_changed_new_deleted(capsys, fresh_repo):
    root, config = fresh_repo
    code, out, _ = cli(capsys, "index", root, "--config", config, "--json")
    indexed = json.loads(out)
    (root / "utils/retry.py").write_text((root / "utils/retry.py").read_text() + "\n# edited\n")
    (root / "utils/new_mod.py").write_text("def brand_new():\n    return 42\n")
    git(root, "rm", "-q", "src/lru.rs")
    path = root / "utils/hashing.py"  # touched, same content: not a change
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))

    code, out, err = cli(capsys, "status", root, "--json")
    assert code == 0 and err == ""
    status = json.loads(out)
    assert status["changed"] == ["utils/retry.py"]
    assert "utils/new_mod.py" in status["new"]
    assert status["deleted"] == ["src/lru.rs"]
    assert status["chunks"] == indexed["chunks"]
    assert status["model"] == status["configured_model"]
    assert status["root"] == str(root.resolve())

    code, out, _ = cli(capsys, "status", root)
    assert code == 0
    assert "1 changed" in out and "1 deleted" in out and "run 'codesearch index'" in out
    assert "    changed utils/retry.py" in out.splitlines()
    assert "    deleted src/lru.rs" in out.splitlines()
    assert "WARNING" not in out


def test_status_shows_interrupted_run(capsys, fresh_repo, monkeypatch):
    import codesearch.store as store_mod

    root, config = fresh_repo
    real_upsert, calls = store_mod.EdgeStore.upsert, []

    def interrupted_upsert(self, points):
        calls.append(1)
        if len(calls) > 2:
            raise KeyboardInterrupt
        real_upsert(self, points)

    monkeypatch.setattr(store_mod.EdgeStore, "upsert", interrupted_upsert)
    code, out, err = cli(capsys, "index", root, "--config", config, "-q")
    assert code == 130
    assert err.strip() == "codesearch: interrupted; run the same command again to resume"
    monkeypatch.undo()
    code, out, _ = cli(capsys, "status", root)
    assert code == 0 and "last run interrupted" in out
    assert cli(capsys, "index", root, "--config", config, "-q")[0] == 0
    code, out, _ = cli(capsys, "status", root, "--json")
    assert json.loads(out)["complete"] is True


# --------------------------------------------------------------- subprocess


def test_subprocess_search_json_and_stdin(indexed_repo):
    result = run_cli("search", "--json", "-k", "3", "--fusion", "sparse", "parseCSV",
                     str(indexed_repo))
    assert result.returncode == 0, result.stderr
    hits = json_lines(result.stdout)
    assert 1 <= len(hits) <= 3 and all(set(h) >= REQUIRED for h in hits)
    assert hits[0]["symbol"] == "parseCSV"

    result = run_cli("search", "-", str(indexed_repo), "--json", "-k", "1", "--fusion", "sparse",
                     stdin="levenshtein\nBinarySearch\n")
    assert result.returncode == 0, result.stderr
    hits = json_lines(result.stdout)
    assert [(h["query"], h["symbol"]) for h in hits] == [("levenshtein", "levenshtein"),
                                                        ("BinarySearch", "BinarySearch")]


def test_subprocess_errors(indexed_repo, tmp_path):
    result = run_cli("search", "x", str(indexed_repo), "--kind", "bogus")
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    assert "--kind" in result.stderr

    result = run_cli("search", "x", str(tmp_path / "nope"))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [f"codesearch: error: path {tmp_path / 'nope'} does not exist"]

    result = run_cli("search", "retry", str(indexed_repo), "--glob", "*.nothing")
    assert (result.returncode, result.stdout, result.stderr) == (1, "", "")


def test_search_after_an_index_run_imports_neither_torch_nor_transformers(fresh_repo):
    """The index run exports the model for ONNX Runtime (runtime.py): a cold search
    process then encodes its query without the seconds those imports cost."""
    root, config = fresh_repo
    assert run_cli("index", str(root), "--config", str(config), "-q").returncode == 0
    probe = ("import sys\nfrom codesearch.search import Searcher\n"
             f"hits = Searcher.open({str(root)!r}).search('retry with backoff')\n"
             "print(len(hits), 'torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, env=dict(os.environ)).stdout.split()
    assert out[1:] == ["False", "False"] and int(out[0]) > 0
