"""The `codesearch` command, in the ripgrep spirit.

Quiet by default, results on stdout, everything else on stderr, `--json` for
machines. Exit codes: 0 found something, 1 found nothing, 2 error (one line on
stderr, never a traceback), 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
from collections import Counter
from pathlib import Path

from codesearch import __version__
from codesearch.chunk import KINDS
from codesearch.config import FUSIONS
from codesearch.errors import UserError

EXIT_FOUND, EXIT_NONE, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like every other error
        self.exit(EXIT_ERROR, f"codesearch: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="codesearch", description="Semantic code search on your own machine.")
    parser.add_argument("--version", action="version", version=f"codesearch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("index", help="index a repository (only what changed since last time)")
    p.add_argument("path", nargs="?", default=".", help="repository root (default: .)")
    p.add_argument("--config", type=Path, help="TOML config (see index_configs/default.toml)")
    p.add_argument("--full", action="store_true", help="drop the index and rebuild it")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no summary")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("-v", "--verbose", action="store_true", help="list every skipped file")

    p = sub.add_parser("search", help="search an index by meaning and by identifiers")
    p.add_argument("query", help="what you are looking for; '-' reads one query per line from stdin")
    p.add_argument("path", nargs="?", default=".", help="repository (default: the one around .)")
    p.add_argument("-k", "--limit", type=int, help="number of results (default 10)")
    p.add_argument("--lang", action="append", help="only this language (repeatable)")
    p.add_argument("--kind", action="append", choices=KINDS, help="only this kind (repeatable)")
    p.add_argument("--glob", "-g", help="only paths matching this gitignore-style glob")
    p.add_argument("--fusion", choices=FUSIONS,
                   help="how to combine dense and lexical retrieval (default from config)")
    p.add_argument("--json", action="store_true", help="one JSON object per hit")
    p.add_argument("--config", type=Path, help="TOML config (default: the index's own)")

    p = sub.add_parser("tui", help="interactive search in the terminal")
    p.add_argument("path", nargs="?", default=".", help="repository (default: the one around .)")
    p.add_argument("--config", type=Path, help="TOML config (default: the index's own)")

    p = sub.add_parser("status", help="what is indexed, with which model, and what changed since")
    p.add_argument("path", nargs="?", default=".")
    p.add_argument("--config", type=Path)
    p.add_argument("--json", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        code = _main(argv)
    except KeyboardInterrupt:  # anywhere in _main, its error handlers included
        print("codesearch: interrupted; run the same command again to resume", file=sys.stderr)
        code = EXIT_INTERRUPTED
    if argv is None:  # the program itself, not a test calling in
        # The work is done or cleanly stopped: a Ctrl-C while the interpreter shuts down
        # would only kill it by the signal (status -2) for nothing. signal.signal raises
        # a pending KeyboardInterrupt before it changes the handler, hence the retries.
        for _ in range(3):
            try:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                break
            except KeyboardInterrupt:
                code = EXIT_INTERRUPTED
        if code == EXIT_INTERRUPTED:
            # CPython kills itself by SIGINT at exit (status -2, not 130) once a
            # KeyboardInterrupt has crossed a PyRun_* call made from C, even one caught
            # later, as ours was (seen with strace: SIG_DFL, then kill(self, SIGINT)).
            # Everything is closed by now (the store, the index lock): leave directly.
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(OSError, ValueError):  # a reader gone, or closed
                    stream.flush()
            os._exit(code)
    return code


def _main(argv: list[str] | None) -> int:
    try:
        args = build_parser().parse_args(argv)
        commands = {"index": cmd_index, "search": cmd_search, "status": cmd_status, "tui": cmd_tui}
        return commands[args.command](args)
    except UserError as err:
        print(f"codesearch: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        # `codesearch search ... | head`: the reader left, which is not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FOUND


# ------------------------------------------------------------------- index


def cmd_index(args) -> int:
    from codesearch.indexer import Indexer
    from codesearch.locate import config_for_indexing

    root = Path(args.path)
    if not root.exists():
        raise UserError(f"path {root} does not exist")
    if not root.is_dir():
        raise UserError(f"{root} is not a directory; give the repository's root folder")
    root = root.resolve()
    # This process forks nothing after tokenizing, so the tokenizer may use every core
    # between forward passes (1.7x faster here); elsewhere it stays serial (embed.py).
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
    config = config_for_indexing(root, args.config)
    show = not args.quiet and not args.json
    indexer = Indexer(root, config, progress=show and sys.stderr.isatty(),
                      log=(lambda m: print(m, file=sys.stderr)) if show else None)
    summary = indexer.run(full=args.full)
    if args.json:
        print(json.dumps(_summary_dict(summary)))
    elif not args.quiet:
        _print_summary(summary, args.verbose)
    return EXIT_FOUND


def _summary_dict(s) -> dict:
    return {
        "files": s.files_seen, "files_indexed": s.files_indexed, "files_unchanged": s.files_unchanged,
        "files_deleted": s.files_deleted, "chunks": s.chunks_total, "chunks_embedded": s.chunks_embedded,
        "chunks_reused": s.chunks_reused, "tokens": s.tokens, "seconds": round(s.seconds, 3),
        "tokens_per_second": round(s.tokens_per_second, 1),
        "stage_seconds": {k: round(v, 3) for k, v in s.stage_seconds.items()},
        "skipped": [{"path": x.path, "reason": x.reason} for x in s.skipped],
        "parse_fallbacks": [{"path": x.path, "reason": x.reason} for x in s.parse_fallbacks],
    }


def _print_summary(s, verbose: bool) -> None:
    out = sys.stdout
    print(f"indexed {s.files_indexed} files ({s.files_unchanged} unchanged, {s.files_deleted} removed) "
          f"-> {s.chunks_total} chunks in {s.seconds:.1f}s", file=out)
    if s.chunks_embedded or s.chunks_reused:
        print(f"  embedded {s.chunks_embedded} chunks ({s.tokens:,} tokens, "
              f"{s.tokens_per_second:,.0f} tokens/s), reused {s.chunks_reused} vectors", file=out)
    if s.skipped:
        reasons = Counter(x.reason for x in s.skipped)
        print(f"  skipped {len(s.skipped)} files: "
              + ", ".join(f"{n} {r}" for r, n in reasons.most_common()), file=out)
    if s.parse_fallbacks:
        print(f"  {len(s.parse_fallbacks)} files did not parse and were indexed as line windows:",
              file=out)
        for x in s.parse_fallbacks[: None if verbose else 10]:
            print(f"    {x.path}", file=out)
    if verbose:
        for x in s.skipped:
            print(f"  skipped {x.path}: {x.reason}", file=out)


# ------------------------------------------------------------------ search


def cmd_search(args) -> int:
    from codesearch.search import Searcher

    if args.limit is not None and args.limit <= 0:
        raise UserError("-k/--limit must be a positive number")
    path = Path(args.path)
    if not path.exists():
        raise UserError(f"path {path} does not exist")
    queries = sys.stdin.read().splitlines() if args.query == "-" else [args.query]
    found = False
    color = sys.stdout.isatty() and not os.environ.get("NO_COLOR") and not args.json
    with Searcher.open(path, args.config) as searcher:
        for query in queries:
            if not query.strip():
                continue
            hits = searcher.search(query, limit=args.limit, languages=args.lang, kinds=args.kind,
                                   glob=args.glob, fusion=args.fusion)
            found = found or bool(hits)
            for hit in hits:
                if args.json:
                    record = {k: v for k, v in hit.to_dict().items() if k != "code"}
                    if args.query == "-":
                        record["query"] = query
                    print(json.dumps(record, ensure_ascii=False))
                else:
                    _print_hit(hit, color)
            sys.stdout.flush()
    return EXIT_FOUND if found else EXIT_NONE


def _print_hit(hit, color: bool) -> None:
    magenta, green, bold, dim, reset = (
        ("\x1b[35m", "\x1b[32m", "\x1b[1m", "\x1b[2m", "\x1b[0m") if color else ("",) * 5)
    symbol = hit.symbol or f"({hit.kind})"
    print(f"{magenta}{hit.path}{reset}:{green}{hit.start_line}{reset}  {bold}{symbol}{reset}"
          f"  {dim}{hit.kind} {hit.language} {hit.score:.3f}{reset}")
    for line in hit.snippet.splitlines():
        print(f"    {line}")
    print()


# ------------------------------------------------------------------ status


def cmd_status(args) -> int:
    from codesearch.embed import read_model_info, resolve_model_path
    from codesearch.indexer import Indexer
    from codesearch.locate import find_root, open_store, resolve_config

    path = Path(args.path)
    if not path.exists():
        raise UserError(f"path {path} does not exist")
    root = find_root(path if path.is_dir() else path.parent)
    config = resolve_config(root, args.config)
    store = open_store(root, config)
    try:
        meta = store.read_meta()
        if not meta:
            raise UserError(f"no index for {root}: run 'codesearch index {root}' first")
        indexer = Indexer(root, config)
        plan = indexer.plan(store, meta)
        changed = [f.path for f in plan.todo
                   if f.path in plan.states and indexer.file_changed(f, plan.states.get(f.path))]
        new = [f.path for f in plan.todo if f.path not in plan.states]
        chunks = store.count()
    finally:
        store.close()
    configured = read_model_info(resolve_model_path(config.model.name), config.model.max_length)
    status = {
        "root": str(root), "model": meta.get("model_id"), "dim": meta.get("dim"),
        "configured_model": configured.model_id,
        "store": config.qdrant.url or str(Path(config.index.path or root / ".codesearch")),
        "indexed_at": meta.get("indexed_at"), "complete": bool(meta.get("complete")),
        "files": meta.get("files"), "chunks": chunks,
        "changed": changed, "new": new, "deleted": plan.gone,
    }
    if args.json:
        print(json.dumps(status))
        return EXIT_FOUND
    print(f"index of {root}")
    print(f"  model       {status['model']} (dim {status['dim']})")
    if status["configured_model"] != status["model"]:
        print(f"  WARNING     config names {status['configured_model']}: "
              "rebuild with 'codesearch index --full'")
    print(f"  store       {status['store']}")
    print(f"  indexed at  {status['indexed_at'] or 'never completed'}"
          + ("" if status["complete"] else " (last run interrupted: run index to resume)"))
    print(f"  contents    {status['files']} files, {chunks} chunks")
    stale = len(changed) + len(new) + len(plan.gone)
    print(f"  since then  {len(changed)} changed, {len(new)} new, {len(plan.gone)} deleted"
          + (" (run 'codesearch index' to update)" if stale else ""))
    for label, paths in (("changed", changed), ("new", new), ("deleted", plan.gone)):
        for p in paths[:20]:
            print(f"    {label:8}{p}")
    return EXIT_FOUND


def cmd_tui(args) -> int:
    path = Path(args.path)
    if not path.exists():
        raise UserError(f"path {path} does not exist")
    from codesearch.tui import run_tui

    return run_tui(path, args.config)
