"""push_to_hf_hub / from_pretrained against a local Hub driven by the real huggingface_hub client."""

import os
import time

import pytest
from omegaconf import OmegaConf
import torch
import yaml

from nemo.utils.download import DownloadError, HubAuthError, OfflineCacheMissError, UnknownModelError
from nemo.utils import hf_hub as hf
from tests.core.hub.conftest import files_under
from tests.core.toy_models import Toy, Vocab, write_vocab


def _toy(dim=4):
    torch.manual_seed(dim)
    return Toy({"dim": dim})


def _requests_since(server, n):
    return server.requests[n:]


def _front_matter(text):
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---", 2)[1])


def test_push_packed_is_one_commit_and_loads_back(hub):
    model = _toy()
    url = model.push_to_hf_hub("me/toy_model")
    assert url == f"{hub.url}/me/toy_model/tree/main"
    assert len(hub.commits) == 1 and hub.commits[0]["files"] == [".gitattributes", "README.md", "toy_model.nemo"]
    loaded = Toy.from_pretrained("me/toy_model", map_location="cpu")
    assert torch.equal(loaded.layer.weight, model.layer.weight)
    meta = _front_matter(hub.files("me/toy_model")["README.md"].decode())
    assert meta["library_name"] == "nemo" and "NeMo" in meta["tags"] and meta["license"] == "cc-by-4.0"


def test_push_unpacked_does_not_stick_to_the_model(hub, tmp_path):
    model = Vocab(OmegaConf.create({"vocab_file": write_vocab(tmp_path / "v.txt")}))
    model.push_to_hf_hub("me/vocab_unpacked", pack_nemo_file=False)
    files = hub.commits[-1]["files"]
    assert len(hub.commits) == 1 and "README.md" in files and "model_config.yaml" in files and "model_weights.ckpt" in files
    assert any(f.endswith("_v.txt") for f in files) and not any(f.endswith(".nemo") for f in files)
    # NeMo's bug: the model kept pack_nemo_file=False and later saves wrote folders.
    assert model._save_restore_connector.pack_nemo_file is True
    model.save_to(str(tmp_path / "after.nemo"))
    assert (tmp_path / "after.nemo").is_file()
    loaded = Vocab.from_pretrained("me/vocab_unpacked", map_location="cpu")
    assert loaded.vocab == model.vocab and torch.equal(loaded.embed.weight, model.embed.weight)
    assert os.path.isdir(Vocab.from_pretrained("me/vocab_unpacked", return_model_file=True))


def test_unpacked_repo_is_cached_once(hub):
    _toy().push_to_hf_hub("me/toy_unpacked", pack_nemo_file=False)
    first = Toy.from_pretrained("me/toy_unpacked", return_model_file=True)
    n = len(hub.requests)
    mtime = os.stat(os.path.join(first, "model_weights.ckpt")).st_mtime_ns
    second = Toy.from_pretrained("me/toy_unpacked", return_model_file=True)
    assert second == first and _requests_since(hub, n) == []  # no network, no re-download
    assert os.stat(os.path.join(first, "model_weights.ckpt")).st_mtime_ns == mtime
    assert ".cache" not in os.listdir(first) and ".gitattributes" not in os.listdir(first)


def test_offline_reload_from_cache_with_server_stopped(hub, monkeypatch):
    packed, unpacked = _toy(4), _toy(5)
    packed.push_to_hf_hub("me/p")
    unpacked.push_to_hf_hub("me/u", pack_nemo_file=False)
    Toy.from_pretrained("me/p", return_model_file=True)
    Toy.from_pretrained("me/u", return_model_file=True)
    hub.stop()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert torch.equal(Toy.from_pretrained("me/p", map_location="cpu").layer.weight, packed.layer.weight)
    assert torch.equal(Toy.from_pretrained("me/u", map_location="cpu").layer.weight, unpacked.layer.weight)
    start = time.perf_counter()
    with pytest.raises(OfflineCacheMissError) as e:
        Toy.from_pretrained("me/never-downloaded")
    assert time.perf_counter() - start < 1.0
    msg = str(e.value)
    assert "me/never-downloaded" in msg and os.environ["NEMO_CACHE_DIR"] in msg and "hf download" in msg
    monkeypatch.delenv("HF_HUB_OFFLINE")  # no flag, network down: the cache still answers
    assert isinstance(Toy.from_pretrained("me/p", map_location="cpu"), Toy)


def test_damaged_cached_files_are_downloaded_again(hub, caplog):
    _toy().push_to_hf_hub("me/p")
    _toy().push_to_hf_hub("me/u", pack_nemo_file=False)
    path = Toy.from_pretrained("me/p", return_model_file=True)
    real = os.path.realpath(path)
    os.chmod(real, 0o644)
    with open(real, "r+b") as f:
        f.truncate(1200)
    assert isinstance(Toy.from_pretrained("me/p", map_location="cpu"), Toy)
    folder = Toy.from_pretrained("me/u", return_model_file=True)
    with open(os.path.join(folder, "model_weights.ckpt"), "ab") as f:
        f.write(b"junk")
    assert isinstance(Toy.from_pretrained("me/u", map_location="cpu"), Toy)
    assert caplog.text.count("is damaged") == 2


def test_flipped_byte_in_cached_hub_file_is_caught_by_its_sha256(hub, caplog):
    model = _toy()
    model.push_to_hf_hub("me/p")
    real = os.path.realpath(Toy.from_pretrained("me/p", return_model_file=True))
    assert len(os.path.basename(real)) == 64  # the blob is named by the file's sha256 (its LFS etag)
    data = bytearray(open(real, "rb").read())
    data[-3000] ^= 0xFF  # same size, tar still readable
    os.chmod(real, 0o644)
    with open(real, "wb") as f:
        f.write(bytes(data))
    loaded = Toy.from_pretrained("me/p", map_location="cpu")
    assert torch.equal(loaded.layer.weight, model.layer.weight)
    assert "sha256" in caplog.text and "is damaged" in caplog.text


def test_refresh_cache_picks_up_a_new_push(hub):
    _toy(4).push_to_hf_hub("me/p")
    first = Toy.from_pretrained("me/p", map_location="cpu")
    _toy(6).push_to_hf_hub("me/p")
    assert Toy.from_pretrained("me/p", map_location="cpu").layer.weight.shape == first.layer.weight.shape
    assert Toy.from_pretrained("me/p", refresh_cache=True, map_location="cpu").layer.weight.shape == (1, 6)


def test_bad_repo_id():
    for bad in ("noslash", "a/b/c", "a//b", "-x/y", "a/b c"):
        with pytest.raises(ValueError, match="Invalid repo_id .*`username/repo-name`"):
            _toy().push_to_hf_hub(bad)
    with pytest.raises(ValueError, match="Invalid repo_id"):
        hf.resolve("a/b c")


def test_missing_repo_and_missing_token(hub, monkeypatch):
    with pytest.raises(UnknownModelError, match="me/nothing was not found on .*Check the repo id"):
        Toy.from_pretrained("me/nothing")
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setenv("HF_HOME", os.environ["HF_HOME"])  # no saved login either
    with pytest.raises(HubAuthError, match=r"refused to let you push to me/x \(HTTP 401\).*HF_TOKEN") as e:
        _toy().push_to_hf_hub("me/x")
    assert "\n" not in str(e.value)
    with pytest.raises(HubAuthError, match="refused"):
        _toy().push_to_hf_hub("me/x", token="wrong")


def test_private_repo_needs_a_token_to_load(hub, monkeypatch):
    _toy().push_to_hf_hub("me/secret", private=True, token="hf_test_token")
    assert hub.repos["me/secret"]["private"] is True
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(UnknownModelError, match="if it is private, pass token= or set HF_TOKEN"):
        Toy.from_pretrained("me/secret")
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    assert isinstance(Toy.from_pretrained("me/secret", map_location="cpu"), Toy)


def test_network_failure(hub):
    hub.stop()
    with pytest.raises(DownloadError, match="could not reach .*HF_HUB_OFFLINE=1") as e:
        Toy.from_pretrained("me/anything")
    assert "\n" not in str(e.value)
    with pytest.raises(DownloadError, match="could not reach"):
        _toy().push_to_hf_hub("me/anything")


def test_push_while_offline_says_so(hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DownloadError, match="offline mode is on .*unset it to push"):
        _toy().push_to_hf_hub("me/anything")
    assert hub.requests == []


def test_not_a_nemo_repo(hub):
    hub.create("me/other")
    with pytest.raises(UnknownModelError, match="neither other.nemo nor model_config.yaml"):
        Toy.from_pretrained("me/other")


def test_branch_commit_message_and_custom_endpoint(hub, monkeypatch):
    monkeypatch.delenv("HF_ENDPOINT")
    url = _toy().push_to_hf_hub("me/b", branch="dev", commit_message="first model", api_endpoint=hub.url)
    assert url == f"{hub.url}/me/b/tree/dev"
    assert hub.commits[-1]["revision"] == "dev" and hub.commits[-1]["summary"] == "first model"
    assert "b.nemo" in hub.files("me/b", "dev") and "b.nemo" not in hub.files("me/b", "main")


def test_default_model_card(hub):
    model = _toy()
    card = model.generate_model_card(template_kwargs={"repo_id": "me/toy", "metrics": {"WER": "3.1%"}})
    text = str(card)
    meta = _front_matter(text)
    assert meta == {"library_name": "nemo", "license": "cc-by-4.0", "tags": ["pytorch", "NeMo"]}
    assert 'Toy.from_pretrained("me/toy")' in text and "from tests.core.toy_models import Toy" in text
    assert "5 parameters" in text and "| WER | 3.1% |" in text
    assert card.data.library_name == "nemo"
    with pytest.raises(ValueError, match="Model card type md not supported"):
        model.generate_model_card(type="md")


def test_model_card_architecture_from_an_asr_config(golden):
    import nemo.collections.asr as nemo_asr

    model = nemo_asr.models.EncDecCTCModel.restore_from(str(golden / "quartznet_small_nemo.nemo"), map_location="cpu")
    text = str(model.generate_model_card(template_kwargs={"license": "apache-2.0"}))
    meta = _front_matter(text)
    assert meta["license"] == "apache-2.0" and meta["pipeline_tag"] == "automatic-speech-recognition"
    assert "`ConvASREncoder`" in text and "`ConvASRDecoder`" in text and "**sample_rate**: 16000" in text
    assert f"{model.num_weights:,}" in text


def test_search_huggingface_models(hub):
    _toy().push_to_hf_hub("me/one")
    _toy().push_to_hf_hub("you/two")
    hub.create("me/not-nemo")
    found = Toy.search_huggingface_models()
    assert sorted(m.id for m in found) == ["me/one", "you/two"]
    flt = Toy.get_hf_model_filter()
    assert set(flt) == {"author", "library", "language", "model_name", "task", "tags", "limit", "full", "cardData"}
    flt["author"] = "me"
    assert [m.id for m in Toy.search_huggingface_models(model_filter=flt)] == ["me/one"]
    flt = Toy.get_hf_model_filter()
    flt["model_name"] = "two"
    flt["limit"] = 5
    assert [m.id for m in Toy.search_huggingface_models(flt)] == ["you/two"]
    with pytest.raises(ValueError, match="unknown filter keys"):
        Toy.search_huggingface_models({"direction": -1})
    loaded = Toy.from_pretrained(found[0].id, map_location="cpu")
    assert isinstance(loaded, Toy)


def test_hub_files_land_in_the_hf_cache_not_the_cwd(hub, isolated):
    _toy().push_to_hf_hub("me/p")
    path = Toy.from_pretrained("me/p", return_model_file=True)
    assert path.startswith(os.environ["HF_HOME"]) and os.listdir(os.getcwd()) == []
    assert not [f for f in files_under(isolated) if f.endswith((".incomplete", ".tmp"))]


def test_custom_template_placeholders_and_string_cards(hub):
    model = _toy()
    kwargs = {"model_name": "ABC"}
    card = str(model.generate_model_card(template="# {model_name}\n{num_parameters} params, {unknown} and {} stay", template_kwargs=kwargs))
    assert card.endswith("---\n# ABC\n5 params, {unknown} and {} stay") and kwargs == {"model_name": "ABC"}
    model.push_to_hf_hub("me/string_card", model_card="# {model_name} at {repo_id}, {other}")
    assert hub.files("me/string_card")["README.md"].decode() == "# String Card at me/string_card, {other}"


@pytest.mark.parametrize("pack", [True, False])
def test_a_model_larger_than_the_byte_cap_is_refused_before_download(hub, monkeypatch, pack):
    repo = f"me/capped_{int(pack)}"
    _toy(6).push_to_hf_hub(repo, pack_nemo_file=pack)
    monkeypatch.setenv("NEMO_DOWNLOAD_MAX_BYTES", "1000")
    n = len(hub.requests)
    with pytest.raises(DownloadError, match=r"capped_.*above NEMO_DOWNLOAD_MAX_BYTES \(1000 bytes\)"):
        Toy.from_pretrained(repo, map_location="cpu")
    assert not any("/resolve/" in str(r) for r in _requests_since(hub, n))  # only the metadata was asked for
    monkeypatch.delenv("NEMO_DOWNLOAD_MAX_BYTES")
    n = len(hub.requests)
    assert torch.equal(Toy.from_pretrained(repo, map_location="cpu").layer.weight, _toy(6).layer.weight)
    assert any("/resolve/" in str(r) for r in _requests_since(hub, n))
