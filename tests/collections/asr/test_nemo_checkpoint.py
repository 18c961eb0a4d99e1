"""A Lightning checkpoint NVIDIA NeMo 3.0.0 wrote (pickled DictConfigs naming NeMo's config dataclasses; made by
make_nemo_checkpoint.py) loads here weights-only, and training resumes from it."""

from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

from nemo.collections.asr.models import EncDecCTCModel
from nemo.core import UnsafeArchiveError
from nemo.utils.checkpoint_io import AtomicCheckpointIO
from nemo.utils.safe_load import allowed_globals, load_checkpoint, pickle_globals
from tests.collections.asr.make_nemo_checkpoint import tone_corpus

CKPT = str(Path(__file__).parent / "data" / "nemo_tiny_ctc.ckpt")


def test_nemo_checkpoint_globals_are_data_only():
    names = pickle_globals(CKPT)
    assert "omegaconf.dictconfig.DictConfig" in names
    assert "nemo.collections.asr.parts.submodules.ctc_decoding.CTCDecodingConfig" in names
    with pytest.raises(UnsafeArchiveError, match="os.system"):
        allowed_globals(names | {"os.system"})
    with pytest.raises(UnsafeArchiveError, match="EncDecCTCModel"):  # a nemo class that is not a config
        allowed_globals({"nemo.collections.asr.models.EncDecCTCModel"})


def test_load_from_nemo_checkpoint():
    stored = load_checkpoint(CKPT)
    assert stored["global_step"] == 2
    model = EncDecCTCModel.load_from_checkpoint(CKPT, map_location="cpu")
    for key, value in stored["state_dict"].items():
        assert torch.equal(model.state_dict()[key], value), key
    assert model.cfg.decoding.strategy == "greedy_batch" and model.decoder.num_classes_with_blank == 29


@pytest.mark.slow
def test_training_resumes_from_nemo_checkpoint(tmp_path):
    stored = load_checkpoint(CKPT)
    cfg = stored["hyper_parameters"]["cfg"]
    cfg.train_ds.manifest_filepath = cfg.validation_ds.manifest_filepath = tone_corpus(str(tmp_path))
    trainer = pl.Trainer(max_steps=4, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                         limit_val_batches=0, plugins=[AtomicCheckpointIO()])
    model = EncDecCTCModel(cfg=cfg, trainer=trainer)
    trainer.fit(model, ckpt_path=CKPT)
    assert trainer.global_step == 4
    optim_state = trainer.optimizers[0].state_dict()["state"]
    assert int(optim_state[0]["step"]) == 4  # Adam's moments came from NeMo's 2 steps, then 2 more here
