"""Mistakes users make, and what indexing must never do (execute code, reach the network,
leak the API key). Every mistake: one actionable line on stderr, exit 2, index unchanged.

The wrong-API-key case talks to a real HTTP peer on localhost that answers the way a
Qdrant server with an API key does (401 without the right `api-key` header); no Qdrant
server binary can be installed here. The unreachable case uses a closed local port.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from conftest import make_tiny_bert, write_tiny_config

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
import crash_trials as ct  # noqa: E402

KEY = "sk-test-5b1f0c9e-never-print-me"


def cli(*args: str, cwd: Path | None = None, env: dict | None = None,
        prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    full_env = dict(ct._env(), **(env or {}))
    return subprocess.run([*prefix, sys.executable, "-m", "codesearch", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, env=full_env, timeout=300)


def assert_user_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("codesearch: error: ") and "Traceback" not in lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def index_state(root: Path) -> tuple:
    points, meta = ct.stored_points(root)
    settings = (root / ".codesearch" / "settings.json").read_text()
    return points, meta, settings


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, tiny_model_dir):
    base = tmp_path_factory.mktemp("errors")
    root = ct.make_repo(REPO / "codesearch", base / "repo")
    config = write_tiny_config(base, tiny_model_dir)
    assert ct.run_index(root, config).returncode == 0
    return root, config, base


def write_config(base: Path, name: str, text: str) -> Path:
    path = base / name
    path.write_text(text)
    return path


# ------------------------------------------------------------------ user mistakes


def test_model_with_another_dimension(indexed, minilm_path):
    root, _, base = indexed
    other = make_tiny_bert(base / "tiny-48", minilm_path, hidden=48)
    config = write_config(base, "dim48.toml", f'[model]\nname = "{other}"\ndevice = "cpu"\n')
    before = index_state(root)
    for command in (["index", root], ["search", "parse a file", root]):
        assert_user_error(cli(*command, "--config", config), "dim 32", "dim 48",
                          "codesearch index --full")
    assert index_state(root) == before


def test_missing_model_path(indexed):
    root, _, base = indexed
    config = write_config(base, "missing.toml", '[model]\nname = "/no/such/model-dir"\n')
    before = index_state(root)
    assert_user_error(cli("index", root, "--config", config), "/no/such/model-dir")
    assert index_state(root) == before


def test_unknown_language_in_config(indexed):
    root, _, base = indexed
    config = write_config(base, "lang.toml", '[index]\nlanguages = ["python", "klingon"]\n')
    before = index_state(root)
    assert_user_error(cli("index", root, "--config", config), "klingon", "known:")
    assert index_state(root) == before


@pytest.mark.parametrize("text", ['[model\nname = "x"\n', '[index]\nmax_file_bytes = "big"\n',
                                  '[nonsense]\nx = 1\n', "\xff\xfe not toml"])
def test_malformed_config(indexed, text):
    root, _, base = indexed
    config = base / "bad.toml"
    config.write_bytes(text.encode("latin-1"))
    before = index_state(root)
    assert_user_error(cli("index", root, "--config", config), str(config))
    assert index_state(root) == before


def test_path_that_does_not_exist(indexed):
    root, config, _ = indexed
    for command in ("index", "search", "status"):
        args = [command, "q", root / "nope"] if command == "search" else [command, root / "nope"]
        assert_user_error(cli(*args, "--config", config), "does not exist")


def test_unreachable_qdrant_url(indexed):
    root, _, base = indexed
    with socket.socket() as probe:   # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = write_config(base, "down.toml", f'[qdrant]\nurl = "http://127.0.0.1:{port}"\ntimeout = 3\n')
    before = index_state(root)
    for args in (["index", root], ["search", "x", root], ["status", root]):
        assert_user_error(cli(*args, "--config", config), f"127.0.0.1:{port}", "reach")
    assert index_state(root) == before


class FakeQdrant(BaseHTTPRequestHandler):
    """Answers like a Qdrant server configured with an API key the client does not have."""

    seen: ClassVar[list[dict]] = []

    def _deny(self) -> None:
        FakeQdrant.seen.append({"path": self.path, "headers": dict(self.headers)})
        status = 401 if "api-key" not in self.headers else 403
        body = json.dumps({"status": {"error": "Invalid api-key"}, "time": 0.0}).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _deny

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def fake_qdrant():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeQdrant)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeQdrant.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_wrong_api_key_is_one_line_and_never_printed(indexed, fake_qdrant):
    root, _, base = indexed
    config = write_config(base, "server.toml", f'[qdrant]\nurl = "{fake_qdrant}"\n')
    before = index_state(root)
    for args in (["index", root], ["search", "x", root], ["status", root]):
        result = cli(*args, "--config", config, "-v" if args[0] == "index" else "--json",
                     env={"QDRANT_API_KEY": KEY})
        line = assert_user_error(result, "API key", "QDRANT_API_KEY")
        assert KEY not in result.stdout + result.stderr and KEY[-8:] not in line
    assert index_state(root) == before
    # The key did go to the server, in the header Qdrant reads, and only there.
    assert FakeQdrant.seen and all(r["headers"].get("api-key") == KEY for r in FakeQdrant.seen)
    assert all(KEY not in r["path"] for r in FakeQdrant.seen)


def test_api_key_from_config_never_reaches_settings_or_output(indexed, fake_qdrant):
    root, _, base = indexed
    config = write_config(base, "keyed.toml", f'[qdrant]\nurl = "{fake_qdrant}"\napi_key = "{KEY}"\n')
    result = cli("index", root, "--config", config)
    assert_user_error(result, "API key")
    assert KEY not in result.stderr
    assert KEY not in (root / ".codesearch" / "settings.json").read_text()


# ------------------------------------------------------------------------ security


EVIL = """\
import pathlib
pathlib.Path({marker!r}).write_text("executed")
"""


def test_indexing_never_executes_or_imports_indexed_code(tmp_path, tiny_model_dir):
    root = tmp_path / "evil"
    marker = tmp_path / "EXECUTED"
    for rel in ("setup.py", "conftest.py", "pkg/__init__.py", "json.py", "typing.py",
                "codesearch/__init__.py", "sitecustomize.py", "usercustomize.py"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(EVIL.format(marker=str(marker)))
    (root / "evil.pth").write_text(f"import pathlib; pathlib.Path({str(marker)!r}).write_text('pth')\n")
    (root / "Makefile").write_text(f"all:\n\ttouch {marker}\n")
    (root / "run.sh").write_text(f"#!/bin/sh\ntouch {marker}\n")
    os.chmod(root / "run.sh", 0o755)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    config = write_config(tmp_path, "tiny.toml", f'[model]\nname = "{tiny_model_dir}"\n')
    # Run from inside the repository with the installed command, as a user would.
    command = shutil.which("codesearch", path=str(Path(sys.executable).parent))
    assert command, "the codesearch entry point is not installed"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for args in (["index", ".", "--config", str(config)], ["search", "write text", "."],
                 ["status", "."]):
        result = subprocess.run([command, *args], cwd=root, capture_output=True, text=True,
                                env=env, timeout=300)
        assert result.returncode == 0, result.stderr
    assert not marker.exists()


def test_no_network_at_run_time(tmp_path, tiny_model_dir):
    """strace sees every connect() of the process tree, native libraries' included."""
    if not shutil.which("strace"):
        pytest.skip("strace is not installed")
    root = ct.make_repo(REPO / "codesearch", tmp_path / "repo")
    config = write_config(tmp_path, "tiny.toml", f'[model]\nname = "{tiny_model_dir}"\n')
    env = {"HF_HUB_OFFLINE": "", "TRANSFORMERS_OFFLINE": ""}   # nothing forced offline
    for args in (["index", root, "--config", config], ["search", "read a file", root]):
        trace = tmp_path / "trace.txt"
        result = cli(*args, env=env, prefix=("strace", "-f", "-qq", "-e", "trace=connect",
                                             "-o", str(trace)))
        assert result.returncode == 0, result.stderr
        calls = [line for line in trace.read_text().splitlines() if "connect(" in line]
        assert not [c for c in calls if "AF_INET" in c], calls
