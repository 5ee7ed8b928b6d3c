"""One repository that holds every kind of bad input an indexer meets in the wild.

Generated at test time (a 20 MB file does not belong in git). `GOOD` files must be
indexed; `SKIPPED` maps each other path to a fragment of the reason the summary must
give for it. Paths are repo-relative, as the summary prints them.
"""

from __future__ import annotations

import os
from pathlib import Path

DEPTH = 10_000
MINIFIED_BYTES = 20 * 1024 * 1024

# path -> (content, a symbol the chunker must find, or "" when none is expected)
GOOD: dict[str, tuple[bytes, str]] = {
    "good/app.py": (b"def compute_invoice_total(lines):\n    return sum(lines)\n", "compute_invoice_total"),
    "good/crlf.py": (b"import os\r\n\r\n\r\ndef crlf_function(a):\r\n    return a\r\n", "crlf_function"),
    "good/bom.py": ("\ufeffdef bom_function():\n    return 'bom'\n".encode(), "bom_function"),
    "good/bom_crlf.js": ("\ufefffunction bomCrlf(a) {\r\n  return a;\r\n}\r\n".encode(), "bomCrlf"),
    "good/broken.py": (b"def broken(:\n    return (\n\ndef fine_after_error():\n    return 2\n", ""),
    "good/broken.go": (b"package p\nfunc Open( {\n}}}\nfunc Good() int { return 1 }\n", ""),
    # 10k-deep nesting, one level a line (one long line would be skipped as minified).
    "good/deep.rs": (b"mod m {\n" * DEPTH + b"fn deepest() {}\n" + b"}\n" * DEPTH, ""),
    "good/deep_ns.cpp": (b"namespace n {\n" * DEPTH + b"int x;\n" + b"}\n" * DEPTH, ""),
    "good/deep.js": (b"f(function () {\n" * DEPTH + b"return 1;\n" + b"});\n" * DEPTH, ""),
    "good/deep.py": (b"x = (\n" + b"(\n" * DEPTH + b"1\n" + b")\n" * (DEPTH + 1), ""),
    "good/deep.json": (b"[\n" * DEPTH + b"1\n" + b"]\n" * DEPTH, ""),
    "good/unclosed.c": (b"int f(void) {\n" + b"{\n" * DEPTH, ""),
    "good/empty.py": (b"", ""),
    "good/blank.md": (b"\n \n\t\n", ""),
    "good/\u540d\u524d.py": (b"def unicode_named():\n    pass\n", "unicode_named"),
}

SKIPPED: dict[str, str] = {
    "bad/image.py": "binary",
    "bad/nul.c": "binary",
    "bad/latin1.py": "not valid UTF-8",
    "bad/minified.js": "minified",
    "bad/unreadable.py": "unreadable (Permission denied)",
    "bad/locked": "unreadable directory (Permission denied)",
    "bad/loop_a.py": "looping symlink",
    "bad/loop_b.py": "looping symlink",
    "bad/dangling.py": "broken or looping symlink",
    "bad/outside.py": "symlink out of the repository",
    "bad/dir_loop": "symlinked directory",
    "bad/caf\ufffd.py": "file name is not valid UTF-8",
    "bad/pipe.sh": "not a regular file",
    ".env": "credentials or secrets",
    ".env.production": "credentials or secrets",
    "deploy/id_rsa": "credentials or secrets",
    "deploy/server.pem": "credentials or secrets",
    "deploy/tls.key": "credentials or secrets",
    "deploy/credentials.json": "credentials or secrets",
    ".npmrc": "credentials or secrets",
    ".pypirc": "credentials or secrets",
    "config/secrets.yaml": "credentials or secrets",
}
SECRET_TEXT = "SUPERSECRET-do-not-index-4242"


def write_nasty_tree(root: Path, outside: Path) -> Path:
    """Write the tree under `root`; `outside` is a file beyond it for the escaping symlink."""
    for rel, (data, _) in GOOD.items():
        _write(root / rel, data)
    bad = root / "bad"
    _write(bad / "image.py", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    _write(bad / "nul.c", b"int main(void) {\n  return 0;\x00\x00\n}\n")
    _write(bad / "latin1.py", "# caf\u00e9 cr\u00e8me\nx = 1\n".encode("latin-1"))
    line = b"var a=function(b,c){return b+c};" * (MINIFIED_BYTES // 33 + 1)
    _write(bad / "minified.js", line + b"\n")
    _write(bad / "unreadable.py", b"def hidden():\n    pass\n")
    os.chmod(bad / "unreadable.py", 0)
    _write(bad / "locked" / "inner.py", b"def inner():\n    pass\n")
    os.chmod(bad / "locked", 0)
    os.symlink("loop_b.py", bad / "loop_a.py")
    os.symlink("loop_a.py", bad / "loop_b.py")
    os.symlink("does/not/exist.py", bad / "dangling.py")
    os.symlink(outside, bad / "outside.py")
    os.symlink(".", bad / "dir_loop")
    with open(os.path.join(os.fsencode(bad), b"caf\xe9.py"), "wb") as handle:
        handle.write(b"def latin1_name():\n    pass\n")
    os.mkfifo(bad / "pipe.sh")
    for rel in SKIPPED:
        if not rel.startswith("bad/"):
            _write(root / rel, f"TOKEN={SECRET_TEXT}\n".encode())
    return root


def restore_permissions(root: Path) -> None:
    """Let pytest clean up: a mode-000 directory cannot be removed otherwise."""
    for rel in ("bad/locked", "bad/unreadable.py"):
        if (root / rel).exists():
            os.chmod(root / rel, 0o755)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
