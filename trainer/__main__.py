"""`python -m trainer {mine,corpus,train,eval,export}`: the trainer's command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from codesearch.errors import UserError


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; `train` resumes from the last checkpoint", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m trainer", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    mine = commands.add_parser("mine", help="mine training pairs from source trees")
    mine.add_argument("sources", nargs="+", type=Path, metavar="SRC",
                      help="a repository, or a folder whose subfolders are repositories")
    mine.add_argument("--out", type=Path, required=True, help="data directory to write")
    mine.add_argument("--eval-percent", type=int, default=10,
                      help="share of sources (by name hash) held out for evaluation")
    mine.add_argument("-q", "--quiet", action="store_true")
    mine.set_defaults(run=_mine)

    corpus = commands.add_parser("corpus", help="download and mine a pinned corpus manifest")
    corpus.add_argument("manifest", type=Path, help="e.g. trainer/corpora/default.toml")
    corpus.add_argument("--out", type=Path, required=True, help="data directory to write")
    corpus.add_argument("--cache", type=Path, help="downloads and trees "
                        "(default ~/.cache/codesearch/corpus; reused by re-runs)")
    corpus.add_argument("--eval-dir", type=Path, help="evaluation sets whose items are "
                        "dropped from the corpus (default ../shared/eval)")
    corpus.add_argument("--eval-percent", type=int, help="override the manifest's")
    corpus.add_argument("--jobs", type=int, default=4, help="parallel downloads")
    corpus.add_argument("-q", "--quiet", action="store_true")
    corpus.set_defaults(run=_corpus)

    train = commands.add_parser("train", help="train the encoders as a config says")
    train.add_argument("--config", type=Path, required=True)
    train.add_argument("--data", type=Path, help="override the config's data directory")
    train.add_argument("--out", type=Path, help="override the config's output directory")
    train.add_argument("--device", help="override the config's device (auto, cpu, cuda)")
    train.add_argument("--threads", type=int, help="override the config's CPU threads")
    train.add_argument("--stop-after", type=int, default=0, metavar="STEPS",
                       help="stop (with a checkpoint) after this many steps; run again to resume")
    train.add_argument("-q", "--quiet", action="store_true")
    train.set_defaults(run=_train)

    evaluate = commands.add_parser("eval", help="compare models on held-out pairs")
    evaluate.add_argument("models", nargs="+", metavar="MODEL",
                          help="exported model directories or names (all-MiniLM-L6-v2)")
    evaluate.add_argument("--data", type=Path, required=True)
    evaluate.add_argument("--split", default="eval", choices=("eval", "train"))
    evaluate.add_argument("--pool", type=int, default=1000, help="candidates per query")
    evaluate.add_argument("--max-pairs", type=int, default=0, help="cap per kind (0: all)")
    evaluate.add_argument("--max-length", type=int,
                          help="tokens per text for every model (default: each model's own)")
    evaluate.add_argument("--device", default="auto")
    evaluate.add_argument("--bf16", action="store_true")
    evaluate.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's)")
    evaluate.add_argument("--json", action="store_true", help="print JSON instead of a table")
    evaluate.set_defaults(run=_eval)

    export = commands.add_parser("export", help="write a model directory for the indexer")
    export.add_argument("source", type=Path,
                        help="a checkpoint.pt, a stage folder (its best/ or final/), "
                             "or an exported model directory")
    export.add_argument("--out", type=Path, required=True)
    export.add_argument("--name", help="model name recorded in codesearch_model.json")
    export.set_defaults(run=_export)
    return parser


def _mine(args) -> int:
    from trainer.mine import mine

    manifest = mine(args.sources, args.out, args.eval_percent, progress=not args.quiet)
    print(json.dumps({"out": str(args.out), "totals": manifest["totals"],
                      "filtered": manifest["filtered"]}, indent=2))
    return 0


def _corpus(args) -> int:
    from trainer import corpus

    manifest = corpus.build(args.manifest, args.out, args.cache or corpus.DEFAULT_CACHE,
                            args.eval_dir or corpus.DEFAULT_EVAL_DIR, args.jobs,
                            args.eval_percent, progress=not args.quiet,
                            log=lambda line: print(line, file=sys.stderr))
    print(json.dumps({"out": str(args.out), **corpus.summary(manifest)}, indent=2))
    return 0


def _train(args) -> int:
    from trainer.config import load_config
    from trainer.train import train

    config = load_config(args.config, data=args.data, out=args.out, device=args.device,
                         threads=args.threads)
    result = train(config, stop_after=args.stop_after, progress=not args.quiet)
    if result is None:
        print(f"stopped after {args.stop_after} steps; run the same command to resume")
    else:
        print(f"model: {result}")
    return 0


def _eval(args) -> int:
    from trainer.data import read_pairs
    from trainer.evaluate import evaluate, format_table
    from trainer.model import DualEncoder
    from trainer.train import pick_device

    pairs = read_pairs(args.data, args.split)
    device = pick_device(args.device)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    results = {}
    for name in args.models:
        model = DualEncoder.load(name, args.max_length).to(device)
        results[name] = evaluate(model, pairs, args.pool, args.max_pairs, bf16=args.bf16)
    print(json.dumps(results, indent=2) if args.json else format_table(results))
    return 0


def _export(args) -> int:
    from trainer.export import export_model
    from trainer.model import DualEncoder

    source: Path = args.source
    if source.is_file():
        from trainer.checkpoint import read_checkpoint
        from trainer.config import ModelConfig

        state = read_checkpoint(source)
        config = ModelConfig(**state["model_config"])
        model = DualEncoder.from_config(config)
        model.load_state_dict(state["model"])
        figures = {"step": state["step"]}
        name = args.name or config.name
    else:
        from trainer.train import stage_result

        folder = stage_result(source) or source
        manifest = _read_manifest(folder)
        model = DualEncoder.load(str(folder))
        figures = manifest.get("eval", {})
        name = args.name or manifest.get("name") or folder.name
    print(export_model(model, args.out, name, figures))
    return 0


def _read_manifest(folder: Path) -> dict:
    from codesearch.embed import MANIFEST_NAME

    try:
        return json.loads((folder / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return {}


if __name__ == "__main__":
    sys.exit(main())
