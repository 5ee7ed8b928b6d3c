"""Build the large real-code corpus the performance benchmarks index, deterministically.

Real code in several languages from pinned package versions, copied into a cache
folder outside the repository (default /work/bench-corpus/tree):
- Python: the interpreter's standard library and installed site-packages;
- Go: the Go 1.19 standard library (Debian golang-1.19-src);
- Rust: regex, serde, syn, tokio (Debian librust-*-dev, i.e. crates.io sources);
- TypeScript/JavaScript: rxjs 7.8.1 and zod 3.23.8 (npm pack), npm's own sources;
- C: system headers (/usr/include: glibc, Linux UAPI).

Downloads (`apt-get download`, `npm pack`) are cached under <cache>/downloads; the
tree is rebuilt from them with the same file list every time (sorted, capped per
source), so two runs index the same bytes.

    python benchmarks/corpus.py [--cache /work/bench-corpus] [--rebuild]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import sysconfig
import tarfile
from pathlib import Path

DEFAULT_CACHE = Path("/work/bench-corpus")
DEBS = ["golang-1.19-src", "librust-regex-dev", "librust-serde-dev", "librust-syn-dev",
        "librust-tokio-dev"]
NPM = ["rxjs@7.8.1", "zod@3.23.8"]
CODE_SUFFIXES = {".py", ".go", ".rs", ".ts", ".js", ".mjs", ".h", ".c"}
PY_LIB = Path(sysconfig.get_paths()["stdlib"])
SITE = Path(sysconfig.get_paths()["purelib"])

# (name in the tree, source folder or download key, subfolders, max lines). Capped so
# the corpus lands near 600k lines with every language well represented.
SOURCES = [
    ("python/stdlib", PY_LIB, ["asyncio", "email", "http", "json", "logging", "multiprocessing",
                               "unittest", "importlib", "concurrent", "xml", "urllib",
                               "sqlite3", "ctypes", "tomllib", "zoneinfo", "."], 110_000),
    ("python/site", SITE, ["jinja2", "click", "httpx", "anyio", "pydantic", "_pytest",
                           "networkx/algorithms", "rich", "textual/widgets"], 110_000),
    ("go/std", "deb:golang-1.19-src/usr/share/go-1.19/src",
     ["net/http", "encoding", "go/parser", "go/types", "crypto/tls", "strings", "sort",
      "bufio", "io", "os", "sync", "time", "regexp", "text/template", "fmt"], 130_000),
    ("rust/regex", "deb:librust-regex-dev/usr/share/cargo/registry", [""], 30_000),
    ("rust/serde", "deb:librust-serde-dev/usr/share/cargo/registry", [""], 20_000),
    ("rust/syn", "deb:librust-syn-dev/usr/share/cargo/registry", [""], 30_000),
    ("rust/tokio", "deb:librust-tokio-dev/usr/share/cargo/registry", [""], 50_000),
    ("ts/rxjs", "npm:rxjs-7.8.1/package/src", [""], 40_000),
    ("ts/zod", "npm:zod-3.23.8/package/lib", [""], 15_000),
    ("js/npm", Path("/usr/lib/node_modules/npm"), ["lib", "node_modules/@npmcli"], 30_000),
    ("c/include", Path("/usr/include"), ["linux", "x86_64-linux-gnu/bits", "."], 50_000),
]


def fetch(cache: Path) -> Path:
    """Download the pinned packages once; unpack each into downloads/<name>/."""
    downloads = cache / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    for deb in DEBS:
        target = downloads / deb
        if target.is_dir():
            continue
        files = sorted(downloads.glob(f"{deb}_*.deb"))
        if not files:
            subprocess.run(["apt-get", "download", deb], cwd=downloads, check=True)
            files = sorted(downloads.glob(f"{deb}_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(files[-1]), str(target)], check=True)
    for spec in NPM:
        name, version = spec.rsplit("@", 1)
        target = downloads / f"{name}-{version}"
        if target.is_dir():
            continue
        tgz = downloads / f"{name}-{version}.tgz"
        if not tgz.exists():
            subprocess.run(["npm", "pack", spec], cwd=downloads, check=True,
                           stdout=subprocess.DEVNULL)
        with tarfile.open(tgz) as tar:
            tar.extractall(target, filter="data")
    return downloads


def _source_root(src, downloads: Path) -> Path:
    if isinstance(src, Path):
        return src
    _kind, rest = src.split(":", 1)
    return downloads / rest


def _files(root: Path, sub: str) -> list[Path]:
    folder = root / sub
    # "." is the top level only, so it never repeats the named subfolders; "" is all.
    if sub == ".":
        return sorted(p for p in folder.iterdir() if p.is_file())
    return sorted(p for p in folder.rglob("*") if p.is_file())


def build(cache: Path, rebuild: bool = False) -> Path:
    tree = cache / "tree"
    stamp = tree / ".corpus-complete"
    if stamp.exists() and not rebuild:
        return tree
    downloads = fetch(cache)
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir(parents=True)
    for name, src, subs, cap in SOURCES:
        root = _source_root(src, downloads)
        if not root.is_dir():
            print(f"corpus: {root} missing, {name} left out", file=sys.stderr)
            continue
        lines = 0
        for sub in subs:
            if not (root / sub).is_dir():
                continue
            for path in _files(root, sub):
                if lines >= cap:
                    break
                if path.suffix not in CODE_SUFFIXES or path.is_symlink() or "test" in path.name:
                    continue
                try:
                    text = path.read_bytes()
                except OSError:
                    continue
                if len(text) > 500_000:
                    continue
                # Renamed, or the walker would skip it as vendored code.
                rel = str(path.relative_to(root)).replace("node_modules/", "deps/")
                dest = tree / name / rel
                if dest.exists():
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(text)
                lines += text.count(b"\n")
    subprocess.run(["git", "init", "-q", str(tree)], check=True)
    stamp.write_text("ok\n")
    return tree


def line_counts(tree: Path) -> dict[str, int]:
    """Lines per top-level language folder (python, go, rust, ts, js, c)."""
    counts: dict[str, int] = {}
    for path in tree.rglob("*"):
        if path.is_file() and path.suffix in CODE_SUFFIXES:
            lang = path.relative_to(tree).parts[0]
            with path.open("rb") as f:
                counts[lang] = counts.get(lang, 0) + sum(1 for _ in f)
    return dict(sorted(counts.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    tree = build(args.cache, args.rebuild)
    counts = line_counts(tree)
    print(tree, counts, "total", sum(counts.values()))


if __name__ == "__main__":
    main()
