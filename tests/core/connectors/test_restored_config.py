"""Configs read from files (issue 12 items 2-3): no resolvers run, no local file packed, no alias/interpolation bombs."""

import io
import os
import tarfile
import time
import tracemalloc

import pytest
from omegaconf import OmegaConf

from nemo.core import ArchiveError, ArtifactError, ConfigError
from tests.core.toy_models import Toy, Vocab, write_vocab


def replace_config(src: str, dst: str, text: str) -> str:
    """A copy of the archive `src` whose model_config.yaml is `text`."""
    with tarfile.open(src) as tin, tarfile.open(dst, "w") as tout:
        for info in tin.getmembers():
            data = tin.extractfile(info).read() if info.isfile() else None
            if info.name.endswith("model_config.yaml"):
                data = text.encode()
                info.size = len(data)
            tout.addfile(info, io.BytesIO(data) if data is not None else None)
    return dst


@pytest.fixture
def toy_nemo(tmp_path):
    path = str(tmp_path / "toy.nemo")
    Toy(OmegaConf.create({"dim": 2})).save_to(path)
    return path


@pytest.fixture
def calls():
    seen = []
    OmegaConf.register_new_resolver("nemo_test_spy", lambda *a: seen.append(a) or "spied", replace=True)
    yield seen
    OmegaConf.clear_resolver("nemo_test_spy")


@pytest.mark.parametrize("value", ["${oc.env:HOME}", "${nemo_test_spy:1}", "x-${oc.decode:'1'}",
                                   "${oc.select:dim,${nemo_test_spy:2}}", "\\${nemo_test_spy:3}",
                                   "\\\\\\${nemo_test_spy:4}"])
def test_resolvers_in_an_archived_config_are_refused_naming_the_key(toy_nemo, tmp_path, calls, value):
    cfg = OmegaConf.to_yaml(Toy.restore_from(toy_nemo, return_config=True))
    text = cfg + f"secret: {OmegaConf.to_yaml(OmegaConf.create({'v': value})).split(': ', 1)[1]}"
    evil = replace_config(toy_nemo, str(tmp_path / "evil.nemo"), text)
    with pytest.raises(ArchiveError, match="key `secret`"):
        Toy.restore_from(evil)
    with pytest.raises(ConfigError, match="key `secret`"):
        Toy.restore_from(toy_nemo, override_config_path=OmegaConf.create(text))
    assert calls == []


def test_interpolations_to_other_keys_still_work(toy_nemo, tmp_path):
    yaml_path = tmp_path / "over.yaml"
    yaml_path.write_text("model:\n  size: 3\n  dim: ${model.size}\n  extra:\n    d: ${..dim}\n    e: ${.d}\n")
    model = Toy.restore_from(toy_nemo, override_config_path=str(yaml_path), strict=False)
    assert model.cfg.dim == 3 and model.cfg.extra.e == 3 and model.layer.in_features == 3


def _bounded(fn, seconds=10.0, megabytes=16):
    tracemalloc.start()
    start = time.perf_counter()
    try:
        fn()
    finally:
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert elapsed < seconds and peak < megabytes * 2**20, (elapsed, peak)


def test_yaml_alias_bomb_is_refused_in_bounded_time_and_memory(toy_nemo, tmp_path):
    lines = ["dim: 2", "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    evil = replace_config(toy_nemo, str(tmp_path / "bomb.nemo"), "\n".join(lines) + "\n")

    def restore():
        with pytest.raises(ArchiveError, match="alias"):
            Toy.restore_from(evil)

    _bounded(restore)


def test_interpolation_bomb_is_refused_in_bounded_time_and_memory(toy_nemo, tmp_path):
    lines = ["dim: 2", "b0: lollollollollollollollol"] + [f"b{i}: ${{b{i - 1}}}${{b{i - 1}}}" for i in range(1, 60)]
    evil = replace_config(toy_nemo, str(tmp_path / "bomb.nemo"), "\n".join(lines) + "\n")

    def restore():
        with pytest.raises(ArchiveError, match="interpolation bomb"):
            Toy.restore_from(evil)

    _bounded(restore)


def test_a_restored_config_cannot_pack_a_local_file(tmp_path):
    secret = tmp_path / "home" / ".ssh" / "id_rsa"
    secret.parent.mkdir(parents=True)
    secret.write_text("PRIVATE KEY\n")
    good = str(tmp_path / "good.nemo")
    Vocab(OmegaConf.create({"vocab_file": write_vocab(tmp_path / "vocab.txt")})).save_to(good)
    cfg = Vocab.restore_from(good, return_config=True)
    cfg.vocab_file = str(secret)
    evil = replace_config(good, str(tmp_path / "evil.nemo"), OmegaConf.to_yaml(cfg))
    with pytest.raises(ArtifactError, match="vocab_file"):
        Vocab.restore_from(evil)
    cfg.vocab_file = os.path.relpath(secret)  # relative paths too
    replace_config(good, evil, OmegaConf.to_yaml(cfg))
    with pytest.raises(ArtifactError, match="vocab_file"):
        Vocab.restore_from(evil)
    # Optional artifacts are dropped rather than packed.
    cfg = Vocab.restore_from(good, return_config=True)
    cfg.extra_file = str(secret)
    replace_config(good, evil, OmegaConf.to_yaml(cfg))
    model = Vocab.restore_from(evil)
    assert model.extra is None and "extra_file" not in model.artifacts
    model.save_to(str(tmp_path / "again.nemo"))
    with tarfile.open(tmp_path / "again.nemo") as tar:
        assert not any("id_rsa" in n for n in tar.getnames())
        assert all(b"PRIVATE KEY" not in tar.extractfile(m).read() for m in tar.getmembers() if m.isfile())
    # After the restore, the user may still register local files explicitly.
    model.register_artifact("extra_file", str(secret))
    assert model.artifacts["extra_file"].path == str(secret)


@pytest.mark.parametrize("text", [
    "a: 1e-3\nb: yes\nc: 2024-01-01\nd: .inf\ne: 0x10\nf: 1_000\ng: ~\nh: '007'\n",
    "x: &a [1, {k: v}]\ny: *a\n",
    "\ufeffa: [1, 2.5, true, null]\n",
])
def test_yaml_reads_as_omegaconf_reads_it(text):
    from nemo.core.connectors.restored_config import load_yaml

    assert OmegaConf.to_container(load_yaml(text, "w")) == OmegaConf.to_container(OmegaConf.create(text))


@pytest.mark.parametrize("text, message", [
    ("a: 1\na: 2\n", "duplicate key"),
    ("a: \x07\n", "control characters"),
    ("a: [1, 2\n", "flow sequence"),
    ("a: '\ud800'\n", "not valid YAML"),
])
def test_bad_yaml_is_a_config_error_naming_the_file(text, message):
    from nemo.core.connectors.restored_config import load_yaml

    with pytest.raises(ConfigError, match=message) as err:
        load_yaml(text, "some.nemo:model_config.yaml")
    assert "some.nemo:model_config.yaml" in str(err.value)


def test_the_restored_config_is_adopted_and_legacy_keys_still_rewritten(tmp_path):
    """A model adopts the config read from its archive (struct mode, equal to what was saved); a legacy config
    (`cls` / `params`) is still rewritten on the way in."""
    path = str(tmp_path / "m.nemo")
    Toy(OmegaConf.create({"dim": 3, "extra": {"cls": "torch.nn.Identity", "params": {"x": 1}}})).save_to(path)
    restored = Toy.restore_from(path)
    assert OmegaConf.is_struct(restored.cfg)
    assert OmegaConf.to_container(restored.cfg.extra) == {"_target_": "torch.nn.Identity", "x": 1}
    plain = str(tmp_path / "p.nemo")
    Toy(OmegaConf.create({"dim": 3, "name": "p"})).save_to(plain)
    again = Toy.restore_from(plain)
    assert OmegaConf.is_struct(again.cfg) and again.cfg.name == "p" and again.layer.weight.shape == (1, 3)
    with pytest.raises(Exception):
        again.cfg.not_a_key = 1
