"""examples/asr/asr_ctc/speech_to_text_ctc_bpe.py with the FastConformer recipe and a tokenizer from the package's
script, run through its command line (issue 13 item 6)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "examples" / "asr" / "asr_ctc" / "speech_to_text_ctc_bpe.py"


def _python(args, cwd):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return proc.stdout + proc.stderr


@pytest.mark.slow
def test_fastconformer_ctc_bpe_trains_one_step_and_saves(tmp_path):
    from nemo.collections.asr.data.synth import synthesize_corpus

    try:
        corpus = synthesize_corpus(str(tmp_path / "corpus"), 4, 2, 0, seed=5, digit_fraction=1.0)
    except Exception as err:  # espeak-ng missing
        pytest.skip(f"no speech corpus: {err}")
    out = _python(["-m", "nemo.collections.common.tokenizers.process_asr_text_tokenizer", "--manifest",
                   corpus["train"], "--data_root", str(tmp_path / "tok"), "--vocab_size", "16", "--tokenizer", "spe",
                   "--spe_type", "bpe"], tmp_path)
    tok = tmp_path / "tok" / "tokenizer_spe_bpe_v16"
    assert (tok / "tokenizer.model").exists(), out
    args = [str(SCRIPT), "--config-path=../conf/fastconformer", "--config-name=fast-conformer_ctc_bpe",
            f"model.tokenizer.dir={tok}", f"model.train_ds.manifest_filepath={corpus['train']}",
            f"model.validation_ds.manifest_filepath={corpus['dev']}", "model.encoder.n_layers=1",
            "model.encoder.d_model=32", "model.encoder.n_heads=2", "model.encoder.subsampling_conv_channels=8",
            "model.train_ds.batch_size=2", "model.validation_ds.batch_size=2", "model.train_ds.num_workers=0",
            "model.validation_ds.num_workers=0", "trainer.devices=1", "trainer.accelerator=cpu",
            "trainer.strategy=auto", "trainer.sync_batchnorm=false", "trainer.max_epochs=1",
            f"exp_manager.exp_dir={tmp_path / 'exp'}"]
    out = _python(args, tmp_path)
    assert "EncDecCTCModelBPE" in out or "ConformerEncoder" in out
    assert "epoch 0 step 2: val_loss=" in out  # PrintWER after the one epoch of 2 batches
    nemo_files = list((tmp_path / "exp").rglob("*.nemo"))
    assert len(nemo_files) == 1

    from nemo.collections.asr.models import EncDecCTCModelBPE

    model = EncDecCTCModelBPE.restore_from(str(nemo_files[0]))
    assert type(model.encoder).__name__ == "ConformerEncoder" and model.tokenizer.vocab_size == 16
