"""The TUI, driven by Textual's Pilot against a real index of the fixture repository.

The index is built once per module with the real bundled model; tests that change
the repository work on a copy of the indexed folder (index included). The pure
pieces (query syntax, editor command lines, history) have plain unit tests.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import write_fixture_repo

from codesearch.config import load_config
from codesearch.indexer import Indexer
from codesearch.tui.app import CodeSearchApp
from codesearch.tui.editor import editor_command, find_editor
from codesearch.tui.filters import FilterBar
from codesearch.tui.history import QueryHistory, default_history_path
from codesearch.tui.messages import SearchDone
from codesearch.tui.preview import Preview
from codesearch.tui.query import ParsedQuery, parse_query
from codesearch.tui.query_input import QueryInput
from codesearch.tui.results import ResultsList, score_bar
from codesearch.tui.screens import BuildScreen, HelpScreen, SkippedScreen
from codesearch.tui.session import IndexSession
from codesearch.tui.statusbar import StatusBar, ago

pytestmark = pytest.mark.anyio  # the Pilot tests are coroutines; the rest ignore the mark

DOCS = Path(__file__).resolve().parent.parent / "docs"
SIZE = (100, 30)

# ------------------------------------------------------------------ query syntax


def test_parse_query_takes_filter_tokens_out_of_the_text():
    q = parse_query("retry lang:go kind:function path:src/** with backoff")
    assert q == ParsedQuery("retry with backoff", ("go",), ("function",), "src/**")


def test_parse_query_aliases_lists_and_quotes():
    q = parse_query('LANG:py,ts language:rust kind:fn path:"my dir/**" parse')
    assert q.text == "parse"
    assert q.languages == ("python", "typescript", "rust")
    assert q.kinds == ("function",)
    assert q.glob == "my dir/**"


def test_parse_query_leaves_lookalikes_and_half_typed_tokens():
    # A token must start a word; a key without a value (still being typed) filters nothing.
    q = parse_query("http://host/path parse_url lang:")
    assert q == ParsedQuery("http://host/path parse_url")
    assert parse_query("a path:x path:y").glob == "y"  # the last one wins
    assert parse_query("") == ParsedQuery("")


def test_filters_from_widgets_add_to_the_tokens():
    q = parse_query("sort lang:go path:server/**").with_filters("rust", "function", "src/**")
    assert q.languages == ("go", "rust") and q.kinds == ("function",)
    assert q.glob == "server/**"  # the token beats the glob box
    assert parse_query("sort").with_filters(None, None, "  ").glob is None
    assert parse_query("sort lang:go").with_filters("go", None, None).languages == ("go",)


# ----------------------------------------------------------- editor and history


@pytest.mark.parametrize(("editor", "expected"), [
    ("vim", ["vim", "+12", "/r/a.py"]),
    ("/usr/bin/nvim -u NONE", ["/usr/bin/nvim", "-u", "NONE", "+12", "/r/a.py"]),
    ("emacsclient -t", ["emacsclient", "-t", "+12", "/r/a.py"]),
    ("nano", ["nano", "+12", "/r/a.py"]),
    ("micro", ["micro", "+12", "/r/a.py"]),
    ("hx", ["hx", "+12", "/r/a.py"]),
    ("code --wait", ["code", "--wait", "-g", "/r/a.py:12"]),
    ("subl", ["subl", "/r/a.py:12"]),
    ("gedit", ["gedit", "/r/a.py"]),
])
def test_editor_command(editor, expected):
    assert editor_command(editor, "/r/a.py", 12) == expected


def test_find_editor_prefers_visual():
    assert find_editor({"VISUAL": "code -w", "EDITOR": "vim"}) == "code -w"
    assert find_editor({"VISUAL": " ", "EDITOR": "vim"}) == "vim"
    assert find_editor({}) is None


def test_history_recalls_like_a_shell_and_persists(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert default_history_path() == tmp_path / "state" / "codesearch" / "history.json"
    history = QueryHistory(limit=3)
    for query in ("one", "two", "one", "three", "four", "  "):
        history.add(query)
    assert history.entries == ["one", "three", "four"]  # de-duplicated, limited, no blanks
    assert QueryHistory().entries == ["one", "three", "four"]  # on disk
    assert [history.previous(), history.previous(), history.previous(), history.previous()] \
        == ["four", "three", "one", None]
    assert [history.next(), history.next(), history.next()] == ["three", "four", ""]
    assert history.next() is None and not history.recalling
    (tmp_path / "state" / "codesearch" / "history.json").write_text("{not json")
    assert QueryHistory().entries == []  # a damaged file never stops the TUI


def test_score_bar_and_age():
    assert score_bar(1.0) == "████████"
    assert score_bar(0.5) == "████    "
    assert score_bar(1 / 16) == "▌       "
    assert score_bar(0.0) == " " * 8
    from datetime import UTC, datetime, timedelta

    now = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)
    assert ago(now - timedelta(seconds=5), now) == "just now"
    assert ago(now - timedelta(minutes=7), now) == "7 min ago"
    assert ago(now - timedelta(hours=3), now) == "3 h ago"
    assert ago(now - timedelta(days=2), now) == "2 days ago"
    assert ago(None) == "never"


# ---------------------------------------------------------------- the real app


@pytest.fixture(scope="module")
def encoder():
    """The bundled model, loaded once for the module (indexing and every app share it)."""
    from codesearch.embed import Encoder, read_model_info, resolve_model_path

    return Encoder(read_model_info(resolve_model_path("all-MiniLM-L6-v2")), device="cpu",
                   precision="fp32")


@pytest.fixture(scope="module")
def indexed_repo(tmp_path_factory, encoder) -> Path:
    root = write_fixture_repo(tmp_path_factory.mktemp("tui") / "toolbox")
    Indexer(root, load_config(None, root), encoder=encoder).run()
    return root


@pytest.fixture
def history(tmp_path) -> QueryHistory:
    return QueryHistory(tmp_path / "history.json")


@pytest.fixture
def make_app(encoder, history):
    sessions: list[IndexSession] = []

    def make(root: Path) -> CodeSearchApp:
        session = IndexSession.locate(root, encoder=encoder)
        sessions.append(session)
        return CodeSearchApp(session, history=history)

    yield make
    for session in sessions:
        session.close()


async def wait_for(pilot, condition: Callable[[], object], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {condition}")
        await pilot.pause(0.02)


async def search(pilot, app: CodeSearchApp, text: str) -> list:
    """Type `text` into the (cleared) query box and wait for its results."""
    await wait_for(pilot, lambda: app.ready)
    app.query_one(QueryInput).value = ""
    app.query_one(QueryInput).focus()
    await pilot.press(*text)
    await wait_for(pilot, lambda: app.results_current)
    return app.query_one(ResultsList).hits


async def test_type_a_query_see_the_hit_and_its_preview(indexed_repo, make_app):
    app = make_app(indexed_repo)
    async with app.run_test(size=SIZE) as pilot:
        hits = await search(pilot, app, "send an email through smtp")
        assert (hits[0].path, hits[0].symbol, hits[0].start_line) == \
            ("mail/notify.py", "send_email", 5)
        preview = app.query_one(Preview)
        assert preview.border_title == f"mail/notify.py:5-{hits[0].end_line}"
        assert "def send_email(host, sender" in preview.text
        assert preview.text == (indexed_repo / "mail/notify.py").read_text()  # the whole file
        assert preview.language == "python"
        assert preview._marked == (4, hits[0].end_line - 1)
        assert "hits" in str(app.query_one(ResultsList).border_title)
        # The status bar knows the index: chunks, files, freshness, skipped files.
        await wait_for(pilot, lambda: app.status is not None and app.status.stale is not None)
        facts = str(app.query_one("#index-facts").render())
        assert f"{app.status.chunks} chunks" in facts and "up to date" in facts
        assert "5 skipped" in facts and "all-MiniLM-L6-v2" in facts


async def test_stale_results_never_overwrite_newer_ones(indexed_repo, make_app):
    app = make_app(indexed_repo)
    async with app.run_test(size=SIZE) as pilot:
        hits = await search(pilot, app, "levenshtein edit distance")
        assert hits[0].path == "src/edit_distance.rs"
        # A slow search for an older version of the query answers late: ignored.
        old = app.results_shown[0] - 1
        app.post_message(SearchDone(old, parse_query("email"), [], "", 0.5))
        await pilot.pause(0.1)
        assert app.query_one(ResultsList).hits[0].path == "src/edit_distance.rs"


async def test_move_through_results_with_arrows_and_jk(indexed_repo, make_app):
    app = make_app(indexed_repo)
    async with app.run_test(size=SIZE) as pilot:
        hits = await search(pilot, app, "convert temperature celsius")
        results = app.query_one(ResultsList)
        preview = app.query_one(Preview)
        assert results.highlighted == 0
        await pilot.press("down", "down")  # from the query box
        assert results.highlighted == 2 and preview.hit == hits[2]
        await pilot.press("up")
        assert results.highlighted == 1
        await pilot.press("enter")  # to the list
        assert app.focused is results
        await pilot.press("j", "j", "k")
        assert results.highlighted == 2
        assert preview.border_title.startswith(f"{hits[2].path}:{hits[2].start_line}")
        await pilot.press("j")
        await pilot.press("y")
        hit = hits[3]
        assert app.clipboard == f"{hit.path}:{hit.start_line}"
        await pilot.click(ResultsList, offset=(5, 1))  # a click previews the first hit
        assert results.highlighted == 0 and preview.hit == hits[0]


async def test_lang_kind_and_path_tokens_filter(indexed_repo, make_app):
    app = make_app(indexed_repo)
    async with app.run_test(size=SIZE) as pilot:
        hits = await search(pilot, app, "search a sorted list lang:go")
        assert hits and {h.language for h in hits} == {"go"}
        assert hits[0].symbol == "BinarySearch"
        hits = await search(pilot, app, "hash kind:function path:utils/**")
        assert hits and all(h.kind == "function" and h.path.startswith("utils/") for h in hits)
        assert hits[0].symbol == "sha256_of_file"
        await search(pilot, app, "anything lang:klingon")
        assert "unknown language" in str(app.query_one(ResultsList).get_option_at_index(0).prompt)


async def test_filter_widgets_by_keyboard_and_mouse(indexed_repo, make_app):
    app = make_app(indexed_repo)
    async with app.run_test(size=SIZE) as pilot:
        hits = await search(pilot, app, "least recently used cache")
        assert len({h.language for h in hits}) > 1
        filters = app.query_one(FilterBar)
        # Keyboard: F2 opens the language list (the index's languages), type to pick.
        await pilot.press("f2")
        await pilot.press(*"rust", "enter")
        assert filters.language == "rust"
        await wait_for(pilot, lambda: app.results_current)
        hits = app.query_one(ResultsList).hits
        assert hits and {h.language for h in hits} == {"rust"}
        assert hits[0].path == "src/lru.rs"
        # Mouse: open the kind list and click "function".
        await pilot.click("#kind-filter")
        overlay = app.query_one("#kind-filter SelectOverlay")
        row = next(i for i, option in enumerate(overlay.options)
                   if str(option.prompt) == "function")
        await pilot.click(overlay, offset=(3, row - overlay.scroll_offset.y))
        assert filters.kind == "function"
        await wait_for(pilot, lambda: app.results_current)
        hits = app.query_one(ResultsList).hits
        assert hits and {(h.language, h.kind) for h in hits} == {("rust", "function")}
        assert hits[0].symbol == "levenshtein"
        # The glob box, typed into.
        await pilot.press("escape")  # back to the query (kept: it is not empty)
        app.query_one("#language-filter").clear()
        app.query_one("#kind-filter").clear()
        await pilot.press("f4", *"web/**")
        await wait_for(pilot, lambda: app.results_current)
        hits = app.query_one(ResultsList).hits
        assert hits and all(h.path.startswith("web/") for h in hits)


EDITOR_SCRIPT = """#!/bin/sh
for arg in "$@"; do echo "$arg"; done > "{out}"
"""


async def test_enter_opens_the_editor_at_the_line(indexed_repo, make_app, tmp_path, monkeypatch):
    out = tmp_path / "editor-args.txt"
    editor = tmp_path / "bin" / "vim"  # recognised by name: takes +LINE FILE
    editor.parent.mkdir()
    editor.write_text(EDITOR_SCRIPT.format(out=out))
    editor.chmod(editor.stat().st_mode | stat.S_IEXEC)
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", str(editor))
    app = make_app(indexed_repo)
    async with app.run_test(size=SIZE) as pilot:
        hits = await search(pilot, app, "health check http handler")
        assert hits[0].symbol == "HealthHandler"
        await pilot.press("enter", "enter")  # to the list, then open
        await wait_for(pilot, out.exists)
        assert out.read_text().split("\n")[:2] == \
            [f"+{hits[0].start_line}", str(indexed_repo / "server/handler.go")]
        # The query that led somewhere is remembered for next time.
        assert json.loads(app.history.path.read_text()) == ["health check http handler"]


async def test_history_recall_across_sessions(indexed_repo, make_app, history):
    history.add("parse csv rows")
    history.add("rotate the database password")
    app = make_app(indexed_repo)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.ready)
        query = app.query_one(QueryInput)
        await pilot.press("up")
        assert query.value == "rotate the database password"
        await pilot.press("up")
        assert query.value == "parse csv rows"
        await pilot.press("ctrl+n")
        assert query.value == "rotate the database password"
        await wait_for(pilot, lambda: app.results_current)
        assert app.query_one(ResultsList).hits[0].path == "docs/deploy.md"
        await pilot.press("down")  # with a recalled query, down moves through the results
        assert app.query_one(ResultsList).highlighted == 1
        await pilot.press("ctrl+p")
        assert query.value == "parse csv rows"


async def test_escape_clears_then_quits(indexed_repo, make_app):
    app = make_app(indexed_repo)
    async with app.run_test(size=SIZE) as pilot:
        await search(pilot, app, "debounce")
        await pilot.press("escape")
        assert app.query_one(QueryInput).value == ""
        await wait_for(pilot, lambda: app.results_current)
        assert app.query_one(ResultsList).hits == []
        await pilot.press("escape")
        await wait_for(pilot, lambda: not app.is_running)


async def test_help_skipped_files_and_themes(indexed_repo, make_app, tmp_path):
    app = make_app(indexed_repo)
    async with app.run_test(size=SIZE) as pilot:
        await search(pilot, app, "retry with exponential backoff")
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        keys = dict(row for _, rows in app.key_help() for row in rows)
        assert {"Re-index the files changed since", "Open in $EDITOR", "Older query",
                "Copy the highlighted hit's path:line"} <= set(keys.values())
        await pilot.press("escape")
        await pilot.press("enter", "question_mark")  # ? from the results list
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.press("f6")
        assert isinstance(app.screen, SkippedScreen)
        assert (".env", "credentials or secrets") in app.screen.skipped
        await pilot.press("escape")
        dark = app.current_theme.dark
        await pilot.press("ctrl+t")
        assert app.current_theme.dark is not dark
        await pilot.press("ctrl+t")
        assert app.current_theme.dark is dark


async def test_small_and_large_terminals(indexed_repo, make_app, tmp_path):
    app = make_app(indexed_repo)
    async with app.run_test(size=(80, 24)) as pilot:
        await search(pilot, app, "capitalize every word")
        main = app.query_one("#main")
        assert main.has_class("-stacked")  # preview under the results
        for widget in (app.query_one(ResultsList), app.query_one(Preview),
                       app.query_one(StatusBar), app.query_one(QueryInput)):
            assert widget.region.height > 0 and widget.region.right <= 80
        assert app.query_one(Preview).region.height >= 8
        assert app.query_one(ResultsList).hits[0].symbol == "capitalizeWords"
        await pilot.resize_terminal(200, 60)
        await pilot.pause()
        assert not main.has_class("-stacked")  # side by side
        assert app.query_one(Preview).region.x > app.query_one(ResultsList).region.x


async def test_screenshots(indexed_repo, make_app, tmp_path):
    """SVG screenshots, dark and light, big and 80x24; `CODESEARCH_SCREENSHOTS=docs` keeps
    them in docs/ (the README shows one)."""
    folder = DOCS if os.environ.get("CODESEARCH_SCREENSHOTS") == "docs" else tmp_path
    folder.mkdir(exist_ok=True)
    app = make_app(indexed_repo)
    shots: dict[str, Path] = {}
    async with app.run_test(size=(130, 36)) as pilot:
        await search(pilot, app, "retry a flaky call with backoff")
        await wait_for(pilot, lambda: app.status is not None and app.status.stale is not None)
        for size, suffix in (((130, 36), ""), ((80, 24), "-80x24")):
            await pilot.resize_terminal(*size)
            for theme in ("dark", "light"):
                app.theme = f"textual-{theme}"
                await pilot.pause(0.1)
                name = f"tui-{theme}{suffix}.svg"
                shots[name] = Path(app.save_screenshot(name, path=str(folder)))
    for svg in shots.values():
        text = svg.read_text()
        assert text.startswith("<svg") and "retry_with_backoff" in text and "utils/retry.py" in text
    assert shots["tui-dark.svg"].read_text() != shots["tui-light.svg"].read_text()


async def test_ctrl_r_reindexes_changed_files(indexed_repo, make_app, tmp_path):
    root = tmp_path / "toolbox"
    shutil.copytree(indexed_repo, root, symlinks=True)  # the index comes along
    (root / "utils" / "semver.py").write_text('''\
def compare_semantic_versions(a, b):
    """Compare two semantic version strings such as 1.10.2 and 1.9.0."""
    return [int(x) for x in a.split(".")] > [int(x) for x in b.split(".")]
''')
    app = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.status is not None and app.status.stale is not None)
        assert app.status.stale == 1
        hits = await search(pilot, app, "compare semantic version strings")
        assert "utils/semver.py" not in {h.path for h in hits}
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: not app.indexing, timeout=60)
        assert app.status.stale == 0
        await wait_for(pilot, lambda: app.results_current)
        hits = app.query_one(ResultsList).hits
        assert (hits[0].path, hits[0].symbol) == ("utils/semver.py", "compare_semantic_versions")


async def test_no_index_offers_to_build_one(fixture_repo, make_app):
    shutil.rmtree(fixture_repo / "java")  # a little less to embed
    app = make_app(fixture_repo)
    async with app.run_test(size=SIZE) as pilot:
        # Nested widgets mount a little after the screen itself.
        await wait_for(pilot, lambda: isinstance(app.screen, BuildScreen)
                       and app.screen.query("#build-text") and app.focused is not None)
        assert app.focused.id == "build"
        assert "has not been indexed" in str(app.screen.query_one("#build-text").render())
        await pilot.press("enter")  # "Build index" has the focus
        await wait_for(pilot, lambda: app.ready, timeout=60)
        assert not isinstance(app.screen, BuildScreen)
        assert (fixture_repo / ".codesearch" / "settings.json").is_file()
        hits = await search(pilot, app, "levenshtein distance between strings")
        assert hits[0].symbol == "levenshtein"
