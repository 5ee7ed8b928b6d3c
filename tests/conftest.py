"""Shared fixtures: models (the real bundled one and a tiny random BERT), a realistic
multi-language repository, and helpers to index it.

Everything here runs for real: the bundled all-MiniLM-L6-v2 weights, Qdrant's engine
(qdrant-edge) on disk, tree-sitter, git. The tiny model stands in where the weights
do not matter (counting chunks, store mechanics) because it loads and runs in
milliseconds.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# ONNX exports of the models tests index with (codesearch/runtime.py) go to a cache of
# this session's own, shared by the CLI subprocesses, never the user's ~/.cache.
os.environ["CODESEARCH_CACHE"] = tempfile.mkdtemp(prefix="codesearch-test-cache-")
atexit.register(shutil.rmtree, os.environ["CODESEARCH_CACHE"], ignore_errors=True)

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt",
                   "special_tokens_map.json")


# ----------------------------------------------------------------------- models


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    from codesearch.embed import resolve_model_path

    return resolve_model_path("all-MiniLM-L6-v2")


@pytest.fixture(scope="session")
def real_encoder(minilm_path):
    """The bundled model, loaded once for the whole session (fp32, CPU)."""
    from codesearch.embed import Encoder, read_model_info

    return Encoder(read_model_info(minilm_path), device="cpu", precision="fp32")


def make_tiny_bert(folder: Path, tokenizer_from: Path, seed: int = 0, hidden: int = 32,
                   manifest: dict | None = None, pooling_cls: bool = False) -> Path:
    """A randomly initialised 2-layer BERT with the bundled model's tokenizer."""
    import json

    import torch
    from transformers import BertConfig, BertModel

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=30522, hidden_size=hidden, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=2 * hidden,
                        max_position_embeddings=512)
    BertModel(config).eval().save_pretrained(folder)
    for name in TOKENIZER_FILES:
        if (tokenizer_from / name).exists():
            shutil.copy(tokenizer_from / name, folder / name)
    if manifest is not None:
        (folder / "codesearch_model.json").write_text(json.dumps(manifest))
    if pooling_cls:
        (folder / "1_Pooling").mkdir(exist_ok=True)
        (folder / "1_Pooling" / "config.json").write_text(
            json.dumps({"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}))
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, minilm_path) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("models") / "tiny-bert", minilm_path)


@pytest.fixture(scope="session")
def other_tiny_model_dir(tmp_path_factory, minilm_path) -> Path:
    """A second tiny model (different weights, same dimension) for model-change tests."""
    return make_tiny_bert(tmp_path_factory.mktemp("models") / "tiny-bert-2", minilm_path, seed=1)


@pytest.fixture(scope="session")
def tiny_encoder(tiny_model_dir):
    from codesearch.embed import Encoder, read_model_info

    return Encoder(read_model_info(tiny_model_dir), device="cpu", precision="fp32")


# ------------------------------------------------------------------ fixture repo

# Each function does one recognisable thing; the search tests ask for them in other words.
FIXTURE_FILES: dict[str, str] = {
    "README.md": """\
# Toolbox

A grab bag of small utilities in several languages, used by the search tests.

## Layout

Python helpers live in `utils/` and `mail/`, the Go service in `server/`, browser
code in `web/`, Rust data structures in `src/` and Java helpers in `java/`.
""",
    "docs/deploy.md": """\
# Operations

## Deploying to production

Build the container image with `docker build -t toolbox .`, push it to the
registry, then roll it out with `kubectl rollout restart deployment/toolbox`.
Watch the pods until every replica reports ready before announcing the release.

## Rotating the database password

Generate a new password in the vault, update the `DATABASE_URL` secret, restart
the workers one at a time, and finally revoke the old credentials.
""",
    "utils/__init__.py": "",
    "utils/retry.py": '''\
"""Helpers for flaky operations."""

import random
import time


def retry_with_backoff(func, attempts=5, base_delay=0.5, max_delay=30.0):
    """Call func until it succeeds, sleeping exponentially longer after each failure."""
    for attempt in range(attempts):
        try:
            return func()
        except Exception:
            if attempt == attempts - 1:
                raise
            delay = min(max_delay, base_delay * 2 ** attempt)
            time.sleep(delay + random.uniform(0, delay / 10))
''',
    "utils/hashing.py": '''\
import hashlib


def sha256_of_file(path, block_size=65536):
    """Return the hex SHA-256 digest of the file at path, reading it in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(block_size), b""):
            digest.update(block)
    return digest.hexdigest()
''',
    "utils/settings.py": '''\
import configparser
import json
from pathlib import Path


def read_settings_file(path):
    """Load application settings from a .json or .ini file into a dict."""
    path = Path(path)
    if path.suffix == ".json":
        return json.loads(path.read_text())
    parser = configparser.ConfigParser()
    parser.read(path)
    return {section: dict(parser[section]) for section in parser.sections()}


def is_prime(n):
    """True when n is a prime number."""
    if n < 2:
        return False
    i = 2
    while i * i <= n:
        if n % i == 0:
            return False
        i += 1
    return True
''',
    "mail/notify.py": '''\
import smtplib
from email.message import EmailMessage


def send_email(host, sender, recipient, subject, body, port=587):
    """Send a plain-text email through an SMTP server using STARTTLS."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message.set_content(body)
    with smtplib.SMTP(host, port) as smtp:
        smtp.starttls()
        smtp.send_message(message)
''',
    "server/handler.go": """\
package server

import (
\t"encoding/json"
\t"net/http"
)

type healthResponse struct {
\tStatus string `json:"status"`
\tVersion string `json:"version"`
}

// HealthHandler answers GET /healthz with the service status as JSON.
func HealthHandler(w http.ResponseWriter, r *http.Request) {
\tif r.Method != http.MethodGet {
\t\thttp.Error(w, "method not allowed", http.StatusMethodNotAllowed)
\t\treturn
\t}
\tw.Header().Set("Content-Type", "application/json")
\tjson.NewEncoder(w).Encode(healthResponse{Status: "ok", Version: "1.2.0"})
}
""",
    "server/bsearch.go": """\
package server

// BinarySearch returns the index of target in the sorted slice xs, or -1.
func BinarySearch(xs []int, target int) int {
\tlo, hi := 0, len(xs)-1
\tfor lo <= hi {
\t\tmid := lo + (hi-lo)/2
\t\tswitch {
\t\tcase xs[mid] == target:
\t\t\treturn mid
\t\tcase xs[mid] < target:
\t\t\tlo = mid + 1
\t\tdefault:
\t\t\thi = mid - 1
\t\t}
\t}
\treturn -1
}
""",
    "web/csv.js": """\
/**
 * Parse CSV text into an array of rows, each an array of fields.
 * Handles quoted fields containing commas and doubled quotes.
 */
function parseCSV(text) {
  const rows = [];
  for (const line of text.split(/\\r?\\n/)) {
    if (line === "") continue;
    const fields = [];
    let field = "", quoted = false;
    for (let i = 0; i < line.length; i++) {
      const c = line[i];
      if (quoted && c === '"' && line[i + 1] === '"') { field += '"'; i++; }
      else if (c === '"') quoted = !quoted;
      else if (c === "," && !quoted) { fields.push(field); field = ""; }
      else field += c;
    }
    fields.push(field);
    rows.push(fields);
  }
  return rows;
}

module.exports = { parseCSV };
""",
    "web/debounce.js": """\
// Delay calls to fn until wait milliseconds have passed without another call.
export function debounce(fn, wait) {
  let timer = null;
  return function (...args) {
    clearTimeout(timer);
    timer = setTimeout(() => fn.apply(this, args), wait);
  };
}
""",
    "web/strings.ts": """\
/** Reverse a string, keeping surrogate pairs (emoji) intact. */
export function reverseString(input: string): string {
  return Array.from(input).reverse().join("");
}

/** Upper-case the first letter of every word. */
export function capitalizeWords(input: string): string {
  return input.replace(/\\b\\w/g, (c) => c.toUpperCase());
}
""",
    "src/lru.rs": """\
use std::collections::HashMap;

/// A fixed-capacity cache that evicts the least recently used entry.
pub struct LruCache {
    capacity: usize,
    tick: u64,
    entries: HashMap<String, (String, u64)>,
}

impl LruCache {
    pub fn new(capacity: usize) -> Self {
        LruCache { capacity, tick: 0, entries: HashMap::new() }
    }

    pub fn get(&mut self, key: &str) -> Option<&String> {
        self.tick += 1;
        let tick = self.tick;
        self.entries.get_mut(key).map(|entry| {
            entry.1 = tick;
            &entry.0
        })
    }

    pub fn put(&mut self, key: String, value: String) {
        self.tick += 1;
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            let oldest = self.entries.iter().min_by_key(|(_, v)| v.1).map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(key, (value, self.tick));
    }
}
""",
    "src/edit_distance.rs": """\
/// Levenshtein distance: the minimum number of single-character insertions,
/// deletions or substitutions that turn `a` into `b`.
pub fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = if ca == *cb { 0 } else { 1 };
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
""",
    "java/src/main/java/app/TemperatureConverter.java": """\
package app;

/** Converts temperatures between the Celsius and Fahrenheit scales. */
public final class TemperatureConverter {
    private TemperatureConverter() {}

    /** Degrees Celsius to degrees Fahrenheit. */
    public static double celsiusToFahrenheit(double celsius) {
        return celsius * 9.0 / 5.0 + 32.0;
    }

    /** Degrees Fahrenheit to degrees Celsius. */
    public static double fahrenheitToCelsius(double fahrenheit) {
        return (fahrenheit - 32.0) * 5.0 / 9.0;
    }
}
""",
}

# Things the index must skip and report.
SKIPPED_FILES: dict[str, bytes] = {
    "package-lock.json": b'{"lockfileVersion": 3}\n',
    "assets/logo.py": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",   # binary posing as source
    "web/vendor.min.js": b"var a=1;" * 100,
    ".env": b"API_TOKEN=hunter2\n",
    "web/app-bundle.js": b"var total=" + b"1+" * 3000 + b"1;\n",  # minified, one long line
}


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True,
                          text=True).stdout


def write_fixture_repo(root: Path, with_skipped: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for rel, text in FIXTURE_FILES.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    if with_skipped:
        for rel, data in SKIPPED_FILES.items():
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    git(root, "init", "-q")
    git(root, "-c", "user.email=t@example.com", "-c", "user.name=t", "add", "-A")
    git(root, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "init")
    return root


@pytest.fixture(scope="session")
def fixture_repo_template(tmp_path_factory) -> Path:
    """A pristine fixture repo; copy it before changing anything."""
    return write_fixture_repo(tmp_path_factory.mktemp("template") / "toolbox")


@pytest.fixture
def fixture_repo(fixture_repo_template, tmp_path) -> Path:
    """A private copy of the fixture repo, for tests that edit it."""
    dest = tmp_path / "toolbox"
    shutil.copytree(fixture_repo_template, dest, symlinks=True)
    return dest


def tiny_config(model_dir: Path):
    from codesearch.config import Config

    config = Config()
    config.model.name = str(model_dir)
    config.model.device = "cpu"
    config.model.precision = "fp32"
    return config


def write_tiny_config(folder: Path, model_dir: Path, name: str = "tiny.toml",
                      extra: str = "") -> Path:
    """The same tiny model as a TOML config file, for commands run as a user runs them."""
    path = folder / name
    path.write_text(f'[model]\nname = "{model_dir}"\ndevice = "cpu"\nprecision = "fp32"\n{extra}')
    return path


def run_cli(*args: str, stdin: str | None = None, cwd: Path | None = None):
    """`python -m codesearch ARGS` in a real subprocess."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    return subprocess.run([sys.executable, "-m", "codesearch", *args], input=stdin,
                          capture_output=True, text=True, cwd=cwd, env=env, timeout=120)
