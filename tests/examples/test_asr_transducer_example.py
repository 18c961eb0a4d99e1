"""Fine-tuning transducers through the example scripts: a NeMo-written TDT .nemo (+init_from_nemo_model) on an
espeak-ng corpus with the loss falling and the dev WER printed; the hybrid script with a new tokenizer keeps
the pretrained encoder."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "asr"
DATA = REPO / "tests" / "collections" / "asr" / "data"
FC = DATA / "fastconformer"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from nemo.collections.asr.data.synth import synthesize_corpus

    try:
        return synthesize_corpus(str(tmp_path_factory.mktemp("tdt_corpus")), 24, 4, 0, seed=11, digit_fraction=1.0)
    except Exception as err:  # espeak-ng missing
        pytest.skip(f"no speech corpus: {err}")


def _run(script, args, cwd, timeout=400):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(script), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    return out


def _common(corpus, tokenizer_dir):
    args = [f"model.tokenizer.dir={tokenizer_dir}",
            f"model.train_ds.manifest_filepath={corpus['train']}",
            f"model.validation_ds.manifest_filepath={corpus['dev']}",
            "model.optim.lr=2e-3", "~model.optim.sched", "model.spec_augment.time_masks=2",
            "trainer.devices=1", "trainer.accelerator=cpu", "trainer.strategy=auto", "trainer.log_every_n_steps=2",
            "exp_manager.create_tensorboard_logger=false"]
    for split in ("train_ds", "validation_ds"):
        args += [f"model.{split}.batch_size=6", f"model.{split}.num_workers=0"]
    return args


def _losses(out):
    return [float(x) for x in re.findall(r"step \d+: train_loss=([0-9.]+)", out)]


@pytest.mark.slow
def test_fine_tune_nemo_written_tdt_model_loss_falls_and_wer_is_reported(corpus, tmp_path):
    """fc_tdt_bpe.nemo (EncDecRNNTBPEModel, TDT) from NeMo 3.0.0, fine-tuned with the TDT recipe's script."""
    arch = ["model.preprocessor.features=80", "model.encoder.n_layers=2", "model.encoder.d_model=112",
            "model.encoder.n_heads=4", "model.encoder.subsampling_conv_channels=64", "model.model_defaults.pred_hidden=96",
            "model.model_defaults.joint_hidden=96", "model.decoder.prednet.pred_rnn_layers=2"]
    out = _run(EXAMPLES / "asr_transducer" / "speech_to_text_rnnt_bpe.py",
               ["--config-path=../conf/fastconformer", "--config-name=fast-conformer_tdt_bpe"]
               + _common(corpus, FC / "tokenizer") + arch
               + ["trainer.max_epochs=4", f"+init_from_nemo_model={FC / 'fc_tdt_bpe.nemo'}"], cwd=tmp_path)
    assert "109 weights loaded, 0 excluded" in out  # every weight of NeMo's archive
    losses = _losses(out)
    assert len(losses) >= 6
    assert sum(losses[-2:]) / 2 < sum(losses[:2]) / 2  # the loss falls
    assert re.search(r"epoch 3 step \d+: val_wer=[0-9.]+%", out)
    nemo_file = re.search(r"\.nemo file: (\S+)", out).group(1)
    from nemo.collections.asr.models import EncDecRNNTBPEModel

    model = EncDecRNNTBPEModel.restore_from(nemo_file)
    assert list(model.cfg.decoding.durations) == [0, 1, 2, 3, 4] and model.cfg.loss.loss_name == "tdt"


@pytest.mark.slow
def test_hybrid_script_new_tokenizer_keeps_the_pretrained_encoder(corpus, tmp_path):
    """NeMo's hybrid TDT-CTC archive as the init, a fresh 40-piece tokenizer: encoder loaded, heads new."""
    from nemo.collections.common.tokenizers.sentencepiece_tokenizer import create_spt_model

    (tmp_path / "text.txt").write_text("\n".join(["one two three four five", "six seven eight nine zero oh"] * 30))
    create_spt_model(str(tmp_path / "text.txt"), 40, -1, True, tokenizer_type="bpe", output_dir=str(tmp_path / "spe"))
    arch = ["model.preprocessor.features=80", "model.encoder.n_layers=2", "model.encoder.d_model=96",
            "model.encoder.n_heads=4", "model.encoder.subsampling_conv_channels=64", "model.model_defaults.pred_hidden=64",
            "model.model_defaults.joint_hidden=80", "model.decoder.prednet.pred_rnn_layers=2",
            "model.model_defaults.tdt_durations=[0,1,2,3,4]"]
    source = DATA / "transducer" / "hybrid_tdt_ctc_bpe.nemo"
    out = _run(EXAMPLES / "asr_hybrid_transducer_ctc" / "speech_to_text_hybrid_rnnt_ctc_bpe.py",
               ["--config-path=../conf/fastconformer/hybrid_transducer_ctc",
                "--config-name=fastconformer_hybrid_tdt_ctc_bpe"] + _common(corpus, tmp_path / "spe") + arch
               + ["trainer.max_epochs=2", f"+init_from_nemo_model.pretrained.path={source}",
                  "+init_from_nemo_model.pretrained.exclude=[decoder,joint,ctc_decoder]"], cwd=tmp_path)
    from nemo.collections.asr.models import EncDecHybridRNNTCTCBPEModel

    pretrained = EncDecHybridRNNTCTCBPEModel.restore_from(str(source))
    kept = [k for k in pretrained.state_dict() if not k.startswith(("decoder", "joint", "ctc_decoder"))]
    assert f"{len(kept)} weights loaded" in out
    assert _losses(out) and re.search(r"epoch 1 step \d+: val_wer=[0-9.]+%", out)
    tuned = EncDecHybridRNNTCTCBPEModel.restore_from(re.search(r"\.nemo file: (\S+)", out).group(1))
    assert tuned.tokenizer.vocab_size == 40 and tuned.joint.num_classes_with_blank == 40 + 1 + 5
    assert tuned.ctc_decoder.num_classes_with_blank == 41
