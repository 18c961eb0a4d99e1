"""Catalogue downloads from a local NGC-like server: cache, resume, checksums, offline, errors."""

import hashlib
import os
import time

import pytest
import torch

from nemo.core import PretrainedModelInfo
from nemo.core.classes import pretrained
from nemo.core.classes.exceptions import ArchiveNotFoundError
from nemo.utils import download
from nemo.utils.download import ChecksumError, DownloadError, OfflineCacheMissError
from tests.core.hub.conftest import files_under
from tests.core.toy_models import Toy


def _register(server, data, name="toy-cat", sha256=None, size=None, path="models/toy/1.0/files/toy-cat.nemo"):
    url = server.add(path, data)
    info = PretrainedModelInfo(name, "a toy", url, class_=Toy, sha256=sha256, size_bytes=size)
    pretrained.register_pretrained_model(info)
    return info


def _gets(server):
    return [r for r in server.requests if r[0] == "GET"]


def test_download_into_cache_then_reuse_without_network(file_server, toy_nemo, isolated):
    info = _register(file_server, toy_nemo, sha256=hashlib.sha256(toy_nemo).hexdigest(), size=len(toy_nemo))
    model = Toy.from_pretrained("toy-cat", map_location="cpu")
    assert isinstance(model, Toy) and model.layer.weight.shape == (1, 4)
    path = Toy.from_pretrained("toy-cat", return_model_file=True)
    assert path == download.ngc_cache_path("toy-cat", info.location)
    assert path.startswith(str(isolated / "nemo_cache")) and open(path, "rb").read() == toy_nemo
    assert len(_gets(file_server)) == 1  # the second call used the cache
    assert os.listdir(os.getcwd()) == []  # nothing written into the working directory
    assert not [f for f in files_under(isolated / "nemo_cache") if f.endswith((".part", ".tmp"))]


def test_default_cache_root_is_not_versioned(monkeypatch, tmp_path):
    monkeypatch.delenv("NEMO_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert download.cache_root() == str(tmp_path / "xdg" / "nemo" / "models")
    monkeypatch.setenv("NEMO_CACHE_DIR", "relative/cache")
    assert download.cache_root() == os.path.abspath("relative/cache")


def test_interrupted_download_resumes_with_range(file_server, toy_nemo):
    info = _register(file_server, toy_nemo, sha256=hashlib.sha256(toy_nemo).hexdigest())
    file_server.cut_after["/models/toy/1.0/files/toy-cat.nemo"] = len(toy_nemo) // 3
    path = Toy.from_pretrained("toy-cat", return_model_file=True)
    gets = _gets(file_server)
    assert len(gets) == 2 and gets[0][2] is None and gets[1][2] == f"bytes={len(toy_nemo) // 3}-"
    assert open(path, "rb").read() == toy_nemo and not os.path.exists(path + ".part")
    assert info.location.endswith("toy-cat.nemo")


def test_partial_file_left_by_a_killed_process_is_resumed(file_server, toy_nemo):
    info = _register(file_server, toy_nemo)
    dest = download.ngc_cache_path("toy-cat", info.location)
    os.makedirs(os.path.dirname(dest))
    with open(dest + ".part", "wb") as f:
        f.write(toy_nemo[:1000])
    Toy.from_pretrained("toy-cat", return_model_file=True)
    assert _gets(file_server)[0][2] == "bytes=1000-"
    assert open(dest, "rb").read() == toy_nemo


def test_wrong_checksum_is_refused_and_nothing_is_cached(file_server, toy_nemo):
    info = _register(file_server, toy_nemo, sha256="ab" * 32)
    with pytest.raises(ChecksumError, match="sha256 .* but the catalogue says abab") as e:
        Toy.from_pretrained("toy-cat")
    assert "\n" not in str(e.value)
    dest = download.ngc_cache_path("toy-cat", info.location)
    assert not os.path.exists(dest) and not os.path.exists(dest + ".part")


def test_wrong_size_is_refused(file_server, toy_nemo):
    _register(file_server, toy_nemo, size=len(toy_nemo) + 1)
    with pytest.raises(ChecksumError, match="bytes but the catalogue says"):
        Toy.from_pretrained("toy-cat")


def test_truncated_cached_file_is_detected_and_downloaded_again(file_server, toy_nemo, caplog):
    info = _register(file_server, toy_nemo)
    path = Toy.from_pretrained("toy-cat", return_model_file=True)
    with open(path, "r+b") as f:
        f.truncate(1200)  # cuts into the archive members
    model = Toy.from_pretrained("toy-cat", map_location="cpu")
    assert isinstance(model, Toy) and open(path, "rb").read() == toy_nemo
    assert len(_gets(file_server)) == 2
    assert "is damaged" in caplog.text and info.pretrained_model_name in caplog.text


def test_corrupted_cached_file_with_known_sha_is_downloaded_again(file_server, toy_nemo):
    _register(file_server, toy_nemo, sha256=hashlib.sha256(toy_nemo).hexdigest())
    path = Toy.from_pretrained("toy-cat", return_model_file=True)
    data = bytearray(toy_nemo)
    data[-2000] ^= 0xFF  # same size, still a readable tar: only the checksum can tell
    time.sleep(0.01)
    with open(path, "wb") as f:
        f.write(bytes(data))
    assert Toy.from_pretrained("toy-cat", return_model_file=True) == path
    assert open(path, "rb").read() == toy_nemo and len(_gets(file_server)) == 2


def test_offline_uses_cache_with_server_stopped_and_fails_fast_when_missing(file_server, toy_nemo, monkeypatch):
    _register(file_server, toy_nemo)
    _register(file_server, toy_nemo, name="toy-never-fetched", path="other/toy-never-fetched.nemo")
    Toy.from_pretrained("toy-cat", return_model_file=True)
    file_server.stop()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = Toy.from_pretrained("toy-cat", map_location="cpu")
    assert isinstance(model, Toy)
    start = time.perf_counter()
    with pytest.raises(OfflineCacheMissError) as e:
        Toy.from_pretrained("toy-never-fetched")
    assert time.perf_counter() - start < 1.0
    msg = str(e.value)
    assert "toy-never-fetched" in msg and os.environ["NEMO_CACHE_DIR"] in msg and "return_model_file=True" in msg
    assert isinstance(e.value, FileNotFoundError)


def test_cached_model_loads_when_the_network_is_down_without_offline_flag(file_server, toy_nemo):
    _register(file_server, toy_nemo)
    Toy.from_pretrained("toy-cat", return_model_file=True)
    file_server.stop()
    assert isinstance(Toy.from_pretrained("toy-cat", map_location="cpu"), Toy)


def test_network_failure_says_what_to_do(file_server, toy_nemo):
    _register(file_server, toy_nemo)
    file_server.stop()
    with pytest.raises(DownloadError) as e:
        Toy.from_pretrained("toy-cat")
    assert "could not download" in str(e.value) and "HF_HUB_OFFLINE=1" in str(e.value) and "\n" not in str(e.value)


def test_transient_server_errors_are_retried(file_server, toy_nemo):
    _register(file_server, toy_nemo)
    file_server.fail_next = 2
    assert isinstance(Toy.from_pretrained("toy-cat", map_location="cpu"), Toy)
    assert len(_gets(file_server)) == 3


def test_missing_file_on_server_is_reported(file_server, toy_nemo):
    pretrained.register_pretrained_model(PretrainedModelInfo("gone", "d", file_server.url + "/gone.nemo", class_=Toy))
    with pytest.raises(DownloadError, match="HTTP 404.*catalogue entry may be outdated"):
        Toy.from_pretrained("gone")


def test_refresh_cache_downloads_again(file_server, toy_nemo):
    _register(file_server, toy_nemo)
    Toy.from_pretrained("toy-cat", return_model_file=True)
    Toy.from_pretrained("toy-cat", refresh_cache=True, return_model_file=True)
    assert len(_gets(file_server)) == 2


def test_progress_bar_is_shown(file_server, toy_nemo, monkeypatch, capsys):
    monkeypatch.setenv("NEMO_DISABLE_PROGRESS_BARS", "0")
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "0")
    _register(file_server, toy_nemo)
    Toy.from_pretrained("toy-cat", return_model_file=True)
    assert "Downloading toy-cat.nemo" in capsys.readouterr().err


def test_return_config_and_override_config(file_server, toy_nemo):
    _register(file_server, toy_nemo)
    config = Toy.from_pretrained("toy-cat", return_config=True)
    assert config.dim == 4
    config.marker = "changed"
    model = Toy.from_pretrained("toy-cat", override_config_path=config, map_location="cpu")
    assert model.cfg.marker == "changed"


def test_local_paths(tmp_path, toy_nemo):
    path = tmp_path / "local.nemo"
    path.write_bytes(toy_nemo)
    model = Toy.from_pretrained(str(path), map_location="cpu")
    assert isinstance(model, Toy)
    folder = tmp_path / "extracted"
    connector = model._save_restore_connector
    connector.pack_nemo_file = False
    try:
        model.save_to(str(folder / "x.nemo"))
    finally:
        connector.pack_nemo_file = True
    assert sorted(os.listdir(folder)) == ["model_config.yaml", "model_weights.ckpt"]
    again = Toy.from_pretrained(str(folder), map_location="cpu")
    assert torch.equal(again.layer.weight, model.layer.weight)
    with pytest.raises(ArchiveNotFoundError, match="does not exist"):
        Toy.from_pretrained("./missing/model.nemo")
