"""The pretrained catalogue: PretrainedModelInfo, the shipped ASR entries, registration, lookups."""

import json
import os

import pytest

import nemo.collections.asr as nemo_asr
from nemo.core import ModelPT, PretrainedModelInfo
from nemo.core.classes import pretrained
from nemo.utils.download import UnknownModelError
from tests.core.hub.conftest import write_catalogue
from tests.core.toy_models import Toy, Vocab

NGC = "https://api.ngc.nvidia.com/v2/models/nvidia/"


def test_pretrained_model_info_repr_eq_hash_order():
    a = PretrainedModelInfo("b-model", "desc", "https://x/b.nemo")
    assert repr(a) == "PretrainedModelInfo(\n\tpretrained_model_name=b-model,\n\tdescription=desc,\n\tlocation=https://x/b.nemo\n)"
    a.class_ = Toy
    assert repr(a).endswith(",\n\tclass_=<class 'tests.core.toy_models.Toy'>\n)")
    same_location = PretrainedModelInfo("other", "d", "https://x/b.nemo")
    same_name = PretrainedModelInfo("b-model", "d", "https://y/b.nemo")
    different = PretrainedModelInfo("c-model", "d", "https://z/c.nemo")
    assert a == same_location and a == same_name and a != different
    assert hash(a) == hash("https://x/b.nemo")
    assert sorted([different, a])[0] is a and a < different


def test_ctc_catalogue_lists_nvidia_quartznet_and_jasper_names():
    infos = nemo_asr.models.EncDecCTCModel.list_available_models()
    by_name = {i.pretrained_model_name: i for i in infos}
    for name in ("QuartzNet15x5Base-En", "QuartzNet15x5Base-Zh", "stt_en_quartznet15x5", "stt_en_jasper10x5dr",
                 "Jasper10x5Dr-En", "stt_de_quartznet15x5"):
        assert name in by_name, name
        assert by_name[name].class_ is nemo_asr.models.EncDecCTCModel
        assert by_name[name].location.startswith(NGC) and by_name[name].location.endswith(f"/files/{name}.nemo")
    assert by_name["stt_en_quartznet15x5"].location == (
        NGC + "nemo/stt_en_quartznet15x5/versions/1.0.0rc1/files/stt_en_quartznet15x5.nemo"
    )
    assert nemo_asr.models.EncDecCTCModel.get_available_model_names()[0] == "QuartzNet15x5Base-En"
    # Checksums are only recorded where they are actually known: none are invented.
    assert all(i.sha256 is None or len(i.sha256) == 64 for i in infos)


def test_catalogue_is_data_not_code():
    import nemo.collections.asr.models.ctc_models as ctc

    path = os.path.join(os.path.dirname(ctc.__file__), pretrained.CATALOGUE_FILENAME)
    with open(path, encoding="utf-8") as f:
        entries = json.load(f)
    assert {"class", "name", "description", "location"} <= set(entries[0])
    assert path in pretrained._package_catalogues()


def test_bpe_class_does_not_inherit_char_model_entries():
    assert nemo_asr.models.EncDecCTCModelBPE.list_available_models() is None
    assert nemo_asr.models.EncDecCTCModelBPE.get_available_model_names() == []
    with pytest.raises(UnknownModelError, match=r"checkpoint of .*EncDecCTCModel.*Call EncDecCTCModel.from_pretrained"):
        nemo_asr.models.EncDecCTCModelBPE.from_pretrained("QuartzNet15x5Base-En")


def test_unknown_name_lists_close_matches():
    with pytest.raises(UnknownModelError) as e:
        nemo_asr.models.EncDecCTCModel.from_pretrained("QuartzNet15x5Base-EN")
    msg = str(e.value)
    assert "Did you mean: QuartzNet15x5Base-En" in msg and "list_available_models()" in msg
    assert isinstance(e.value, FileNotFoundError) and "\n" not in msg
    with pytest.raises(UnknownModelError, match="not found in the pretrained catalogue"):
        Toy.from_pretrained("no-such-model-anywhere")


def test_register_pretrained_model_and_duplicates():
    info = PretrainedModelInfo("toy-a", "a toy", "https://example.invalid/toy-a.nemo", class_=Toy, aliases=["toy-alias"])
    pretrained.register_pretrained_model(info)
    assert Toy.get_available_model_names() == ["toy-a"]
    assert pretrained.find_pretrained(Toy, "toy-alias") is info
    with pytest.raises(ValueError, match="already registered.*override=True"):
        pretrained.register_pretrained_model(PretrainedModelInfo("toy-a", "b", "https://e.invalid/b.nemo", class_=Toy))
    pretrained.register_pretrained_model(PretrainedModelInfo("toy-a", "b", "https://e.invalid/b.nemo", class_=Toy), override=True)
    assert Toy.list_available_models()[0].description == "b"
    with pytest.raises(ValueError, match="class_"):
        pretrained.register_pretrained_model(PretrainedModelInfo("x", "d", "https://e.invalid/x.nemo"))
    assert Vocab.list_available_models() is None


def test_env_catalogue_overrides_shipped_entries_and_files_register(tmp_path, monkeypatch):
    cls_path = "nemo.collections.asr.models.ctc_models.EncDecCTCModel"
    env_file = write_catalogue(tmp_path / "env.json", [
        {"class": cls_path, "name": "QuartzNet15x5Base-En", "description": "mirror", "location": "http://mirror/q.nemo"},
    ])
    monkeypatch.setenv("NEMO_PRETRAINED_CATALOGUE", env_file)
    infos = nemo_asr.models.EncDecCTCModel.list_available_models()
    assert infos[0].location == "http://mirror/q.nemo" and len(infos) == len({i.pretrained_model_name for i in infos})
    extra = write_catalogue(tmp_path / "extra.json", [
        {"class": "Toy", "name": "toy-file", "description": "d", "location": "http://h/toy.nemo", "sha256": "0" * 64},
    ])
    pretrained.register_catalogue_file(extra)
    assert [(i.pretrained_model_name, i.sha256) for i in Toy.list_available_models()] == [("toy-file", "0" * 64)]
    bad = write_catalogue(tmp_path / "bad.json", [{"class": "Toy", "name": "x"}])
    monkeypatch.setenv("NEMO_PRETRAINED_CATALOGUE", bad)
    with pytest.raises(ValueError, match="bad.json: entry 0 lacks location"):
        Toy.list_available_models()


def test_base_class_finds_a_subclass_entry():
    pretrained.register_pretrained_model(PretrainedModelInfo("toy-b", "d", "https://e.invalid/toy-b.nemo", class_=Toy))
    info = pretrained.find_pretrained(ModelPT, "toy-b")
    assert info.class_ is Toy
    with pytest.raises(UnknownModelError, match="not Vocab or a subclass"):
        pretrained.find_pretrained(Vocab, "toy-b")


def test_resolve_subclass_pretrained_model_info():
    import nemo.collections.asr as nemo_asr

    infos = pretrained.resolve_subclass_pretrained_model_info(nemo_asr.models.ASRModel)
    names = [i.pretrained_model_name for i in infos]
    assert names == sorted(names) and "QuartzNet15x5Base-En" in names and len(names) == len(set(names))
    assert all(i.class_ is nemo_asr.models.EncDecCTCModel for i in infos)
