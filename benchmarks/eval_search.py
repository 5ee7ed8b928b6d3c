"""Search quality of codesearch, measured through the product on real evaluation sets.

Each function of a set becomes its own file in an index folder; the folder is
indexed with the product's default config (bundled all-MiniLM-L6-v2, embedded
Qdrant) and every query goes through `Searcher.search`. A hit's path maps back to
its function; a file's best-ranked chunk stands for it. One index serves all modes.

Sets (read-only, evaluation only; see /work/shared/eval/README.md):
- cosqa: CoSQA dev, 500 web queries, one positive each, 5,865 functions:
  MRR@10 and Recall@1/5/10 over the whole corpus.
- csn: CodeSearchNet Challenge expert judgments (Python), 99 queries graded 0-3
  over a pool of 416 functions: nDCG@10 over the pool (gain = mean relevance,
  unjudged = 0, ideal from all judged items of the query), and nDCG of each query's
  judged functions in the system's order (judged functions the system did not
  return at all are put last, worst first).

Modes: sparse, dense, blend, rrf, dbsf (hybrid: dense + sparse prefetch fused in Qdrant),
plus a sweep of rrf_k and candidates. Every setting runs each query --repeats
times (default 3) and metrics are averaged: Qdrant orders equal fused scores
arbitrarily, so hybrid rankings vary between runs. Also index time, tokens/s, and
warm query latency (p50/p95 of each query's median over repeats, query encoding
included) with and without a language filter.

Writes benchmarks/results/search_quality.json (everything, incl. paired bootstrap
intervals against dense) and search_quality.md, and prints the markdown. Metrics
live in benchmarks/metrics.py (`python -m doctest benchmarks/metrics.py`).

    python benchmarks/eval_search.py [--sets cosqa,csn] [--modes sparse,dense,blend,rrf,dbsf] [--keep DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import platform
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
from metrics import ndcg_at_k, rank_metrics

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
MODES = ("sparse", "dense", "blend", "rrf", "dbsf")
HYBRID = ("blend", "rrf", "dbsf")
PRIMARY = {"cosqa": "mrr@10", "csn": "ndcg@10"}
SET_TITLES = {"cosqa": "CoSQA dev (500 queries, 5,865 functions)",
              "csn": "CSN expert Python (99 queries, 416-function pool)"}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def ints(value: str) -> list[int]:
    return [int(v) for v in csv(value)]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sets", type=csv, default=["cosqa", "csn"], help="cosqa,csn")
    p.add_argument("--modes", type=csv, default=list(MODES), help="sparse,dense,blend,rrf,dbsf")
    p.add_argument("--keep", type=Path, default=None,
                   help="keep the index folders in DIR/<set> (and reuse them when unchanged)")
    p.add_argument("--rrf-k", type=ints, default=[10, 60], help="rrf_k values to sweep")
    p.add_argument("--candidates", type=ints, default=[50, 100, 200],
                   help="per-retriever candidates to sweep (hybrid modes)")
    p.add_argument("--repeats", type=int, default=3,
                   help="runs of every query per setting; metrics are averaged over them "
                        "(fusion ties are broken arbitrarily, so hybrid rankings vary run to run)")
    p.add_argument("--no-latency", action="store_true", help="skip the latency runs")
    p.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    p.add_argument("--eval-dir", type=Path, default=common.EVAL_DIR)
    p.add_argument("--model", default=None,
                   help="model to index and search with (a directory from `python -m trainer "
                        "export`); set as a user would, in the index folder's .codesearch.toml")
    args = p.parse_args(argv)
    for s in args.sets:
        if s not in common.LOADERS:
            p.error(f"unknown set {s!r} (known: {', '.join(common.LOADERS)})")
    for m in args.modes:
        if m not in MODES:
            p.error(f"unknown mode {m!r} (known: {', '.join(MODES)})")
    return args


# ----------------------------------------------------------------------- helpers


def provenance() -> dict:
    def git(*cmd: str) -> str:
        try:
            return subprocess.run(["git", *cmd], cwd=REPO, capture_output=True, text=True,
                                  check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    digest = hashlib.blake2b(digest_size=8)
    for path in sorted((REPO / "codesearch").rglob("*.py")):
        digest.update(path.relative_to(REPO).as_posix().encode() + b"\0" + path.read_bytes())
    import torch

    return {
        "git_commit": git("rev-parse", "HEAD"),
        "codesearch_uncommitted": git("status", "--porcelain", "--", "codesearch").splitlines(),
        "codesearch_tree_hash": digest.hexdigest(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "machine": platform.platform(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def variants_for(modes: list[str], rrf_ks: list[int], candidates: list[int],
                 defaults) -> list[common.Variant]:
    out: list[common.Variant] = []
    for mode in modes:
        if mode == "rrf":
            ks = sorted(set(rrf_ks) | {defaults.rrf_k})
            cands = sorted(set(candidates) | {defaults.candidates})
            out += [common.Variant("rrf", k, c) for k in ks for c in cands]
        elif mode in ("dbsf", "blend"):
            cands = sorted(set(candidates) | {defaults.candidates})
            out += [common.Variant(mode, None, c) for c in cands]
        else:
            out.append(common.Variant(mode))
    return out


def is_default(v: common.Variant, defaults) -> bool:
    return v.fusion in ("dense", "sparse") or (
        v.candidates == defaults.candidates and (v.fusion != "rrf" or v.rrf_k == defaults.rrf_k))


def judged_order(ranked: list[str], gains: dict[str, float]) -> list[str]:
    """The query's judged docs in system order; those never returned go last, worst first."""
    seen = [d for d in ranked if d in gains]
    returned = set(seen)
    rest = sorted((d for d in gains if d not in returned), key=lambda d: (gains[d], d))
    return seen + rest


def score(evalset: common.EvalSet, runs: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    """Per-query metric values."""
    per_query: dict[str, dict[str, float]] = {}
    for qid in evalset.queries:
        ranked = runs[qid]
        if evalset.graded:
            gains = evalset.gains[qid]
            per_query[qid] = {
                "ndcg@10": ndcg_at_k(ranked, gains, 10),
                "ndcg_judged": ndcg_at_k(judged_order(ranked, gains), gains, len(gains)),
            }
        else:
            per_query[qid] = rank_metrics(ranked, evalset.positives[qid], ks=(1, 5, 10))
    return per_query


def mean_over_queries(per_query: dict[str, dict[str, float]]) -> dict[str, float]:
    keys = next(iter(per_query.values())).keys()
    return {key: statistics.fmean(m[key] for m in per_query.values() if not math.isnan(m[key]))
            for key in keys}


def average_repeats(repeats: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Per-query values averaged over repeated runs of the same setting."""
    return {qid: {key: statistics.fmean(r[qid][key] for r in repeats) for key in repeats[0][qid]}
            for qid in repeats[0]}


def paired_bootstrap(a: list[float], b: list[float], resamples: int = 2000,
                     seed: int = 0) -> dict[str, float]:
    """Mean of a - b over queries, with a 95% percentile-bootstrap interval."""
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    rng = random.Random(seed)
    n = len(diffs)
    means = sorted(statistics.fmean(rng.choices(diffs, k=n)) for _ in range(resamples))
    return {"mean_diff": round(statistics.fmean(diffs), 4),
            "ci95": [round(means[int(0.025 * resamples)], 4),
                     round(means[int(0.975 * resamples) - 1], 4)],
            "wins": sum(d > 0 for d in diffs), "losses": sum(d < 0 for d in diffs)}


# ---------------------------------------------------------------------- one set


def evaluate_set(name: str, args: argparse.Namespace) -> dict:
    from codesearch.search import Searcher

    evalset = common.LOADERS[name](args.eval_dir)
    log(f"{name}: {len(evalset.docs)} functions, {len(evalset.queries)} queries")
    tmp = None
    if args.keep:
        folder = (args.keep / name).resolve()
    else:
        tmp = tempfile.mkdtemp(prefix=f"codesearch-eval-{name}-")
        folder = Path(tmp)
    try:
        written = common.write_docs(folder, evalset.docs)
        config = folder / ".codesearch.toml"
        if args.model:
            config.write_text(f'[model]\nname = "{Path(args.model).resolve()}"\n'
                              '[index]\nexclude = [".codesearch.toml"]\n')
        else:
            config.unlink(missing_ok=True)
        log(f"{name}: wrote {written} files to {folder}; indexing (default config)")
        index = common.build_index(folder)
        stats_file = folder.parent / f"{name}.index_stats.json"
        if args.keep and index["files_indexed"] == 0 and stats_file.is_file():
            # Nothing changed since the kept index was built: report that build.
            index = json.loads(stats_file.read_text()) | {"reused_kept_index": True}
        elif args.keep:
            stats_file.write_text(json.dumps(index, indent=2))
        log(f"{name}: indexed {index['files_seen']} files, {index['chunks_total']} chunks in "
            f"{index['seconds']:.1f}s ({index['tokens_per_second']:,.0f} tok/s), "
            f"{len(index['skipped'])} skipped, {len(index['parse_fallbacks'])} parse fallbacks")

        with Searcher.open(folder) as searcher:
            encoder = searcher.encoder
            searcher.encoder = common.MemoQueries(encoder)
            defaults = dataclasses.replace(searcher.config.search)
            result = {
                "title": SET_TITLES[name], "n_docs": len(evalset.docs),
                "n_queries": len(evalset.queries), "index": index,
                "search_defaults": dataclasses.asdict(defaults), "model": searcher.meta.get("model_id"),
                "runs": [],
            }
            if evalset.graded:  # the whole pool, for nDCG of the judged functions
                depth, limit = len(evalset.docs), 2 * index["chunks_total"]
            else:
                depth, limit = 10, 30
            result["search_limit"], result["depth"] = limit, depth
            per_query_by_variant: dict[str, dict] = {}
            for variant in variants_for(args.modes, args.rrf_k, args.candidates, defaults):
                common.configure(searcher, variant, defaults)
                repeats, seconds, short, distinct = [], 0.0, 0, set()
                for _ in range(args.repeats):
                    runs, took, n_short = common.run_queries(searcher, evalset.queries, variant,
                                                             limit, depth)
                    repeats.append(score(evalset, runs))
                    seconds, short = seconds + took, max(short, n_short)
                    distinct.add(json.dumps(runs, sort_keys=True))
                per_query = average_repeats(repeats)
                means = {k: round(v, 4) for k, v in mean_over_queries(per_query).items()}
                key = PRIMARY[name]
                spread = [round(mean_over_queries(r)[key], 4) for r in repeats]
                per_query_by_variant[variant.name] = per_query
                result["runs"].append({
                    "name": variant.name, "fusion": variant.fusion, "rrf_k": variant.rrf_k,
                    "candidates": variant.candidates, "default_knobs": is_default(variant, defaults),
                    "metrics": means, f"{key}_per_repeat": spread,
                    "distinct_rankings_over_repeats": len(distinct),
                    "seconds_per_repeat": round(seconds / args.repeats, 2),
                    "queries_with_fewer_than_depth": short if not evalset.graded else None,
                })
                log(f"{name}: {variant.name:<18} {means} per repeat {spread} ({seconds:.1f}s)")
            common.configure(searcher, common.Variant("rrf"), defaults)  # back to defaults

            result["paired_vs_dense"] = compare_with_dense(name, result, per_query_by_variant)
            searcher.encoder = encoder  # latency includes encoding every query
            if not args.no_latency:
                result["latency"] = {}
                texts = list(evalset.queries.values())
                for mode in args.modes:
                    result["latency"][mode] = {
                        "no_filter": common.latency(searcher, texts, mode, None),
                        "language_filter": common.latency(searcher, texts, mode, ["python"]),
                    }
                    log(f"{name}: latency {mode}: {result['latency'][mode]}")
        return result
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def compare_with_dense(name: str, result: dict, per_query: dict[str, dict]) -> dict:
    """Paired bootstrap of every hybrid variant against dense, on the set's primary metric."""
    if "dense" not in per_query:
        return {}
    key = PRIMARY[name]
    qids = list(per_query["dense"])
    dense = [per_query["dense"][q][key] for q in qids]
    out = {}
    for run in result["runs"]:
        if run["fusion"] in HYBRID:
            other = [per_query[run["name"]][q][key] for q in qids]
            out[run["name"]] = paired_bootstrap(other, dense)
    return out


# ------------------------------------------------------------------------ report


def recommend(sets: dict) -> dict:
    """Best fusion per set, and the default: the hybrid variant with the best mean primary
    metric among those not below dense on any set (dense itself if none qualifies)."""
    out: dict = {"best_per_set": {}}
    for name, res in sets.items():
        key = PRIMARY[name]
        best = max(res["runs"], key=lambda r: r["metrics"][key])
        best_default = max((r for r in res["runs"] if r["default_knobs"]),
                           key=lambda r: r["metrics"][key])
        out["best_per_set"][name] = {"metric": key, "best": best["name"],
                                     "value": best["metrics"][key],
                                     "best_with_default_knobs": best_default["name"],
                                     "value_with_default_knobs": best_default["metrics"][key]}
    by_name: dict[str, dict[str, float]] = {}
    for name, res in sets.items():
        for run in res["runs"]:
            by_name.setdefault(run["name"], {})[name] = run["metrics"][PRIMARY[name]]
    complete = {v: m for v, m in by_name.items() if len(m) == len(sets)}
    if "dense" not in complete:
        out["default"] = None
        out["reason"] = "dense not measured on every set: no decision"
        return out
    dense = complete["dense"]
    eligible = {v: m for v, m in complete.items()
                if v.split()[0] in HYBRID and all(m[s] >= dense[s] for s in sets)}
    if eligible:
        choice = max(eligible, key=lambda v: statistics.fmean(eligible[v].values()))
        out["default"] = choice
        out["reason"] = (f"best mean of {', '.join(f'{s} {PRIMARY[s]}' for s in sets)} among "
                         f"hybrid settings not below dense on any set ({len(eligible)} qualify)")
    else:
        out["default"] = "dense"
        out["reason"] = "every hybrid setting falls below dense on at least one set"
    out["eligible"] = sorted(eligible)
    return out


def fmt(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def with_range(run: dict, key: str) -> str:
    """`0.857 (0.855-0.862)`: the mean, and the range over repeats when they differ."""
    values = run.get(f"{key}_per_repeat") or []
    text = fmt(run["metrics"][key])
    if values and min(values) != max(values):
        text += f" ({min(values):.3f}-{max(values):.3f})"
    return text


def markdown(report: dict) -> str:
    sets = report["sets"]
    lines = ["## Search quality, measured through the product", "",
             f"Command: `{report['command']}`  ", f"Date: {report['date']}  ",
             f"Code: commit {report['provenance']['git_commit'][:10]}"
             + (" + uncommitted changes in codesearch/" if report['provenance']['codesearch_uncommitted'] else "")
             + f" (codesearch tree hash {report['provenance']['codesearch_tree_hash']})  ",
             f"Machine: {report['provenance']['cpu_count']} CPUs, torch "
             f"{report['provenance']['torch']} ({report['provenance']['torch_threads']} threads); "
             f"load average at start {report['provenance']['loadavg_at_start'][0]}, at end "
             f"{report['provenance']['loadavg_at_end'][0]} (timings on a shared CPU are noisy)  ",
             "Default config: bundled all-MiniLM-L6-v2, embedded Qdrant (qdrant-edge); each "
             "function is its own file; hits map back to functions (a file's best chunk).  ",
             f"Every query ran {report['repeats']} times per setting and metrics are means over "
             "those runs: Qdrant breaks ties between equal fused scores arbitrarily, so hybrid "
             "rankings change from run to run (ranges in the knob table).", ""]
    any_set = next(iter(sets.values()))
    d = any_set["search_defaults"]
    lines += [f"### Fusion modes (product knobs: rrf_k={d['rrf_k']}, candidates={d['candidates']})", ""]
    header = ["mode"]
    if "cosqa" in sets:
        header += ["CoSQA MRR@10", "R@1", "R@5", "R@10"]
    if "csn" in sets:
        header += ["CSN nDCG@10", "CSN nDCG judged"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    names = [r["name"] for r in any_set["runs"] if r["default_knobs"]]
    for vname in names:
        row = [vname.split()[0] if vname.split()[0] in HYBRID else vname]
        for sname, keys in (("cosqa", ["mrr@10", "recall@1", "recall@5", "recall@10"]),
                            ("csn", ["ndcg@10", "ndcg_judged"])):
            if sname in sets:
                run = next((r for r in sets[sname]["runs"] if r["name"] == vname), None)
                row += [fmt(run["metrics"][k]) if run else "-" for k in keys]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")

    rows = [r["name"] for r in any_set["runs"] if r["fusion"] in HYBRID]
    if rows:
        lines += ["### Hybrid knobs (rrf_k, per-retriever candidates)", ""]
        header = ["setting"] + [f"{s} {PRIMARY[s]}" for s in sets] + [
            f"{s} vs dense (95% CI)" for s in sets if sets[s].get("paired_vs_dense")]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        dense_row = ["dense"] + [fmt(next((r["metrics"][PRIMARY[s]] for r in sets[s]["runs"]
                                           if r["name"] == "dense"), None)) for s in sets]
        dense_row += ["" for s in sets if sets[s].get("paired_vs_dense")]
        lines.append("| " + " | ".join(dense_row) + " |")
        for vname in rows:
            row = [vname]
            for s in sets:
                run = next((r for r in sets[s]["runs"] if r["name"] == vname), None)
                row.append(with_range(run, PRIMARY[s]) if run else "-")
            for s in sets:
                cmp = sets[s].get("paired_vs_dense", {})
                if cmp:
                    c = cmp.get(vname)
                    row.append(f"{c['mean_diff']:+.3f} [{c['ci95'][0]:+.3f}, {c['ci95'][1]:+.3f}]"
                               if c else "-")
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")

    rec = report.get("recommendation", {})
    if rec:
        lines += ["### Decision", ""]
        for s, b in rec["best_per_set"].items():
            lines.append(f"- {s}: best {b['metric']} = {b['value']:.3f} with `{b['best']}`; "
                         f"with the product knobs `{b['best_with_default_knobs']}` "
                         f"({b['value_with_default_knobs']:.3f})")
        lines.append(f"- default fusion: `{rec.get('default')}` ({rec.get('reason')})")
        lines.append("- caveat: knobs were compared on these evaluation sets themselves, so "
                     "differences inside the bootstrap intervals are noise, not evidence.")
        lines.append("")

    if any("latency" in res for res in sets.values()):
        lines += ["### Warm query latency through `Searcher.search` (ms, limit 10, query "
                  "encoding included)", ""]
        header = ["mode"]
        for s in sets:
            if "latency" in sets[s]:
                header += [f"{s} p50", f"{s} p95", f"{s} p50 +lang", f"{s} p95 +lang"]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for mode in report["modes"]:
            row = [mode]
            for s in sets:
                lat = sets[s].get("latency", {}).get(mode)
                if "latency" in sets[s]:
                    row += [fmt(lat["no_filter"]["p50_ms"], 1), fmt(lat["no_filter"]["p95_ms"], 1),
                            fmt(lat["language_filter"]["p50_ms"], 1),
                            fmt(lat["language_filter"]["p95_ms"], 1)] if lat else ["-"] * 4
            lines.append("| " + " | ".join(row) + " |")
        lines += ["", "(+lang: `languages=[\"python\"]`, a payload filter that keeps every point)", ""]

    lines += ["### Indexing (default config, fresh index)", "",
              "| set | files | chunks | tokens embedded | index s | embed s | tokens/s | skipped | "
              "parse fallbacks |", "|---|---|---|---|---|---|---|---|---|"]
    for s, res in sets.items():
        ix = res["index"]
        lines.append(f"| {s} | {ix['files_seen']} | {ix['chunks_total']} | {ix['tokens']:,} | "
                     f"{ix['seconds']:.1f} | {ix['stage_seconds'].get('embed', 0):.1f} | "
                     f"{ix['tokens_per_second']:,.0f} | {len(ix['skipped'])} | "
                     f"{len(ix['parse_fallbacks'])} |")
    lines += ["", "Embed seconds include loading the model (the indexer loads it lazily inside "
              "the embed stage).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    report = {
        "command": " ".join(["python benchmarks/eval_search.py",
                             shlex.join(sys.argv[1:] if argv is None else argv)]).strip(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "provenance": provenance(),
        "modes": args.modes,
        "repeats": args.repeats,
        "sets": {},
    }
    for name in args.sets:
        report["sets"][name] = evaluate_set(name, args)
    report["recommendation"] = recommend(report["sets"])
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    report["provenance"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "search_quality.json").write_text(json.dumps(report, indent=2) + "\n")
    md = markdown(report)
    (args.out / "search_quality.md").write_text(md)
    print(md)
    log(f"wrote {args.out / 'search_quality.json'} and .md in {report['total_seconds']}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
