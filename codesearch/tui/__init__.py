"""`codesearch tui`: interactive search in the terminal (Textual)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["run_tui"]


def run_tui(path: Path, config_path: Path | None = None) -> int:
    """Run the TUI on the index of the repository at or around `path`; the exit code."""
    from codesearch.tui.app import CodeSearchApp
    from codesearch.tui.session import IndexSession

    session = IndexSession.locate(path, config_path)
    app = CodeSearchApp(session)
    try:
        app.run()
    finally:
        session.close()
    return app.return_code or 0
