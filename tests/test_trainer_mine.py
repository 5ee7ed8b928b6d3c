"""`trainer mine` on a small multi-language repository built in a temporary folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trainer.data import normalised_hash, read_pairs
from trainer.mine import find_sources, is_test, mine, split_of, summary_of

PY = '''\
"""Time helpers."""


def parse_duration(text):
    """Parse a duration string like 5m into seconds.

    Accepts the suffixes s, m and h; a bare number means seconds.

    Args:
        text: the duration.
    """
    units = {"s": 1, "m": 60, "h": 3600}
    if text[-1] in units:
        return float(text[:-1]) * units[text[-1]]
    return float(text)


class Clock:
    """A clock that can be frozen in tests."""

    def __init__(self, now):
        """Create a clock at a fixed time."""
        self.now = now
        self.frozen = False
        self.ticks = 0

    def get_now(self):
        """Return the current time."""
        return self.now

    # Advance the clock by a number of seconds and count the tick.
    def advance(self, seconds):
        self.now += seconds
        self.ticks += 1
        return self.now


def undocumented(a, b):
    total = a + b
    total *= 2
    return total


def tiny(x):
    """Return x plus one, quickly."""
    return x + 1
'''

# The same function again, reformatted: a near duplicate.
PY_COPY = '''\
def parse_duration(text):
    """Turn a duration such as 2h into a number of seconds."""
    units = {"s": 1,   "m": 60, "h": 3600}
    if text[-1] in units:
        return float(text[:-1]) * units[text[-1]]
    return float(text)
'''

GO = '''\
package stats

// Sum returns the total of all values in xs.
// An empty slice sums to zero.
func Sum(xs []int) int {
	total := 0
	for _, x := range xs {
		total += x
	}
	return total
}

// String renders the stats for debugging output.
func (s Stats) String() string {
	out := fmt.Sprint(s.n)
	out += "!"
	return out
}
'''

JS = '''\
/**
 * Format a date as an ISO 8601 string.
 * @param {Date} date the date to format
 */
function formatDate(date) {
  const iso = date.toISOString();
  const trimmed = iso.slice(0, 19);
  return trimmed + "Z";
}
'''

TEST_PY = '''\
def test_parse_duration_minutes():
    """Parsing minutes gives sixty seconds each."""
    value = parse_duration("2m")
    assert value == 120
    assert value > 0
'''

README = '''\
# Toolkit

A grab bag of small utilities written in several languages for everyday scripts.

Each helper is small, documented and tested, so it can be copied into other projects.

## Deploying to production

Build the container image, push it to the registry and restart the deployment.
'''


def write_repo(root: Path) -> Path:
    files = {
        "pyproject.toml": "[project]\nname = 'toolkit'\n",
        "README.md": README,
        "toolkit/timeutil.py": PY,
        "toolkit/vendored.py": PY_COPY,
        "stats/sum.go": GO,
        "web/format.js": JS,
        "tests/test_timeutil.py": TEST_PY,
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture
def mined(tmp_path):
    repo = write_repo(tmp_path / "toolkit")
    out = tmp_path / "pairs"
    manifest = mine([repo], out, eval_percent=0, progress=False)
    return manifest, read_pairs(out, "train"), out


def test_code_pairs_are_the_documented_functions_without_their_docs(mined):
    _manifest, pairs, _out = mined
    code = {pair.query: pair for pair in pairs if pair.kind == "code"}
    assert set(code) == {
        "Parse a duration string like 5m into seconds.",  # summary: first paragraph only
        "Advance the clock by a number of seconds and count the tick.",  # leading comment
        "Sum returns the total of all values in xs. An empty slice sums to zero.",
        "Format a date as an ISO 8601 string.",  # JSDoc up to its first tag
    }
    parse = code["Parse a duration string like 5m into seconds."]
    assert parse.language == "python" and parse.path == "toolkit/timeutil.py"
    assert parse.symbol == "parse_duration" and parse.source == "toolkit"
    # The document is what the indexer embeds (path, kind, signature header, code) ...
    assert parse.document.startswith("toolkit/timeutil.py\nfunction parse_duration\n")
    assert 'units = {"s": 1, "m": 60, "h": 3600}' in parse.document
    # ... minus the documentation it is paired with.
    assert "Parse a duration" not in parse.document and "Args:" not in parse.document
    advance = code["Advance the clock by a number of seconds and count the tick."]
    assert "#" not in advance.document and "self.ticks += 1" in advance.document
    assert "//" not in code["Sum returns the total of all values in xs. An empty slice sums to zero."].document
    fmt = code["Format a date as an ISO 8601 string."].document
    assert "/**" not in fmt and "@param" not in fmt and "function formatDate(date) {" in fmt


def test_filters_drop_tests_dunders_accessors_short_code_and_duplicates(mined):
    manifest, pairs, _out = mined
    symbols = {pair.symbol for pair in pairs if pair.kind == "code"}
    assert "test_parse_duration_minutes" not in symbols  # tests/ and test_ name
    assert "Clock.__init__" not in symbols  # dunder
    assert "Clock.get_now" not in symbols  # trivial accessor
    assert "tiny" not in symbols  # fewer than 3 code lines
    assert "undocumented" not in symbols  # nothing to pair it with
    assert "Stats.String" not in symbols and "String" not in symbols  # boilerplate
    assert [p.path for p in pairs if p.symbol == "parse_duration" and p.kind == "code"] == [
        "toolkit/timeutil.py"]  # vendored.py, a reformatted twin, is a near duplicate
    assert not [p for p in pairs if p.path.startswith("tests/")]
    filtered = manifest["filtered"]
    assert filtered["duplicate"] >= 1 and filtered["test"] >= 1 and filtered["trivial"] >= 2
    assert filtered["short_code"] >= 1 and filtered["no_doc"] >= 1


def test_text_pairs_are_headings_and_neighbouring_paragraphs(mined):
    _manifest, pairs, _out = mined
    text = {(pair.query, pair.document) for pair in pairs if pair.kind == "text"}
    assert ("Deploying to production",
            "Build the container image, push it to the registry and restart the deployment."
            ) in text
    assert ("A grab bag of small utilities written in several languages for everyday scripts.",
            "Each helper is small, documented and tested, so it can be copied into other "
            "projects.") in text
    # A long docstring's paragraphs, up to its Args: section.
    assert ("Parse a duration string like 5m into seconds.",
            "Accepts the suffixes s, m and h; a bare number means seconds.") in text
    assert not [q for q, d in text if "Args" in q or "Args" in d]


def test_manifest_counts_per_source_language_and_split(mined):
    manifest, pairs, out = mined
    assert json.loads((out / "manifest.json").read_text()) == manifest
    source = manifest["sources"]["toolkit"]
    assert source["split"] == "train" and source["language"] == "python"
    assert source["pairs"]["code"] == 4
    assert source["languages"]["go"]["code"] == 1 and source["languages"]["javascript"]["code"] == 1
    assert source["languages"]["markdown"]["text"] == 2
    assert manifest["totals"]["train"]["code"] == 4
    assert manifest["totals"]["train"]["text"] == len([p for p in pairs if p.kind == "text"])
    assert (out / "train" / "toolkit.jsonl").exists() and read_pairs(out, "eval") == []


def test_sources_split_by_repository_hash(tmp_path):
    corpus = tmp_path / "corpus"
    for name in ("alpha", "beta", "gamma", "delta"):
        write_repo(corpus / name)
    sources = find_sources([corpus], eval_percent=50)
    assert [s.name for s in sources if s.split == "train"] == sorted(
        s.name for s in sources if s.split == "train")  # train sources first, sorted
    assert {s.name: s.split for s in sources} == {n: split_of(n, 50) for n in
                                                   ("alpha", "beta", "gamma", "delta")}
    assert all(split_of(n, 0) == "train" and split_of(n, 100) == "eval" for n in ("a", "b"))
    manifest = mine([corpus], tmp_path / "pairs", eval_percent=50, progress=False)
    # Identical repositories: only the first keeps its pairs, the rest are duplicates.
    kept = [name for name, info in manifest["sources"].items() if info["pairs"]["code"]]
    assert len(kept) == 1 and manifest["sources"][kept[0]]["split"] == "train"
    # A folder that looks like one repository is one source, named after it.
    assert [s.name for s in find_sources([corpus / "alpha"])] == ["alpha"]


def test_helpers():
    assert summary_of("Do a thing.\nOn two lines.\n\nMore.") == "Do a thing. On two lines."
    assert summary_of("Load it.\n:param x: y") == "Load it."
    assert is_test("pkg/tests/helpers.py", "make") and is_test("a/b_test.go", "Sum")
    assert is_test("src/app.ts", "TestParse") and is_test("x.py", "check_tests_pass")
    assert not is_test("src/latest.py", "attestation")
    assert normalised_hash("Foo(a,  b)") == normalised_hash("foo a b")
    assert normalised_hash("foo a b") != normalised_hash("foo a c")


def test_mine_command_line(tmp_path, capsys):
    from trainer.__main__ import main

    repo = write_repo(tmp_path / "toolkit")
    assert main(["mine", str(repo), "--out", str(tmp_path / "pairs"), "--eval-percent", "0",
                 "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["totals"]["train"]["code"] == 4
    assert main(["mine", str(tmp_path / "missing"), "--out", str(tmp_path / "x")]) == 2
    assert "is not a directory" in capsys.readouterr().err
