"""Walk a repository: which files to index, and why the others were skipped.

Ignore rules follow git: nested `.gitignore` files (deeper files win), the
repository's `.git/info/exclude`, plus our own `.codesearchignore` files and the
config's `exclude` patterns, all in gitignore syntax. On top of that we skip what
never belongs in a code index: vendored and generated trees, lock files, binaries,
minified bundles, credentials and huge files. Symlinks are never followed out of
the root, and symlinked directories are never followed at all (loops).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from codesearch.languages import language_for_path

# Directories that hold someone else's code or build output.
SKIP_DIRS = frozenset({
    ".git", ".hg", ".svn", ".codesearch", "node_modules", "bower_components", "jspm_packages",
    ".venv", "venv", ".tox", ".nox", "__pycache__", ".mypy_cache",
    ".pytest_cache", ".ruff_cache", ".cache", "site-packages", "dist", "build", "target",
    ".next", ".nuxt", ".svelte-kit", ".gradle", ".idea", ".vscode", "vendor",
    "third_party", "Pods", "DerivedData", "coverage", ".terraform", "__snapshots__",
})
LOCK_FILES = frozenset({
    "package-lock.json", "yarn.lock", "pnpm-lock.yaml", "npm-shrinkwrap.json", "bun.lockb",
    "cargo.lock", "poetry.lock", "pipfile.lock", "uv.lock", "pdm.lock", "gemfile.lock",
    "composer.lock", "go.sum", "flake.lock", "mix.lock", "pubspec.lock", "podfile.lock",
})
# Never index secrets, even when nothing ignores them.
SECRET_NAMES = frozenset({
    ".env", ".netrc", ".pgpass", ".npmrc", ".pypirc", "id_rsa", "id_dsa", "id_ecdsa",
    "id_ed25519", "credentials", "credentials.json", ".htpasswd", "secrets.yaml", "secrets.yml",
})
SECRET_SUFFIXES = (".pem", ".key", ".p12", ".pfx", ".jks", ".keystore", ".asc", ".gpg")
MINIFIED_SUFFIXES = (".min.js", ".min.css", ".min.mjs", ".bundle.js", ".map")
GENERATED_SUFFIXES = ("_pb2.py", "_pb2_grpc.py", ".pb.go", ".g.dart", ".designer.cs")
# A file whose average line is longer than this is a bundle, not source.
MINIFIED_MEAN_LINE = 300


@dataclass(frozen=True)
class SourceFile:
    path: str        # repo-relative, '/'-separated
    abs_path: Path
    language: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


@dataclass
class WalkResult:
    files: list[SourceFile] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


@dataclass(frozen=True)
class _Rules:
    """gitignore specs that apply in one directory, deepest last, and the config's
    own patterns, which decide before any of them."""

    specs: tuple[tuple[str, pathspec.GitIgnoreSpec], ...]
    config: pathspec.GitIgnoreSpec | None = None

    def ignored(self, rel: str, is_dir: bool) -> bool:
        if self.config is not None:
            decided = self.config.check_file(rel + "/" if is_dir else rel).include
            if decided is not None:
                return decided
        # Deeper files override shallower ones, and within a file the last match wins:
        # check from the deepest spec up and stop at the first that has an opinion.
        for base, spec in reversed(self.specs):
            sub = rel[len(base) + 1:] if base else rel
            result = spec.check_file(sub + "/" if is_dir else sub)
            if result.include is not None:
                return result.include
        return False

    def with_dir(self, base: str, directory: Path) -> _Rules:
        lines: list[str] = []
        for name in (".gitignore", ".codesearchignore"):
            lines += _read_lines(directory / name)
        if not lines:
            return self
        return _Rules((*self.specs, (base, _ignore_spec(lines))), self.config)


def _ignore_spec(lines: list[str]) -> pathspec.GitIgnoreSpec:
    """An ignore file's patterns. A line pathspec cannot parse (a lone trailing `\\`,
    say) is dropped, as git drops it, instead of failing the walk."""
    try:
        return pathspec.GitIgnoreSpec.from_lines(lines)
    except ValueError:  # GitIgnorePatternError is one; find the bad lines one by one
        good = []
        for line in lines:
            try:
                pathspec.GitIgnoreSpec.from_lines([line])
            except ValueError:
                continue
            good.append(line)
        return pathspec.GitIgnoreSpec.from_lines(good)


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []


def walk(root: Path, max_file_bytes: int = 1_000_000, exclude: Iterable[str] = (),
         languages: Iterable[str] | None = None) -> WalkResult:
    """List the files of `root` worth indexing, sorted by path, and the skipped ones."""
    root = root.resolve()
    top: list[tuple[str, pathspec.GitIgnoreSpec]] = []
    git_exclude = _read_lines(root / ".git" / "info" / "exclude")
    if git_exclude:  # the lowest-precedence gitignore source, as in git
        top.append(("", _ignore_spec(git_exclude)))
    exclude = list(exclude)
    rules = _Rules(tuple(top), pathspec.GitIgnoreSpec.from_lines(exclude) if exclude else None)
    wanted = set(languages) if languages else None
    result = WalkResult()
    for rel, entry in _entries(root, rules, result.skipped):
        reason = _skip_reason(rel, entry, root, max_file_bytes)
        language = language_for_path(rel)
        if reason is None and language is None:
            reason = "unknown file type"
        if reason is None and wanted is not None and language not in wanted:
            continue  # filtered by config, not worth listing as skipped
        if reason:
            result.skipped.append(Skipped(rel, reason))
            continue
        st = entry.stat()
        result.files.append(SourceFile(rel, Path(entry.path), language, st.st_size, st.st_mtime_ns))
    result.files.sort(key=lambda f: f.path)
    result.skipped.sort(key=lambda s: s.path)
    return result


def _entries(root: Path, rules: _Rules, skipped: list[Skipped]) -> Iterator[tuple[str, os.DirEntry]]:
    """Depth-first walk yielding (relative path, entry) for files not ignored."""
    stack: list[tuple[Path, str, _Rules]] = [(root, "", rules.with_dir("", root))]
    while stack:
        directory, base, rules = stack.pop()
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as err:
            skipped.append(Skipped(base or ".", f"unreadable directory ({err.strerror})"))
            continue
        for entry in entries:
            rel = f"{base}/{entry.name}" if base else entry.name
            if not _utf8_name(rel):
                skipped.append(Skipped(rel.encode("utf-8", "surrogateescape").decode("utf-8", "replace"),
                                       "file name is not valid UTF-8"))
                continue
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_dir:
                if entry.name in SKIP_DIRS or rules.ignored(rel, True):
                    continue
                stack.append((Path(entry.path), rel, rules.with_dir(rel, Path(entry.path))))
            elif not rules.ignored(rel, False):
                yield rel, entry


def _utf8_name(rel: str) -> bool:
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _skip_reason(rel: str, entry: os.DirEntry, root: Path, max_file_bytes: int) -> str | None:
    name = entry.name.lower()
    if entry.is_symlink():
        try:
            target = Path(entry.path).resolve(strict=True)
        except (OSError, RuntimeError):
            return "broken or looping symlink"
        if not target.is_relative_to(root):
            return "symlink out of the repository"
        if target.is_dir():
            return "symlinked directory"
    if name in LOCK_FILES or name.endswith(".lock"):
        return "lock file"
    if name in SECRET_NAMES or name.startswith(".env.") or name.endswith(SECRET_SUFFIXES):
        return "credentials or secrets"
    if name.endswith(MINIFIED_SUFFIXES):
        return "minified bundle"
    if name.endswith(GENERATED_SUFFIXES):
        return "generated code"
    try:
        st = entry.stat()
    except OSError as err:
        return f"unreadable ({err.strerror})"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if st.st_size > max_file_bytes:
        return f"larger than {max_file_bytes} bytes"
    return None


def read_source(file: SourceFile) -> tuple[str | None, str]:
    """The file's text, or (None, reason to skip it) for binaries, bad encodings and bundles."""
    try:
        data = file.abs_path.read_bytes()
    except OSError as err:
        return None, f"unreadable ({err.strerror or err})"
    return decode_source(data)


def decode_source(data: bytes) -> tuple[str | None, str]:
    """Decode file bytes as UTF-8 text, rejecting what is not source code."""
    if b"\0" in data[:8192]:
        return None, "binary"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None, "not valid UTF-8"
    text = text.removeprefix("\ufeff")
    if len(text) > 2000:
        lines = text.count("\n") + 1
        if len(text) / lines > MINIFIED_MEAN_LINE:
            return None, "minified (very long lines)"
    return text, ""
