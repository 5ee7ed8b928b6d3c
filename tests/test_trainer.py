"""The trainer end to end on a tiny random BERT: GradCache, sampler, training, resume,
export, evaluation. Everything runs for real, only small."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from codesearch.errors import UserError
from trainer.config import ModelConfig, parse_config
from trainer.data import Pair, SourceSampler, read_pairs, source_probabilities, write_pairs
from trainer.gradcache import RngState, cached_backward, plain_backward
from trainer.losses import SymmetricInfoNCE
from trainer.model import DualEncoder

VERBS = ["parse", "format", "sort", "merge", "load", "save", "retry", "hash", "split",
         "render", "encode", "decode", "compress", "validate", "fetch", "sum"]
NOUNS = ["config", "date", "list", "tree", "file", "token", "request", "password",
         "string", "image", "record", "queue"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """A hidden-32 model gains nothing from a second thread, and on a busy 2-core machine
    OpenMP's spinning makes each op 10-100x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> Path:
    """A randomly initialised 2-layer BERT (hidden 32, dropout on) with MiniLM's tokenizer."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from codesearch.embed import resolve_model_path

    folder = tmp_path_factory.mktemp("models") / "tiny-bert"
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64,
                        max_position_embeddings=128, hidden_dropout_prob=0.1,
                        attention_probs_dropout_prob=0.1)
    BertModel(config).save_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path("all-MiniLM-L6-v2"))
    tokenizer.save_pretrained(folder)
    return folder


def toy_pair(verb: str, noun: str, source: str, kind: str = "code") -> Pair:
    if kind == "code":
        query = f"{verb} the {noun} and return the result"
        document = f"def {verb}_{noun}({noun}):\n    result = {verb}({noun})\n    return result"
    else:
        query = f"How to {verb} a {noun} from the command line"
        document = f"Run the {verb} command with the {noun} option to {verb} it."
    return Pair.make(query, document, kind=kind, language="python", source=source,
                     path=f"{source}/{verb}.py", symbol=f"{verb}_{noun}")


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory) -> Path:
    """Two training sources (one with code and prose) and one held-out source."""
    folder = tmp_path_factory.mktemp("pairs")
    alpha = [toy_pair(v, n, "alpha") for v in VERBS[:8] for n in NOUNS[:4]]
    beta = [toy_pair(v, n, "beta") for v in VERBS[8:12] for n in NOUNS[4:8]]
    beta += [toy_pair(v, n, "beta", "text") for v in VERBS[:4] for n in NOUNS[8:]]
    held_out = [toy_pair(v, n, "gamma") for v in VERBS[12:] for n in NOUNS[8:]]
    write_pairs(folder / "train" / "alpha.jsonl", alpha)
    write_pairs(folder / "train" / "beta.jsonl", beta)
    write_pairs(folder / "eval" / "gamma.jsonl", held_out)
    return folder


def toy_config(tiny_bert: Path, data: Path, out: Path, **train):
    stage = {"name": "pretrain", "loss": "infonce", "steps": 6, "batch_size": 8,
             "mini_batch": 3, "lr": 1e-3, "warmup_steps": 2, **train}
    stages = [stage]
    if "stages" in train:
        stages = train.pop("stages")
    raw = {"data": str(data), "out": str(out), "device": "cpu", "bf16": False, "eval_every": 3,
           "checkpoint_every": 2, "eval_pool": 8,
           "model": {"init": str(tiny_bert), "max_length": 32, "name": "tiny-dual"},
           "stage": stages}
    return parse_config(raw)


def step_losses(log: Path) -> list[float]:
    return [row["loss"] for row in map(json.loads, log.read_text().splitlines()) if "loss" in row]


# ----------------------------------------------------------------------- GradCache


def _grads(modules) -> dict[str, torch.Tensor]:
    return {f"{i}.{name}": p.grad.clone() for i, module in enumerate(modules)
            for name, p in module.named_parameters() if p.grad is not None}


def _step(backward, model, loss_fn, groups, seed, **kwargs):
    model.zero_grad(set_to_none=True)
    loss_fn.zero_grad(set_to_none=True)
    torch.manual_seed(seed)
    loss = backward(model, groups, lambda e: loss_fn(*e), **kwargs)
    return loss, _grads([model, loss_fn])


def test_gradcache_gradients_equal_full_batch_gradients_with_dropout(tiny_bert, monkeypatch):
    model = DualEncoder.from_config(ModelConfig(init=str(tiny_bert), max_length=32)).train()
    assert model.text_encoder is not model.code_encoder  # two towers, both trained
    loss_fn = SymmetricInfoNCE(0.05)
    pairs = [toy_pair(v, n, "s") for v, n in zip(VERBS[:7], NOUNS[:7], strict=True)]
    negatives = [toy_pair(v, n, "s").document for v, n in zip(VERBS[7:14], NOUNS[5:12], strict=True)]
    rows = 3  # 7 rows -> mini-batches of 3, 3, 1
    groups = [model.mini_batches([p.query for p in pairs], "query", rows),
              model.mini_batches([p.document for p in pairs], "code", rows),
              model.mini_batches(negatives, "code", rows)]
    device = torch.device("cpu")

    full_loss, full = _step(plain_backward, model, loss_fn, groups, seed=1)
    cached_loss, cached = _step(cached_backward, model, loss_fn, groups, seed=1, device=device)
    assert torch.allclose(full_loss, cached_loss, atol=1e-6)
    assert full.keys() == cached.keys() and "1.log_scale" in full  # the temperature too
    assert any(k.startswith("0.code_encoder") for k in full) and any(
        k.startswith("0.text_encoder") for k in full)
    for name in full:
        assert torch.allclose(full[name], cached[name], atol=1e-6, rtol=1e-4), name

    # Dropout is on: another seed gives other gradients ...
    _, other = _step(plain_backward, model, loss_fn, groups, seed=2)
    assert not all(torch.allclose(full[k], other[k], atol=1e-6) for k in full)
    # ... and without replaying the RNG the second pass sees other masks: wrong gradients.
    monkeypatch.setattr(RngState, "replayed", lambda self: torch.random.fork_rng(devices=[]))
    _, unreplayed = _step(cached_backward, model, loss_fn, groups, seed=1, device=device)
    assert not all(torch.allclose(full[k], unreplayed[k], atol=1e-6) for k in full)


def test_gradcache_leaves_rng_as_a_plain_step_does(tiny_bert):
    model = DualEncoder.from_config(ModelConfig(init=str(tiny_bert), shared=True,
                                                query_prefix="query: ")).train()
    assert model.text_encoder is model.code_encoder
    loss_fn = SymmetricInfoNCE(0.05)
    groups = [model.mini_batches(["a b", "c d", "e f"], "query", 2),
              model.mini_batches(["x y", "z w", "u v"], "text", 2)]
    _step(plain_backward, model, loss_fn, groups, seed=3)
    after_plain = torch.get_rng_state()
    _step(cached_backward, model, loss_fn, groups, seed=3, device=torch.device("cpu"))
    assert torch.equal(after_plain, torch.get_rng_state())


# ----------------------------------------------------------------------- sampler


def _fake_pairs(sizes: dict[str, int]) -> list[Pair]:
    return [Pair.make(f"{source} query {i}", f"{source} doc {i}", kind="code", language="go",
                      source=source, path="x.go") for source, n in sizes.items() for i in range(n)]


def test_sampler_source_frequencies_follow_the_alpha_formula():
    sizes = {"huge": 1600, "big": 400, "small": 100, "tiny": 9}
    sampler = SourceSampler(_fake_pairs(sizes), batch_size=1, alpha=0.5, seed=7)
    draws = 8000
    counts = {name: 0 for name in sizes}
    for _ in range(draws):
        counts[sampler.next_batch().stream.split("/")[0]] += 1
    weights = {name: math.sqrt(n) for name, n in sizes.items()}  # n^0.5: 40, 20, 10, 3
    total = sum(weights.values())
    for name, count in counts.items():
        p = weights[name] / total
        sigma = math.sqrt(draws * p * (1 - p))
        assert abs(count - draws * p) <= 4 * sigma, (name, count, draws * p)
    assert np.allclose(source_probabilities([4, 1], 0.0), [0.5, 0.5])
    assert np.allclose(source_probabilities([4, 1], 1.0), [0.8, 0.2])


def test_sampler_batches_have_one_source_and_no_duplicate_texts():
    pairs = _fake_pairs({"a": 30, "b": 5})
    twin = pairs[0]  # same query as pairs[0] with other case and punctuation: a near twin
    pairs.append(Pair.make(twin.query.upper() + "!", "another doc", kind="code", language="go",
                           source="a", path="y.go"))
    sampler = SourceSampler(pairs, batch_size=31, seed=0)
    for _ in range(20):
        batch = sampler.next_batch()
        chosen = [pairs[i] for i in batch.indices]
        assert {p.stream for p in chosen} == {batch.stream}
        assert len({p.query_hash for p in chosen}) == len(chosen)
        assert len({p.document_hash for p in chosen}) == len(chosen)
        assert len(chosen) <= (30 if batch.stream == "a/code" else 5)


def test_sampler_is_deterministic_and_resumes_from_its_state():
    pairs = _fake_pairs({"a": 50, "b": 20, "c": 7})
    first = SourceSampler(pairs, batch_size=6, seed=3)
    run = [first.next_batch().indices for _ in range(10)]
    again = SourceSampler(pairs, batch_size=6, seed=3)
    assert [again.next_batch().indices for _ in range(10)] == run
    resumed = SourceSampler(pairs, batch_size=6, seed=3)
    partial = SourceSampler(pairs, batch_size=6, seed=3)
    for _ in range(4):
        partial.next_batch()
    resumed.load_state_dict(copy.deepcopy(partial.state_dict()))
    assert [resumed.next_batch().indices for _ in range(6)] == run[4:]
    assert [SourceSampler(pairs, 6, seed=4).next_batch().indices for _ in range(1)] != run[:1]


# ----------------------------------------------------------------------- training


def test_loss_falls_on_a_toy_set(tiny_bert, toy_data, tmp_path):
    from trainer.train import train

    # Plain steps (mini_batch 0) to keep it quick; GradCache has its own exactness test.
    config = toy_config(tiny_bert, toy_data, tmp_path / "run", steps=24, batch_size=8,
                        mini_batch=0, lr=3e-3, warmup_steps=2, temperature=0.1)
    config = parse_config({**_raw(config), "eval_every": 100, "checkpoint_every": 100})
    assert train(config, progress=False) is not None
    losses = step_losses(tmp_path / "run" / "pretrain" / "log.jsonl")
    assert len(losses) == 24
    assert np.mean(losses[-6:]) < 0.6 * np.mean(losses[:6]), losses


def _raw(config) -> dict:
    """A TrainConfig back into the TOML-shaped dict parse_config reads."""
    from dataclasses import asdict

    raw = asdict(config)
    raw["stage"] = raw.pop("stages")
    raw["data"], raw["out"] = str(config.data), str(config.out)
    return raw


def test_resume_reproduces_the_uninterrupted_run_exactly(tiny_bert, toy_data, tmp_path):
    from trainer.train import train

    whole = toy_config(tiny_bert, toy_data, tmp_path / "whole")
    assert train(whole, progress=False) is not None

    split = toy_config(tiny_bert, toy_data, tmp_path / "split")
    assert train(split, stop_after=3, progress=False) is None  # "killed" after step 3
    assert len(step_losses(tmp_path / "split" / "pretrain" / "log.jsonl")) == 3
    assert train(split, progress=False) is not None

    expected = step_losses(tmp_path / "whole" / "pretrain" / "log.jsonl")
    assert len(expected) == 6
    assert step_losses(tmp_path / "split" / "pretrain" / "log.jsonl") == expected
    from safetensors.torch import load_file

    for tower in ("model.safetensors", "text_encoder/model.safetensors"):
        a = load_file(tmp_path / "whole" / "pretrain" / "final" / tower)
        b = load_file(tmp_path / "split" / "pretrain" / "final" / tower)
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_two_stages_with_hard_negatives_export_and_evaluate(tiny_bert, toy_data, tmp_path, capsys):
    from codesearch.embed import Encoder, read_model_info
    from trainer.__main__ import main
    from trainer.train import train

    stages = [{"name": "pretrain", "loss": "infonce", "steps": 3, "batch_size": 8,
               "mini_batch": 4, "lr": 1e-3, "warmup_steps": 1},
              {"name": "finetune", "loss": "gte", "temperature": 0.05, "steps": 3,
               "batch_size": 6, "mini_batch": 0, "lr": 1e-3, "warmup_steps": 1,
               "hard_negatives": 2, "negative_skip": 1}]
    config = toy_config(tiny_bert, toy_data, tmp_path / "run", stages=stages)
    result = train(config, progress=False)
    assert result is not None and result.parent.name == "finetune"

    # Stage 2's negatives: from the same stream, never the positive or its twins.
    pairs = read_pairs(toy_data, "train")
    negatives = json.loads((tmp_path / "run" / "finetune" / "negatives.json").read_text())
    assert len(negatives) == len(pairs) and all(len(n) == 2 for n in negatives)
    for index, chosen in enumerate(negatives):
        for other in chosen:
            assert pairs[other].stream == pairs[index].stream
            assert pairs[other].document_hash != pairs[index].document_hash
    log = [json.loads(line) for line in (tmp_path / "run" / "finetune" / "log.jsonl").open()]
    # Up to 2 per pair: fewer where a negative is another row's positive or repeats.
    assert all(0 < row["negatives"] <= 2 * row["batch"] for row in log if "loss" in row)
    assert any("eval" in row and "code/pool_mrr@10" in row["eval"] for row in log)

    # The export is a model directory the indexer reads and encodes with.
    manifest = json.loads((result / "codesearch_model.json").read_text())
    assert manifest["text_encoder"] == "text_encoder" and manifest["code_encoder"] == "."
    assert manifest["name"] == "tiny-dual" and "code/pool_mrr@10" in manifest["eval"]
    info = read_model_info(result)
    assert (info.dim, info.pooling, info.max_length) == (32, "mean", 32)
    vectors = Encoder(info, device="cpu", precision="fp32").encode(["def f(): pass", "x"])
    assert vectors.shape == (2, 32) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    text_info = read_model_info(result / manifest["text_encoder"])
    text = Encoder(text_info, device="cpu", precision="fp32").encode_queries(["parse a date"])
    assert text.shape == (1, 32)
    # The indexer's vectors equal the trainer's for the same tower.
    model = DualEncoder.load(str(result)).eval()
    assert torch.allclose(model.encode(["def f(): pass", "x"], "code"),
                          torch.from_numpy(vectors), atol=1e-5)

    # `trainer eval` puts models side by side; `trainer export` copies a checkpoint out.
    assert main(["eval", str(tiny_bert), str(result), "--data", str(toy_data), "--pool", "8"]) == 0
    table = capsys.readouterr().out
    assert "| metric |" in table and "code/pool_mrr@10" in table and str(result) in table
    exported = tmp_path / "exported"
    checkpoint = tmp_path / "run" / "finetune" / "checkpoint.pt"
    assert main(["export", str(checkpoint), "--out", str(exported), "--name", "again"]) == 0
    assert read_model_info(exported).model_id.startswith("again@")
    again = DualEncoder.load(str(exported)).eval()
    assert torch.allclose(again.encode(["x"], "query"), model.encode(["x"], "query"), atol=1e-6)


def test_export_loads_in_sentence_transformers(tiny_bert, tmp_path):
    """Both towers load in sentence-transformers and embed as the trainer does, prefixes
    included (as the prompts `query` and `document`)."""
    st = pytest.importorskip("sentence_transformers")
    from trainer.export import export_model

    config = ModelConfig(init=str(tiny_bert), max_length=32, query_prefix="query: ",
                         document_prefix="passage: ")
    model = DualEncoder.from_config(config).eval()
    with torch.no_grad():  # make the towers differ, so a mix-up shows
        for parameter in model.text_encoder.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    out = export_model(model, tmp_path / "model", "tiny")
    code = st.SentenceTransformer(str(out), device="cpu")
    text = st.SentenceTransformer(str(out / "text_encoder"), device="cpu")
    snippet, question = "def add(a, b): return a + b", "add two numbers"
    vectors = code.encode([snippet], prompt_name="document", convert_to_tensor=True)
    assert torch.allclose(vectors.cpu(), model.encode([snippet], "code"), atol=1e-5)
    vectors = text.encode([question], prompt_name="query", convert_to_tensor=True)
    assert torch.allclose(vectors.cpu(), model.encode([question], "query"), atol=1e-5)
    assert not torch.allclose(vectors.cpu(), code.encode([question], prompt_name="query",
                                                         convert_to_tensor=True).cpu(), atol=1e-3)


def test_hard_negatives_exclude_near_duplicates_and_in_batch_positives():
    from trainer.negatives import batch_negatives

    pairs = [toy_pair(v, "file", "s") for v in VERBS[:4]]
    # A near twin of pair 0's document (case, spacing) and pair 0's docstring on other code.
    pairs.append(Pair.make("x y z w", pairs[0].document.upper() + " ", kind="code",
                           language="python", source="s", path="t.py"))
    pairs.append(Pair.make(pairs[0].query + ".", "def other():\n    pass\n    return 1",
                           kind="code", language="python", source="s", path="u.py"))

    class Fake:  # a "model" that ranks the twins first for query 0
        training = False

        def eval(self):
            return self

        def train(self, mode=True):
            return self

        def encode(self, texts, role, *args):
            vectors = torch.eye(len(texts))
            if role == "query":
                vectors[0] = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.9, 0.8])
            return torch.nn.functional.normalize(vectors, dim=1)

    from trainer.negatives import mine_negatives

    negatives = mine_negatives(Fake(), pairs, count=2)
    assert 4 not in negatives[0] and 5 not in negatives[0] and 0 not in negatives[0]
    assert negatives[0] == [3, 2]  # the nearest that are really other documents
    # A batch of pairs 0 and 1: 0 is a positive of the batch and 4 a near twin of it
    # (false negatives for row 0), and 3, brought by both rows, is kept once.
    chosen = batch_negatives([[3, 4], [3, 0], [], [], [], []], [0, 1], pairs)
    assert chosen == [3]


def test_config_rejects_unknown_keys_and_losses(tiny_bert, toy_data, tmp_path):
    good = _raw(toy_config(tiny_bert, toy_data, tmp_path))
    with pytest.raises(UserError, match="unknown key"):
        parse_config({**good, "lerning_rate": 1})
    with pytest.raises(UserError, match="unknown loss"):
        parse_config({**good, "stage": [{"name": "a", "loss": "triplet"}]})
    with pytest.raises(UserError, match="no \\[\\[stage\\]\\]"):
        parse_config({**good, "stage": []})
    with pytest.raises(UserError, match="bf16 = 'yes'"):
        parse_config({**good, "bf16": "yes"})
    assert parse_config({k: v for k, v in good.items() if k != "bf16"}).bf16 == "auto"
    from trainer.config import load_config

    shipped = sorted((Path(__file__).parents[1] / "trainer" / "configs").glob("*.toml"))
    assert len(shipped) >= 2
    for path in shipped:
        assert load_config(path).stages, path  # the shipped configs parse
