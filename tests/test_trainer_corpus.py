"""The corpus command: manifest parsing, cached re-runs, licences, the eval-overlap drop.

No network: the packages are a local archive and a local folder made here.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from codesearch.errors import UserError
from trainer import corpus
from trainer.corpus import Package, load_manifest, parse_spec

MERGE = '''def merge_intervals(intervals):
    """Merge overlapping closed intervals into a sorted list."""
    result = []
    for start, end in sorted(intervals):
        if result and start <= result[-1][1]:
            result[-1][1] = max(result[-1][1], end)
        else:
            result.append([start, end])
    return result
'''
SLUG = '''def slugify_title(title):
    """Turn a page title into a lowercase url slug."""
    words = title.lower().split()
    cleaned = [w.strip(".,!?") for w in words]
    return "-".join(w for w in cleaned if w)
'''
PKG_INFO = "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nLicense: MIT\n\nA demo.\n"


def _add(tar: tarfile.TarFile, name: str, text: str) -> None:
    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


@pytest.fixture
def setup(tmp_path: Path) -> dict:
    archive = tmp_path / "pkgs" / "demo-1.0.tar.gz"  # an sdist-like package
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        _add(tar, "demo-1.0/PKG-INFO", PKG_INFO)
        _add(tar, "demo-1.0/setup.py", "")
        _add(tar, "demo-1.0/demo/intervals.py", MERGE)
        _add(tar, "demo-1.0/demo/text.py", SLUG)
    folder = tmp_path / "pkgs" / "tools"  # a local folder source
    (folder / "tools").mkdir(parents=True)
    (folder / "package.json").write_text(json.dumps({"name": "tools", "license": "ISC"}))
    (folder / "tools" / "slug.py").write_text(SLUG.replace("slugify_title", "make_slug"))
    eval_dir = tmp_path / "eval" / "set"  # one eval item: MERGE, reformatted
    eval_dir.mkdir(parents=True)
    reformatted = MERGE.replace("    result = []", "    result  =  [ ]")
    (eval_dir / "corpus.jsonl").write_text(json.dumps({"id": "c1", "code": reformatted}) + "\n")
    manifest = tmp_path / "corpus.toml"
    manifest.write_text('eval_percent = 0\n[local]\npackages = ["pkgs/demo-1.0.tar.gz", '
                        '"pkgs/tools"]\n')
    return {"archive": archive, "manifest": manifest, "eval_dir": eval_dir.parent,
            "cache": tmp_path / "cache", "out": tmp_path / "out"}


def test_parse_specs_per_ecosystem():
    assert parse_spec("pypi", "requests==2.32.3") == Package("pypi", "requests", "2.32.3")
    assert parse_spec("npm", "@hapi/hapi@21.4.10") == Package("npm", "@hapi/hapi", "21.4.10")
    assert parse_spec("debian", "ruby-mail=2.7.1+dfsg1-2").version == "2.7.1+dfsg1-2"
    assert parse_spec("npm", "@hapi/hapi@21.4.10").source == "npm-_hapi_hapi"
    with pytest.raises(UserError, match="pin a version"):
        parse_spec("pypi", "requests")
    with pytest.raises(UserError, match="unknown ecosystem"):
        parse_spec("cpan", "Moose==2.0")


def test_load_manifest(tmp_path: Path):
    path = tmp_path / "c.toml"
    path.write_text('eval_percent = 5\n[pypi]\npackages = ["click==8.1.7"]\n'
                    '[debian-source]\npackages = ["libcommons-lang3-java=3.12.0-2"]\n'
                    '[local]\npackages = ["here"]\n')
    packages, percent = load_manifest(path)
    assert percent == 5
    assert [p.source for p in packages] == ["py-click", "debsrc-libcommons-lang3-java",
                                            "local-here"]
    assert packages[2].name == str(tmp_path / "here")
    path.write_text('[pypi]\npackages = ["click==8.1.7", "click==8.1.8"]\n')
    with pytest.raises(UserError, match="twice"):
        load_manifest(path)
    path.write_text('[pypi]\nnames = ["click==8.1.7"]\n')
    with pytest.raises(UserError, match="only `packages"):
        load_manifest(path)


def test_build_records_licences_and_drops_eval_overlap(setup):
    manifest = corpus.build(setup["manifest"], setup["out"], setup["cache"], setup["eval_dir"],
                            jobs=1, progress=False, log=lambda _line: None)
    packages = manifest["corpus"]["packages"]
    assert packages["local-demo-1.0"]["licence"] == "MIT"
    assert packages["tools"]["licence"] == "ISC"
    pairs = [json.loads(line) for shard in sorted((setup["out"] / "train").glob("*.jsonl"))
             for line in shard.read_text().splitlines()]
    symbols = sorted(p["symbol"] for p in pairs if p["kind"] == "code")
    assert symbols == ["make_slug", "slugify_title"]  # merge_intervals matched the eval item
    assert manifest["eval_overlap"]["dropped"] == {"code": 1, "query": 0}
    assert manifest["filtered"]["eval_overlap"] == 1
    assert manifest["totals"]["train"]["code"] == 2  # totals recounted after the drop


def test_rerun_uses_the_cache(setup):
    def run():
        return corpus.build(setup["manifest"], setup["out"], setup["cache"],
                            setup["eval_dir"], jobs=1, progress=False, log=lambda _line: None)

    first = run()
    package = Package("local", str(setup["archive"]), "local")
    assert corpus.fetch(package, setup["cache"])[1] is True  # cached now
    setup["archive"].unlink()  # the original is gone: only the cache can serve it
    second = run()
    assert second["totals"] == first["totals"]
    assert second["corpus"]["packages"]["local-demo-1.0"]["sha256"] == \
        first["corpus"]["packages"]["local-demo-1.0"]["sha256"]


def test_eval_hashes_match_mined_document_hashes(tmp_path: Path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "q.jsonl").write_text(json.dumps({"query": "Merge  intervals!"}) + "\n"
                                            + json.dumps({"code": MERGE}) + "\n")
    codes, queries = corpus.eval_hashes(tmp_path)
    from trainer.data import normalised_hash

    body = MERGE.replace('    """Merge overlapping closed intervals into a sorted list."""\n', "")
    assert normalised_hash(body.rstrip("\n")) in codes  # the docstring-free body mine hashes
    assert normalised_hash("merge intervals") in queries
