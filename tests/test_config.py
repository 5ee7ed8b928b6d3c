"""config.py: defaults, and a clear UserError for every mistake a user can make."""

from __future__ import annotations

from pathlib import Path

import pytest

from codesearch.config import Config, load_config
from codesearch.errors import UserError

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = ROOT / "index_configs"


def write(tmp_path: Path, text: str, name: str = "c.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults_without_file():
    config = load_config(None)
    assert config == Config()
    assert config.model.name == "all-MiniLM-L6-v2"
    assert config.model.max_length == 256
    assert config.index.max_file_bytes == 1_000_000
    assert config.index.exclude == [] and config.index.languages == []
    assert config.qdrant.url == ""
    assert config.search.fusion == "blend" and config.search.limit == 10


def test_empty_file_is_all_defaults(tmp_path: Path):
    path = write(tmp_path, "# nothing\n")
    config = load_config(path)
    assert config.model == Config().model and config.search == Config().search
    assert config.source == str(path)


def test_values_are_read(tmp_path: Path):
    path = write(tmp_path, """
[model]
name = "/models/mine"
max_length = 128
[index]
max_file_bytes = 5000
exclude = ["gen/", "*.pb.go"]
languages = ["python", "go"]
[qdrant]
url = "http://qdrant:6333"
timeout = 3          # an int where a float is expected is fine
[search]
fusion = "dbsf"
limit = 5
""")
    config = load_config(path)
    assert config.model.name == "/models/mine" and config.model.max_length == 128
    assert config.index.exclude == ["gen/", "*.pb.go"]
    assert config.index.languages == ["python", "go"]
    assert config.qdrant.timeout == 3.0 and isinstance(config.qdrant.timeout, float)
    assert config.search.fusion == "dbsf" and config.search.limit == 5
    assert config.model.device == "auto"  # untouched keys keep defaults


def test_repository_config_found_by_root(tmp_path: Path):
    write(tmp_path, "[search]\nlimit = 3\n", ".codesearch.toml")
    assert load_config(None, tmp_path).search.limit == 3
    other = tmp_path / "other"
    other.mkdir()
    write(other, "[search]\nlimit = 4\n", "codesearch.toml")
    assert load_config(None, other).search.limit == 4
    empty = tmp_path / "empty"
    empty.mkdir()
    assert load_config(None, empty) == Config()


def test_explicit_path_wins_over_repository_config(tmp_path: Path):
    write(tmp_path, "[search]\nlimit = 3\n", ".codesearch.toml")
    explicit = write(tmp_path, "[search]\nlimit = 7\n", "explicit.toml")
    assert load_config(explicit, tmp_path).search.limit == 7


def test_api_key_from_environment(monkeypatch):
    config = Config()
    monkeypatch.delenv("QDRANT_API_KEY", raising=False)
    assert config.qdrant.resolved_api_key() is None
    monkeypatch.setenv("QDRANT_API_KEY", "from-env")
    assert config.qdrant.resolved_api_key() == "from-env"
    config.qdrant.api_key = "inline"
    assert config.qdrant.resolved_api_key() == "inline"


@pytest.mark.parametrize(("text", "fragments"), [
    ("[modle]\nname = 'x'\n", ["unknown section [modle]", "model"]),
    ("[model]\nnmae = 'x'\n", ["unknown key 'nmae'", "[model]", "name"]),
    ("[model]\nmax_length = '256'\n", ["'max_length' must be int", "got str"]),
    ("[model]\nmax_length = 1.5\n", ["'max_length' must be int", "got float"]),
    ("[model]\nmax_length = true\n", ["'max_length' must be int", "got bool"]),
    ("[index]\nexclude = 'dist/'\n", ["'exclude' must be list", "got str"]),
    ("[index]\nexclude = ['a', 3]\n", ["'exclude' must be a list of strings"]),
    ("[qdrant]\ntimeout = 'slow'\n", ["'timeout' must be float"]),
    ("[index]\nlanguages = ['python', 'klingon']\n", ["unknown language", "klingon", "python"]),
    ("[search]\nfusion = 'average'\n", ["fusion must be one of", "rrf", "dbsf"]),
    ("[search]\nlimit = 0\n", ["search.limit must be positive"]),
    ("[model]\nbatch_tokens = -1\n", ["model.batch_tokens must be positive"]),
    ("[index]\nmax_file_bytes = 0\n", ["index.max_file_bytes must be positive"]),
    ("model = 'x'\n", ["'model' must be a [section] table"]),
    ("[model\nname = 'x'\n", ["not valid TOML"]),
    ("[model]\nname = \n", ["not valid TOML"]),
])
def test_errors_are_user_errors_with_useful_messages(tmp_path: Path, text: str, fragments):
    path = write(tmp_path, text)
    with pytest.raises(UserError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message
    assert "\n" not in message  # the CLI prints it as one line


@pytest.mark.parametrize(("key", "value"), [("device", "gpu"), ("device", "cuda0"),
                                            ("precision", "fp16")])
def test_model_device_and_precision_are_checked(tmp_path: Path, key: str, value: str):
    # default.toml documents device = auto | cpu | cuda | cuda:N and precision =
    # auto | bf16 | fp32; anything else must fail at load time with the key named, not
    # later inside torch with a traceback.
    path = write(tmp_path, f"[model]\n{key} = '{value}'\n")
    with pytest.raises(UserError, match=key):
        load_config(path)


@pytest.mark.parametrize(("key", "value"), [("device", "cpu"), ("device", "cuda"),
                                            ("device", "cuda:1"), ("precision", "bf16")])
def test_model_device_and_precision_valid_values(tmp_path: Path, key: str, value: str):
    path = write(tmp_path, f"[model]\n{key} = '{value}'\n")
    assert getattr(load_config(path).model, key) == value


def test_missing_file(tmp_path: Path):
    with pytest.raises(UserError, match=r"config file .*nope\.toml does not exist"):
        load_config(tmp_path / "nope.toml")


def test_directory_instead_of_file(tmp_path: Path):
    with pytest.raises(UserError, match="cannot read config"):
        load_config(tmp_path)


def test_not_utf8(tmp_path: Path):
    path = tmp_path / "c.toml"
    path.write_bytes(b"[model]\nname = '\xff'\n")
    with pytest.raises(UserError, match="not valid TOML"):
        load_config(path)


def shipped_configs() -> list[Path]:
    return sorted(CONFIG_DIR.glob("*.toml"))


@pytest.mark.skipif(not shipped_configs(), reason="no index_configs/ in this checkout")
@pytest.mark.parametrize("path", shipped_configs(), ids=lambda p: p.name)
def test_shipped_configs_load(path: Path):
    config = load_config(path)
    assert config.source == str(path)


@pytest.mark.skipif(not (CONFIG_DIR / "default.toml").exists(), reason="no default.toml")
def test_default_toml_matches_the_defaults():
    config = load_config(CONFIG_DIR / "default.toml")
    config.source = ""
    assert config == Config()
