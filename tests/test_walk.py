"""walk.py: which files get indexed, which are skipped, and why."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from codesearch.walk import SourceFile, decode_source, read_source, walk


def write(root: Path, rel: str, data: str | bytes = "x = 1\n") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data)
    return path


def paths(result) -> list[str]:
    return [f.path for f in result.files]


def reasons(result) -> dict[str, str]:
    return {s.path: s.reason for s in result.skipped}


# ------------------------------------------------------------------ ignore rules


@pytest.fixture
def ignore_tree(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    write(root, ".gitignore", "gen_*.py\nlogs/\n!logs/important.py\n*.tmp.py\n")
    write(root, "main.py")
    write(root, "gen_top.py")
    write(root, "logs/important.py")          # its directory is excluded: no re-include
    write(root, "sub/.gitignore", "!gen_keep.py\n/only_here.py\n")
    write(root, "sub/gen_keep.py")             # re-included by the deeper negation
    write(root, "sub/gen_other.py")            # still ignored by the root pattern
    write(root, "sub/only_here.py")            # anchored to sub/
    write(root, "sub/x/only_here.py")          # anchored pattern does not reach here
    write(root, "sub/deep/.gitignore", "gen_keep.py\n")
    write(root, "sub/deep/gen_keep.py")        # the deepest file overrides the negation
    write(root, "sub/deep/ok.py")
    write(root, "sub/scratch.tmp.py")
    return root


def test_nested_gitignore_negation_and_deeper_override(ignore_tree: Path):
    got = paths(walk(ignore_tree))
    assert got == [
        "main.py",
        "sub/deep/ok.py",
        "sub/gen_keep.py",
        "sub/x/only_here.py",
    ]


def test_gitignore_semantics_match_git_itself(ignore_tree: Path):
    """Compare with `git ls-files --others --exclude-standard` on the same tree."""
    subprocess.run(["git", "init", "-q"], cwd=ignore_tree, check=True)
    listed = subprocess.run(["git", "ls-files", "--others", "--exclude-standard"],
                            cwd=ignore_tree, check=True, capture_output=True, text=True).stdout
    by_git = sorted(p for p in listed.splitlines() if p.endswith(".py"))
    assert paths(walk(ignore_tree)) == by_git


def test_ignored_files_are_not_reported_as_skipped(ignore_tree: Path):
    result = walk(ignore_tree)
    assert "gen_top.py" not in reasons(result)
    assert not any(p.startswith("logs") for p in reasons(result))


def test_git_info_exclude(tmp_path: Path):
    write(tmp_path, "keep.py")
    write(tmp_path, "local_only.py")
    write(tmp_path, "scratch/notes.py")
    write(tmp_path, ".git/info/exclude", "# personal\nlocal_only.py\nscratch/\n")
    write(tmp_path, ".git/config.py")  # nothing inside .git is ever indexed
    assert paths(walk(tmp_path)) == ["keep.py"]


def test_codesearchignore(tmp_path: Path):
    write(tmp_path, ".codesearchignore", "fixtures/\n*.generated.ts\n")
    write(tmp_path, "src/app.ts", "export const a = 1;\n")
    write(tmp_path, "src/api.generated.ts", "export const b = 2;\n")
    write(tmp_path, "fixtures/big.py")
    write(tmp_path, "pkg/.codesearchignore", "internal.py\n")
    write(tmp_path, "pkg/internal.py")
    write(tmp_path, "pkg/public.py")
    assert paths(walk(tmp_path)) == ["pkg/public.py", "src/app.ts"]


def test_config_exclude_patterns(tmp_path: Path):
    write(tmp_path, "a.py")
    write(tmp_path, "migrations/0001_initial.py")
    write(tmp_path, "app/migrations/0002.py")
    write(tmp_path, "types.pyi", "x: int\n")
    write(tmp_path, "docs/api/ref.md", "# ref\n")
    write(tmp_path, "docs/api/README.md", "# readme\n")
    result = walk(tmp_path, exclude=["migrations/", "*.pyi", "docs/api/", "!docs/api/README.md"])
    # A negation cannot re-include a file whose directory is excluded (as in git).
    assert paths(result) == ["a.py"]
    result = walk(tmp_path, exclude=["*.pyi", "docs/api/*", "!docs/api/README.md"])
    assert "docs/api/README.md" in paths(result)
    assert "docs/api/ref.md" not in paths(result)
    assert "types.pyi" not in paths(result)


def test_config_exclude_wins_over_gitignore_negation(tmp_path: Path):
    # default.toml: exclude patterns skip files "on top of .gitignore"; a .gitignore
    # that re-includes a file (for git's sake) must not undo the user's exclusion.
    write(tmp_path, ".gitignore", "*.gen.py\n!keep.gen.py\n")
    write(tmp_path, "keep.gen.py")
    write(tmp_path, "a.py")
    assert paths(walk(tmp_path)) == ["a.py", "keep.gen.py"]
    assert paths(walk(tmp_path, exclude=["keep.gen.py"])) == ["a.py"]
    assert paths(walk(tmp_path, exclude=["*.py"])) == []


def test_exclude_patterns_stack_with_gitignore(tmp_path: Path):
    write(tmp_path, ".gitignore", "ignored.py\n")
    write(tmp_path, "ignored.py")
    write(tmp_path, "excluded.py")
    write(tmp_path, "kept.py")
    assert paths(walk(tmp_path, exclude=["excluded.py"])) == ["kept.py"]


@pytest.mark.parametrize("directory", ["node_modules", "dist", "build", ".venv", "venv",
                                       "__pycache__", "target", "vendor", ".git"])
def test_skip_dirs_at_any_depth(tmp_path: Path, directory: str):
    write(tmp_path, "src/main.py")
    write(tmp_path, f"{directory}/lib.py")
    write(tmp_path, f"packages/web/{directory}/index.js", "module.exports = 1;\n")
    assert paths(walk(tmp_path)) == ["src/main.py"]


def test_directory_named_like_a_skip_dir_prefix_is_kept(tmp_path: Path):
    write(tmp_path, "builder/make.py")
    write(tmp_path, "distance/metric.py")
    assert paths(walk(tmp_path)) == ["builder/make.py", "distance/metric.py"]


@pytest.mark.parametrize("name", ["package-lock.json", "yarn.lock", "Cargo.lock", "poetry.lock",
                                  "go.sum", "pnpm-lock.yaml", "uv.lock", "Gemfile.lock"])
def test_lock_files_skipped_with_reason(tmp_path: Path, name: str):
    write(tmp_path, "app.py")
    write(tmp_path, f"sub/{name}", "{}\n")
    result = walk(tmp_path)
    assert paths(result) == ["app.py"]
    assert reasons(result) == {f"sub/{name}": "lock file"}


@pytest.mark.parametrize("name", [".env", ".env.production", "id_rsa", "id_ed25519", "server.pem",
                                  "tls.key", ".netrc", "credentials.json", "release.p12"])
def test_secrets_listed_with_reason(tmp_path: Path, name: str):
    write(tmp_path, "app.py")
    write(tmp_path, f"deploy/{name}", "SECRET=1\n")
    result = walk(tmp_path)
    assert paths(result) == ["app.py"]
    assert reasons(result) == {f"deploy/{name}": "credentials or secrets"}


def test_secrets_are_skipped_even_if_gitignore_negates_them(tmp_path: Path):
    write(tmp_path, ".gitignore", "!.env\n!*.pem\n")
    write(tmp_path, ".env", "A=1\n")
    write(tmp_path, "cert.pem", "-----BEGIN CERTIFICATE-----\n")
    result = walk(tmp_path)
    assert paths(result) == []
    r = reasons(result)
    assert r[".env"] == r["cert.pem"] == "credentials or secrets"


@pytest.mark.parametrize("name", ["app.min.js", "style.min.css", "app.bundle.js", "app.js.map"])
def test_minified_by_name(tmp_path: Path, name: str):
    write(tmp_path, name, "var a=1;\n")
    assert reasons(walk(tmp_path)) == {name: "minified bundle"}


def test_minified_by_line_length(tmp_path: Path):
    bundle = "var total=" + "1+" * 3000 + "1;\n"
    normal = "".join(f"x_{i} = {i}  # a normal line of code\n" for i in range(200))
    write(tmp_path, "bundle.js", bundle)
    write(tmp_path, "normal.py", normal)
    files = {f.path: f for f in walk(tmp_path).files}  # walk itself does not read contents
    assert read_source(files["bundle.js"]) == (None, "minified (very long lines)")
    text, reason = read_source(files["normal.py"])
    assert text == normal and reason == ""
    # A short file with one long line is not a bundle (the check needs > 2000 chars).
    assert decode_source(b"x = '" + b"a" * 1500 + b"'\n")[0] is not None


def test_binary_detected_by_nul_byte(tmp_path: Path):
    write(tmp_path, "image.py", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    write(tmp_path, "latin1.py", "name = 'Jos\xe9'\n".encode("latin-1"))
    write(tmp_path, "bom.py", b"\xef\xbb\xbfx = 1\n")
    files = {f.path: f for f in walk(tmp_path).files}
    assert read_source(files["image.py"]) == (None, "binary")
    assert read_source(files["latin1.py"]) == (None, "not valid UTF-8")
    assert read_source(files["bom.py"]) == ("x = 1\n", "")


def test_huge_files_limit_is_configurable(tmp_path: Path):
    write(tmp_path, "small.py", "x = 1\n")
    write(tmp_path, "big.py", "x = 1\n" * 400)  # 2400 bytes
    result = walk(tmp_path, max_file_bytes=1000)
    assert paths(result) == ["small.py"]
    assert reasons(result) == {"big.py": "larger than 1000 bytes"}
    assert paths(walk(tmp_path, max_file_bytes=2400)) == ["big.py", "small.py"]
    assert paths(walk(tmp_path)) == ["big.py", "small.py"]  # default limit is 1 MB


def test_unknown_file_types_listed(tmp_path: Path):
    write(tmp_path, "a.py")
    write(tmp_path, "photo.jpeg", b"\xff\xd8\xff")
    write(tmp_path, "Makefile", "all:\n\techo hi\n")
    result = walk(tmp_path)
    assert paths(result) == ["Makefile", "a.py"]
    assert reasons(result) == {"photo.jpeg": "unknown file type"}


def test_languages_filter(tmp_path: Path):
    write(tmp_path, "a.py")
    write(tmp_path, "b.go", "package b\n")
    write(tmp_path, "c.md", "# c\n")
    result = walk(tmp_path, languages=["python", "markdown"])
    assert paths(result) == ["a.py", "c.md"]
    assert "b.go" not in reasons(result)  # filtered by choice, not a skip to report


# ---------------------------------------------------------------------- symlinks


def test_symlink_out_of_root_skipped(tmp_path: Path):
    outside = write(tmp_path, "outside/secret_code.py")
    root = tmp_path / "repo"
    write(root, "a.py")
    (root / "escape.py").symlink_to(outside)
    (root / "escape_dir").symlink_to(outside.parent, target_is_directory=True)
    result = walk(root)
    assert paths(result) == ["a.py"]
    assert reasons(result)["escape.py"] == "symlink out of the repository"
    assert "escape_dir" in reasons(result)
    assert all("secret_code" not in s.path for s in result.skipped)


def test_symlink_inside_root_is_indexed(tmp_path: Path):
    write(tmp_path, "real.py")
    (tmp_path / "alias.py").symlink_to(tmp_path / "real.py")
    assert paths(walk(tmp_path)) == ["alias.py", "real.py"]


def test_symlink_loops_not_followed(tmp_path: Path):
    write(tmp_path, "a/code.py")
    (tmp_path / "a" / "loop").symlink_to(tmp_path / "a", target_is_directory=True)
    (tmp_path / "a" / "up").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "self.py").symlink_to(tmp_path / "self.py")  # points at itself
    (tmp_path / "dangling.py").symlink_to(tmp_path / "missing.py")
    result = walk(tmp_path)
    assert paths(result) == ["a/code.py"]
    r = reasons(result)
    assert r["a/loop"] == "symlinked directory"
    assert r["a/up"] == "symlinked directory"
    assert r["self.py"] == "broken or looping symlink"
    assert r["dangling.py"] == "broken or looping symlink"


# ------------------------------------------------------------------- odd names


def test_non_utf8_filename_skipped_with_reason(tmp_path: Path):
    write(tmp_path, "good.py")
    bad = os.path.join(os.fsencode(tmp_path), b"caf\xe9.py")  # Latin-1 bytes, invalid UTF-8
    with open(bad, "wb") as handle:
        handle.write(b"x = 1\n")
    result = walk(tmp_path)
    assert paths(result) == ["good.py"]
    assert len(result.skipped) == 1
    skipped = result.skipped[0]
    assert skipped.reason == "file name is not valid UTF-8"
    assert skipped.path.startswith("caf") and skipped.path.endswith(".py")
    skipped.path.encode("utf-8")  # printable and JSON-safe


def test_non_utf8_directory_name_skipped(tmp_path: Path):
    bad_dir = os.path.join(os.fsencode(tmp_path), b"d\xff")
    os.mkdir(bad_dir)
    with open(os.path.join(bad_dir, b"inside.py"), "wb") as handle:
        handle.write(b"x = 1\n")
    result = walk(tmp_path)
    assert paths(result) == []
    assert [s.reason for s in result.skipped] == ["file name is not valid UTF-8"]


def test_unicode_filenames_are_fine(tmp_path: Path):
    write(tmp_path, "données/café.py")
    assert paths(walk(tmp_path)) == ["données/café.py"]


# ------------------------------------------------------------------- the result


def test_output_sorted_and_complete(tmp_path: Path):
    for rel in ["b/z.py", "a.py", "b/a.py", "B.py", "a/b/c.py", "a_b.py", "a-b.py", "b.py"]:
        write(tmp_path, rel)
    write(tmp_path, "z.lock", "")
    write(tmp_path, "a.lock", "")
    result = walk(tmp_path)
    got = paths(result)
    assert got == sorted(got)
    assert sorted(got) == sorted(["b/z.py", "a.py", "b/a.py", "B.py", "a/b/c.py", "a_b.py",
                                  "a-b.py", "b.py"])
    assert [s.path for s in result.skipped] == ["a.lock", "z.lock"]


def test_source_file_fields(tmp_path: Path):
    path = write(tmp_path, "pkg/mod.py", "print('hi')\n")
    [f] = walk(tmp_path).files
    assert isinstance(f, SourceFile)
    st = path.stat()
    assert (f.path, f.language, f.size, f.mtime_ns) == ("pkg/mod.py", "python", st.st_size,
                                                        st.st_mtime_ns)
    assert f.abs_path == path.resolve()


def test_walk_of_relative_root(tmp_path: Path, monkeypatch):
    write(tmp_path, "repo/a.py")
    monkeypatch.chdir(tmp_path)
    [f] = walk(Path("repo")).files
    assert f.path == "a.py" and f.abs_path.is_absolute()


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read anything")
def test_unreadable_directory_reported(tmp_path: Path):
    write(tmp_path, "a.py")
    locked = tmp_path / "locked"
    write(locked, "b.py")
    locked.chmod(0)
    try:
        result = walk(tmp_path)
    finally:
        locked.chmod(0o755)
    assert paths(result) == ["a.py"]
    assert reasons(result)["locked"].startswith("unreadable directory")


def test_an_unparsable_gitignore_line_is_dropped_as_git_drops_it(tmp_path: Path):
    # Found by the walker fuzz test: a lone trailing backslash made pathspec raise.
    write(tmp_path, ".gitignore", "ignored.py\nbroken\\\n")
    write(tmp_path, "ignored.py")
    write(tmp_path, "kept.py")
    got = paths(walk(tmp_path))
    assert "kept.py" in got and "ignored.py" not in got
