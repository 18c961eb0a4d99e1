"""Fixtures: an isolated cache and environment, a local NGC-like file server, a local Hub."""

import json
import os

import pytest
from omegaconf import OmegaConf

from tests.core.hub.servers import FileServer, HubServer
from tests.core.toy_models import Toy, Vocab, write_vocab

TOKEN = "hf_test_token"

_ENV = (
    "NEMO_CACHE_DIR", "NEMO_PRETRAINED_CATALOGUE", "NEMO_OFFLINE", "HF_HOME", "HF_HUB_CACHE", "HF_HUB_OFFLINE",
    "HF_ENDPOINT", "HF_TOKEN", "XDG_CACHE_HOME",
)


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Fresh caches under tmp_path, no inherited hub settings, a throw-away CWD, no back-off."""
    for key in _ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("NEMO_CACHE_DIR", str(tmp_path / "nemo_cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.setenv("NEMO_DISABLE_PROGRESS_BARS", "1")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    import nemo.utils.download as download

    monkeypatch.setattr(download, "BACKOFF_SECONDS", 0.0)
    from nemo.core.classes import pretrained

    monkeypatch.setattr(pretrained, "_runtime_entries", [])
    monkeypatch.setattr(pretrained, "_catalogue_files", [])
    return tmp_path


@pytest.fixture
def file_server():
    server = FileServer().start()
    yield server
    server.stop()


@pytest.fixture
def hub(monkeypatch):
    server = HubServer(tokens=(TOKEN, "<HF TOKEN>")).start()
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def toy_nemo(tmp_path_factory) -> bytes:
    """Bytes of a small Toy `.nemo` (dim 4)."""
    path = tmp_path_factory.mktemp("toy") / "toy.nemo"
    Toy({"dim": 4}).save_to(str(path))
    return path.read_bytes()


@pytest.fixture(scope="session")
def vocab_nemo(tmp_path_factory) -> bytes:
    """Bytes of a Vocab `.nemo` with a vocabulary artifact (words <unk> a b c d)."""
    d = tmp_path_factory.mktemp("vocab")
    model = Vocab(OmegaConf.create({"vocab_file": write_vocab(d / "vocab.txt", ("<unk>", "a", "b", "c", "d"))}))
    model.save_to(str(d / "vocab.nemo"))
    return (d / "vocab.nemo").read_bytes()


def write_catalogue(path, entries) -> str:
    """Write a catalogue JSON file and return its path."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(entries, f)
    return str(path)


def files_under(root) -> list:
    out = []
    for dirpath, _, names in os.walk(root):
        out += [os.path.relpath(os.path.join(dirpath, n), root) for n in names]
    return sorted(out)
