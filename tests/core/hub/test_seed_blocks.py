"""The seed's code blocks for pretrained models and the Hub, run as written.

Only names the seed leaves to the reader are supplied (`model_class`, `repo_id`, the config edit
`config.x.y = z`); "QuartzNet15x5Base-En" is served by a local NGC-like server through a
catalogue file named by $NEMO_PRETRAINED_CATALOGUE, and the Hub is the local one (HF_ENDPOINT).
"""

import hashlib
import textwrap

import torch
import yaml

from tests.core.hub.conftest import write_catalogue

PRETRAINED = """
import nemo.collections.asr as nemo_asr

model = nemo_asr.models.EncDecCTCModel.from_pretrained(model_name="QuartzNet15x5Base-En")
"""

LISTING = """
nemo_asr.models.EncDecCTCModel.list_available_models()
"""

MODIFIED_CONFIG = """
# Obtain the config (as an OmegaConf object)
config = model_class.from_pretrained('name_of_the_model', return_config=True)

# Modify the config as needed
config.x.y = z

# Restore the model from the updated config
model = model_class.from_pretrained('name_of_the_model', override_config_path=config)
"""

UPLOAD = """
token = "<HF TOKEN>" or None
pack_nemo_file = True  # False will upload multiple files that comprise the NeMo file onto HF Hub; Generally useful for LLMs

model.push_to_hf_hub(
   repo_id=repo_id, pack_nemo_file=pack_nemo_file, token=token,
)
"""

CUSTOM_CARD = '''
# Override the default model card
template = """ <Your own custom template>
# {model_name}
"""
kwargs = {"model_name": "ABC", "repo_id": "nvidia/ABC_XYZ"}
model_card = model.generate_model_card(template=template, template_kwargs=kwargs, type="hf")

model.push_to_hf_hub(
    repo_id=repo_id, token=token, model_card=model_card
)
'''

CARD_CLASS = '''
# Write your own model card class
class MyModelCard:
  def __init__(self, model_name):
    self.model_name = model_name

  def __repr__(self):
    template = """This is the {model_name} model""".format(model_name=self.model_name)
    return template

model.push_to_hf_hub(
    repo_id=repo_id, token=token, model_card=MyModelCard("ABC")
)
'''


def _serve_quartznet(file_server, golden, tmp_path, monkeypatch):
    data = (golden / "quartznet_small_nemo.nemo").read_bytes()
    url = file_server.add("v2/models/nvidia/nemospeechmodels/versions/1.0.0a5/files/QuartzNet15x5Base-En.nemo", data)
    catalogue = write_catalogue(tmp_path / "mirror.json", [{
        "class": "nemo.collections.asr.models.ctc_models.EncDecCTCModel", "name": "QuartzNet15x5Base-En",
        "description": "local mirror", "location": url, "sha256": hashlib.sha256(data).hexdigest(),
        "size_bytes": len(data),
    }])
    monkeypatch.setenv("NEMO_PRETRAINED_CATALOGUE", catalogue)


def test_pretrained_blocks(file_server, golden, tmp_path, monkeypatch):
    _serve_quartznet(file_server, golden, tmp_path, monkeypatch)
    ns = {}
    exec(textwrap.dedent(PRETRAINED), ns)
    model = ns["model"]
    assert type(model).__name__ == "EncDecCTCModel" and model.cfg.sample_rate == 16000
    listing = eval(LISTING.strip(), ns)
    assert listing[0].pretrained_model_name == "QuartzNet15x5Base-En"
    assert "stt_en_jasper10x5dr" in [i.pretrained_model_name for i in listing]

    ns["model_class"] = ns["nemo_asr"].models.EncDecCTCModel
    block = MODIFIED_CONFIG.replace("name_of_the_model", "QuartzNet15x5Base-En").replace(
        "config.x.y = z", "config.preprocessor.dither = 0.0")
    exec(textwrap.dedent(block), ns)
    assert ns["model"].cfg.preprocessor.dither == 0.0
    assert ns["config"].preprocessor.dither == 0.0 and model.cfg.preprocessor.dither != 0.0
    assert len([r for r in file_server.requests if r[0] == "GET"]) == 1  # one download, then the cache


def test_hub_blocks(file_server, hub, golden, tmp_path, monkeypatch):
    _serve_quartznet(file_server, golden, tmp_path, monkeypatch)
    ns = {"repo_id": "me/quartznet_small"}
    exec(textwrap.dedent(PRETRAINED), ns)
    exec(textwrap.dedent(UPLOAD), ns)
    files = hub.files("me/quartznet_small")
    assert sorted(files) == [".gitattributes", "README.md", "quartznet_small.nemo"]
    card = files["README.md"].decode()
    meta = yaml.safe_load(card.split("---", 2)[1])
    assert meta["library_name"] == "nemo" and meta["license"] and "NeMo" in meta["tags"]
    assert "# Quartznet Small" in card and 'EncDecCTCModel.from_pretrained("me/quartznet_small")' in card

    exec(textwrap.dedent(CUSTOM_CARD), ns)
    card = hub.files("me/quartznet_small")["README.md"].decode()
    assert card.endswith("---\n <Your own custom template>\n# ABC\n")
    assert yaml.safe_load(card.split("---", 2)[1])["library_name"] == "nemo"
    exec(textwrap.dedent(CARD_CLASS), ns)
    assert hub.files("me/quartznet_small")["README.md"].decode() == "This is the ABC model"
    assert len(hub.commits) == 3

    import nemo.collections.asr as nemo_asr

    back = nemo_asr.models.EncDecCTCModel.from_pretrained("me/quartznet_small", map_location="cpu")
    original = ns["model"].state_dict()
    assert all(torch.equal(v.cpu(), original[k].cpu()) for k, v in back.state_dict().items())
