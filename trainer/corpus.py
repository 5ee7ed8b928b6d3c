"""Build a training corpus from pinned third-party packages: download, extract, mine.

A corpus manifest (TOML, see trainer/corpora/default.toml) pins packages per ecosystem:

    eval_percent = 10
    [pypi]            packages = ["requests==2.32.3"]      # wheel, else sdist (pip download)
    [npm]             packages = ["lodash@4.17.21"]        # tarball (npm pack)
    [debian]          packages = ["ruby-mail=2.8.0-1"]     # binary .deb (apt-get download):
                                                           # Go, Rust, Ruby, PHP sources
    [debian-source]   packages = ["libcommons-lang3-java=3.12.0-2+deb12u1"]  # apt-get source
    [local]           packages = ["path/to/dir-or-archive"]                  # tests, offline

Downloads land in CACHE/downloads and trees in CACHE/trees; both are reused, so a
re-run downloads and extracts only what is new or re-pinned, then re-mines every tree
(mining is cheap next to downloading). Each package is one source, named by ecosystem
and package but not version, so re-pinning never moves a package across the split.
The licence of every source comes from its own metadata (METADATA/PKG-INFO,
package.json, debian/copyright) and goes into the manifest with the archive's sha256.

Pairs whose code or query matches an evaluation item (/work/shared/eval) by the same
normalised hash mine.py dedups with are dropped, and counted in the manifest.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path

from codesearch.chunk import chunk_file
from codesearch.errors import UserError
from trainer.data import SPLITS, Pair, normalised_hash, write_pairs
from trainer.mine import MineReport, Source, _source_info, code_without_doc, mine

ECOSYSTEMS = {"pypi": "==", "npm": "@", "debian": "=", "debian-source": "=", "local": ""}
PREFIX = {"pypi": "py", "npm": "npm", "debian": "deb", "debian-source": "debsrc",
          "local": "local"}
ARCHIVES = (".whl", ".tar.gz", ".tgz", ".zip", ".tar.bz2", ".tar.xz", ".deb", ".dsc")
DEFAULT_CACHE = Path("~/.cache/codesearch/corpus").expanduser()
DEFAULT_EVAL_DIR = Path(__file__).resolve().parents[2] / "shared" / "eval"
TREE_VERSION = 1  # bump when extraction changes, so cached trees are rebuilt


@dataclass(frozen=True)
class Package:
    ecosystem: str
    name: str
    version: str

    @property
    def source(self) -> str:
        """The source name mine() gives the tree (version-free: a stable split)."""
        name = Path(self.name).name if self.ecosystem == "local" else self.name
        name = re.sub(r"\.(tar\.\w+|tgz|zip|whl)$", "", name)
        return re.sub(r"[^\w.-]+", "_", f"{PREFIX[self.ecosystem]}-{name}")

    @property
    def spec(self) -> str:
        return f"{self.name}{ECOSYSTEMS[self.ecosystem]}{self.version}"


def parse_spec(ecosystem: str, spec: str) -> Package:
    if ecosystem not in ECOSYSTEMS:
        raise UserError(f"unknown ecosystem [{ecosystem}] (known: {', '.join(ECOSYSTEMS)})")
    if ecosystem == "local":
        return Package("local", spec, "local")
    sep = ECOSYSTEMS[ecosystem]
    # npm scopes start with "@": split at the last one; versions never contain it.
    name, found, version = spec.rpartition(sep) if ecosystem == "npm" else spec.partition(sep)
    if not found or not name or not version or (ecosystem == "npm" and name == ""):
        raise UserError(f"[{ecosystem}] {spec!r}: pin a version as NAME{sep}VERSION")
    return Package(ecosystem, name.strip(), version.strip())


def load_manifest(path: Path) -> tuple[list[Package], int]:
    """(packages in manifest order, eval_percent); local paths relative to the manifest."""
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise UserError(f"cannot read corpus manifest {path}: {err}") from err
    eval_percent = data.pop("eval_percent", 10)
    packages: list[Package] = []
    for ecosystem, table in data.items():
        if not isinstance(table, dict) or set(table) - {"packages"}:
            raise UserError(f"{path}: [{ecosystem}] must hold only `packages = [...]`")
        for spec in table.get("packages", []):
            package = parse_spec(ecosystem, spec)
            if ecosystem == "local":
                package = Package("local", str((path.parent / spec).resolve()), "local")
            packages.append(package)
    sources = [p.source for p in packages]
    if len(set(sources)) != len(sources):
        raise UserError(f"{path}: a package is listed twice")
    return packages, int(eval_percent)


# ---------------------------------------------------------------- download


def _archives(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.endswith(ARCHIVES)) \
        if folder.is_dir() else []


def _apt_source_options(cache: Path) -> list[str]:
    """apt options for a private deb-src list, so the system's apt config stays as it is."""
    root = cache / "apt"
    options = ["-o", f"Dir::Etc::sourceparts={root / 'sources.d'}",
               "-o", "Dir::Etc::sourcelist=/dev/null", "-o", f"Dir::State::Lists={root / 'lists'}"]
    if not (root / "lists").is_dir() or not any((root / "lists").glob("*Sources*")):
        stanzas = []
        for file in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
            for stanza in file.read_text().split("\n\n"):
                if re.search(r"^Types:.*\bdeb\b", stanza, re.M) and "debian-archive" in stanza:
                    stanzas.append(re.sub(r"^Types:.*$", "Types: deb-src", stanza, flags=re.M))
        if not stanzas:
            raise UserError("no Debian archive in /etc/apt/sources.list.d to take sources from")
        (root / "sources.d").mkdir(parents=True, exist_ok=True)
        (root / "lists" / "partial").mkdir(parents=True, exist_ok=True)
        (root / "sources.d" / "debian-src.sources").write_text("\n\n".join(stanzas) + "\n")
        subprocess.run(["apt-get", *options, "update"], check=True, capture_output=True)
    return options


def _download_command(package: Package, cache: Path, sdist: bool = False) -> list[str]:
    if package.ecosystem == "pypi":
        binary = ["--no-binary", ":all:", "--no-build-isolation"] if sdist else \
            ["--only-binary", ":all:"]
        return [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                "--disable-pip-version-check", *binary, "--dest", ".", package.spec]
    if package.ecosystem == "npm":
        return ["npm", "pack", "--silent", package.spec]
    if package.ecosystem == "debian":
        return ["apt-get", "download", "-q", package.spec]
    return ["apt-get", *_apt_source_options(cache), "source", "--download-only", "-q",
            package.spec]


def _download_dir(package: Package, cache: Path) -> Path:
    return cache / "downloads" / package.ecosystem / re.sub(
        r"[^\w.@+-]+", "_", f"{package.name}-{package.version}")


def fetch(package: Package, cache: Path) -> tuple[Path, bool]:
    """(the download folder or local path, whether it was already cached)."""
    if package.ecosystem == "local" and Path(package.name).is_dir():
        return Path(package.name), False  # a directory is its own cache
    folder = _download_dir(package, cache)
    if _archives(folder):
        return folder, True
    if package.ecosystem == "local" and not Path(package.name).is_file():
        raise UserError(f"local source {package.name} does not exist")
    partial = folder.with_name(folder.name + ".part")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    if package.ecosystem == "local":
        shutil.copy2(package.name, partial)
    else:
        done = subprocess.run(_download_command(package, cache), cwd=partial,
                              capture_output=True, text=True)
        if done.returncode and package.ecosystem == "pypi":  # no wheel: the sdist
            done = subprocess.run(_download_command(package, cache, sdist=True), cwd=partial,
                                  capture_output=True, text=True)
        if done.returncode or not _archives(partial):
            raise UserError(f"{package.spec}: download failed: "
                            f"{(done.stderr or done.stdout).strip()[-300:]}")
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    return folder, False


def _deb_file(batch: Path, package: Package) -> Path | None:
    debs = sorted(batch.glob(f"{package.name}_*.deb"))
    return debs[0] if len(debs) == 1 else None


def _npm_file(batch: Path, package: Package) -> Path | None:
    # npm names a tarball SCOPE-NAME-VERSION.tgz
    tarball = batch / (package.name.lstrip("@").replace("/", "-") + f"-{package.version}.tgz")
    return tarball if tarball.is_file() else None


# Batched downloaders: one call fetches many packages, where a call per package costs
# seconds of apt or npm start-up each. (command, packages per call, file finder).
_BATCHED = {"debian": (["apt-get", "download", "-q"], 200, _deb_file),
            "npm": (["npm", "pack", "--silent"], 50, _npm_file)}


def prefetch(packages: list[Package], cache: Path) -> None:
    """Download every missing .deb and npm tarball in batches. Any failure leaves the
    rest to fetch(), one by one."""
    for ecosystem, (command, size, find) in _BATCHED.items():
        missing = [p for p in packages
                   if p.ecosystem == ecosystem and not _archives(_download_dir(p, cache))]
        batch = cache / "downloads" / f"{ecosystem}-batch"
        for start in range(0, len(missing), size):
            chunk = missing[start : start + size]
            batch.mkdir(parents=True, exist_ok=True)
            subprocess.run([*command, *[p.spec for p in chunk]], cwd=batch, capture_output=True)
            for package in chunk:
                found = find(batch, package)
                if found is not None:
                    folder = _download_dir(package, cache)
                    folder.mkdir(parents=True, exist_ok=True)
                    found.rename(folder / found.name)


# ---------------------------------------------------------------- extract


def extract(package: Package, fetched: Path, trees: Path) -> Path:
    """The package's source tree under TREES/SOURCE, rebuilt only when the pin changed."""
    if package.ecosystem == "local" and fetched == Path(package.name):
        return fetched  # a local folder is mined in place
    tree = trees / package.source
    stamp = trees / f"{package.source}.json"
    key = {"spec": package.spec, "tree_version": TREE_VERSION,
           "archives": [p.name for p in _archives(fetched)]}
    if tree.is_dir() and stamp.is_file() and json.loads(stamp.read_text()).get("key") == key:
        return tree
    partial = trees / f"{package.source}.part"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for archive in _archives(fetched):
        _unpack(archive, partial)
    _tidy(partial)
    shutil.rmtree(tree, ignore_errors=True)
    partial.rename(tree)
    stamp.write_text(json.dumps({"key": key}) + "\n")
    return tree


def _unpack(archive: Path, into: Path) -> None:
    name = archive.name
    if name.endswith(".deb"):
        subprocess.run(["dpkg-deb", "-x", str(archive), str(into)], check=True)
    elif name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(into)  # zipfile drops absolute and ".." parts
    elif name.endswith(".dsc"):
        return  # its tarballs sit beside it and are unpacked on their own
    else:
        with tarfile.open(archive) as tar:
            tar.extractall(into, filter="data")


def _tidy(tree: Path) -> None:
    """Make a tree minable: the walker skips `vendor*` folders and reads no .gz, and a
    wheel's README lives only in its METADATA."""
    for folder in sorted(tree.rglob("vendor_ruby"), reverse=True):
        folder.rename(folder.with_name("ruby"))
    for packed in tree.glob("usr/share/doc/*/*.gz"):
        target = packed.with_suffix("")
        if target.suffix.lower() in (".md", ".rst", ".txt", "") and packed.stat().st_size < 2e6:
            target.write_bytes(gzip.decompress(packed.read_bytes()))
        packed.unlink()
    for metadata in tree.glob("*.dist-info/METADATA"):
        message = Parser().parsestr(metadata.read_text(errors="replace"))
        body = message.get_payload() or message.get("Description", "")
        kind = message.get("Description-Content-Type", "")
        suffix = ".md" if "markdown" in kind else ".rst" if "rst" in kind else ".txt"
        if isinstance(body, str) and body.strip():
            (tree / f"README-pypi{suffix}").write_text(body)


# ---------------------------------------------------------------- licences


def licence_of(tree: Path, package: Package) -> str:
    """The licence the package declares, from the first metadata file that names one."""
    for metadata in [*tree.glob("*.dist-info/METADATA"), *tree.glob("*/PKG-INFO"),
                     *tree.glob("PKG-INFO")]:
        message = Parser().parsestr(metadata.read_text(errors="replace"), headersonly=True)
        found = message.get("License-Expression") or (message.get("License") or "").strip()
        if found and len(found) <= 80 and "\n" not in found:
            return found
        classifiers = [c.rsplit("::", 1)[-1].strip() for c in message.get_all("Classifier", [])
                       if c.startswith("License ::")]
        if classifiers:
            return " OR ".join(classifiers)
    for manifest in [*tree.glob("package/package.json"), *tree.glob("package.json")]:
        try:
            found = json.loads(manifest.read_text()).get("license")
        except (OSError, ValueError):
            continue
        if found:
            return found.get("type", "") if isinstance(found, dict) else str(found)
    doc = f"usr/share/doc/{package.name}/copyright"
    for copyright_file in [*tree.glob(doc), *tree.glob("*/debian/copyright"),
                           *tree.glob("debian/copyright")]:
        text = copyright_file.read_text(errors="replace")
        # DEP-5: the licence of `Files: *` is the package's; else the first one named.
        main = re.search(r"^Files:[ \t]*\*[ \t]*\n(?:[^\n]+\n)*?License:[ \t]*([^\n]+)", text,
                         re.M)
        first = main or re.search(r"^License:[ \t]*([^\n]+)", text, re.M)
        return first.group(1).strip() if first else f"see {copyright_file.relative_to(tree)}"
    for name in ("LICENSE", "LICENSE.txt", "LICENSE.md", "COPYING", "LICENCE"):
        for found in tree.glob(f"**/{name}"):
            return f"see {found.relative_to(tree)}"
    return "unknown"


def _sha256(folder: Path) -> str:
    digest = hashlib.sha256()
    for archive in _archives(folder) if folder.is_dir() else [folder]:
        if archive.is_file():
            digest.update(archive.read_bytes())
    return digest.hexdigest()


# ---------------------------------------------------------------- eval overlap


def eval_hashes(eval_dir: Path) -> tuple[set[str], set[str]]:
    """(code hashes, query hashes) of every evaluation item, hashed as mine.py hashes pairs:
    each snippet whole and, per function, without its docstring (a pair's document_hash)."""
    codes: list[str] = []
    queries: list[str] = []
    for file in sorted(eval_dir.glob("*/*.jsonl")):
        for line in file.read_text().splitlines():
            item = json.loads(line) if line.strip() else {}
            if item.get("code"):
                codes.append(item["code"])
            if item.get("query"):
                queries.append(item["query"])
    code_hashes = {normalised_hash(code) for code in codes}
    for code in set(codes):
        for chunk in chunk_file("snippet.py", code, "python", 1).chunks:
            if chunk.kind in ("function", "method"):
                stripped = code_without_doc(chunk)
                for text in (stripped, chunk.code):
                    if text:
                        code_hashes.add(normalised_hash(text))
    return code_hashes, {normalised_hash(query) for query in queries}


def drop_eval_overlap(out: Path, eval_dir: Path, manifest: dict) -> dict:
    """Rewrite OUT's shards without pairs that match an evaluation item; count them."""
    code_hashes, query_hashes = eval_hashes(eval_dir)
    dropped = {"code": 0, "query": 0}
    report = MineReport(filtered=dict(manifest["filtered"]))
    for name, info in manifest["sources"].items():
        source = Source(name, Path(info["root"]), info["split"])
        shard = out / source.split / f"{name}.jsonl"
        pairs = _read_shard(shard) if shard.is_file() else []
        kept = []
        for pair in pairs:
            if pair.document_hash in code_hashes or pair.query_hash in code_hashes:
                dropped["code"] += 1
            elif pair.query_hash in query_hashes:
                dropped["query"] += 1
            else:
                kept.append(pair)
        if len(kept) != len(pairs):
            shard.unlink()
            if kept:
                write_pairs(shard, kept)
        report.sources[name] = _source_info(source, kept)
    report.filtered = {**report.filtered, "eval_overlap": sum(dropped.values())}
    result = report.manifest(manifest["eval_percent"])
    result["eval_overlap"] = {"eval_dir": str(eval_dir), "eval_code_hashes": len(code_hashes),
                              "eval_query_hashes": len(query_hashes), "dropped": dropped}
    return result


def _read_shard(shard: Path) -> list[Pair]:
    with shard.open(encoding="utf-8") as lines:
        return [Pair(**json.loads(line)) for line in lines if line.strip()]


# ---------------------------------------------------------------- the command


def build(manifest_path: Path, out: Path, cache: Path = DEFAULT_CACHE,
          eval_dir: Path = DEFAULT_EVAL_DIR, jobs: int = 4, eval_percent: int | None = None,
          progress: bool = True, log=print) -> dict:
    """Download, extract and mine every package of a corpus manifest into OUT."""
    packages, manifest_percent = load_manifest(manifest_path)
    percent = manifest_percent if eval_percent is None else eval_percent
    if not eval_dir.is_dir():
        raise UserError(f"{eval_dir} does not exist: the eval-overlap filter needs it "
                        "(--eval-dir)")
    trees = cache / "trees"
    trees.mkdir(parents=True, exist_ok=True)
    if any(p.ecosystem == "debian-source" for p in packages):
        _apt_source_options(cache)  # one `apt-get update` before the parallel downloads
    prefetch(packages, cache)

    def prepare(package: Package) -> dict:
        try:
            fetched, cached = fetch(package, cache)
            tree = extract(package, fetched, trees)
        except (UserError, OSError, subprocess.CalledProcessError, tarfile.TarError,
                zipfile.BadZipFile) as err:
            return {"package": package, "error": str(err)}
        return {"package": package, "tree": tree, "cached": cached,
                "licence": licence_of(tree, package), "sha256": _sha256(fetched)}

    with ThreadPoolExecutor(max(1, jobs)) as pool:
        prepared = list(pool.map(prepare, packages))
    failed = {r["package"].spec: r["error"] for r in prepared if "error" in r}
    ready = [r for r in prepared if "error" not in r]
    log(f"{len(ready)} packages ready ({sum(r['cached'] for r in ready)} cached), "
        f"{len(failed)} failed")
    if not ready:
        raise UserError("no package could be downloaded")

    staging = out / "sources"  # one link per source: mine() takes a folder of sources
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for r in ready:
        (staging / r["package"].source).symlink_to(r["tree"].resolve(), target_is_directory=True)
    manifest = mine([staging], out, percent, progress=progress)
    manifest = drop_eval_overlap(out, eval_dir, manifest)
    by_name = {r["tree"].resolve().name: r for r in ready}
    manifest["corpus"] = {
        "manifest": str(manifest_path), "failed": failed,
        "packages": {name: {"ecosystem": r["package"].ecosystem, "package": r["package"].name,
                            "version": r["package"].version, "licence": r["licence"],
                            "sha256": r["sha256"]}
                     for name, r in sorted(by_name.items())}}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def summary(manifest: dict) -> dict:
    """Pairs per language and split, sources per split: what the command prints."""
    rows: dict[str, dict] = {}
    for split in SPLITS:
        total = manifest["totals"].get(split, {})
        for language, counts in total.get("languages", {}).items():
            row = rows.setdefault(language, {"code": 0, "text": 0, "train_sources": 0,
                                             "eval_sources": 0})
            row["code"] += counts["code"]
            row["text"] += counts["text"]
    for info in manifest["sources"].values():
        if info["language"] in rows:
            rows[info["language"]][f"{info['split']}_sources"] += 1
    return {"languages": dict(sorted(rows.items())), "filtered": manifest["filtered"],
            "eval_overlap": manifest.get("eval_overlap", {}).get("dropped"),
            "failed": len(manifest.get("corpus", {}).get("failed", {}))}
