"""Opening a hit in the user's editor at the right line."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from pathlib import PurePath

# Editors that take `+LINE FILE`.
PLUS_LINE = frozenset({"vi", "vim", "nvim", "gvim", "mvim", "view", "emacs", "emacsclient",
                       "nano", "micro", "hx", "helix", "kak", "joe", "ne", "mg", "jed", "pico"})
# Editors that take `-g FILE:LINE` (VS Code and its forks).
GOTO_FLAG = frozenset({"code", "code-insiders", "codium", "vscodium", "cursor", "windsurf"})
# Editors that take `FILE:LINE`.
COLON_LINE = frozenset({"subl", "sublime_text", "zed", "mate"})


def find_editor(environ: Mapping[str, str] | None = None) -> str | None:
    """$VISUAL, else $EDITOR, else None."""
    env = os.environ if environ is None else environ
    return (env.get("VISUAL") or "").strip() or (env.get("EDITOR") or "").strip() or None


def editor_command(editor: str, path: str, line: int) -> list[str]:
    """The argv that opens `path` at `line` in `editor` (a command line such as "code -w")."""
    argv = shlex.split(editor)
    name = PurePath(argv[0]).name.lower().removesuffix(".exe")
    if name in PLUS_LINE:
        return [*argv, f"+{line}", path]
    if name in GOTO_FLAG:
        return [*argv, "-g", f"{path}:{line}"]
    if name in COLON_LINE:
        return [*argv, f"{path}:{line}"]
    return [*argv, path]
