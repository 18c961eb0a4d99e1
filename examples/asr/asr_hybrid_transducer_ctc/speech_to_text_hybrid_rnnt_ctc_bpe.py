"""Train or fine-tune a hybrid transducer + CTC model over subwords (EncDecHybridRNNTCTCBPEModel).

    python examples/asr/asr_hybrid_transducer_ctc/speech_to_text_hybrid_rnnt_ctc_bpe.py \\
        --config-path=../conf/fastconformer/hybrid_transducer_ctc --config-name=fastconformer_hybrid_tdt_ctc_bpe \\
        model.tokenizer.dir=<dir with tokenizer.model> \\
        model.train_ds.manifest_filepath=train_manifest.json \\
        model.validation_ds.manifest_filepath=dev_manifest.json \\
        trainer.devices=1 trainer.accelerator=cpu
    ... +init_from_nemo_model=pretrained.nemo                        # fine-tune from a .nemo

The loss is (1 - aux_ctc.ctc_loss_weight) x transducer + ctc_loss_weight x CTC; validation reports the
transducer WER (`val_wer`) and the CTC head's (`val_wer_ctc`). Options as in
examples/asr/asr_transducer/speech_to_text_rnnt_bpe.py.
"""

import os
import sys

from nemo.collections.asr.models import EncDecHybridRNNTCTCBPEModel
from nemo.core.config import hydra_runner

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "asr_transducer"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "asr_ctc"))
from speech_to_text_ctc import _resolve_config_path  # noqa: E402
from speech_to_text_rnnt_bpe import run  # noqa: E402


@hydra_runner(config_path="../conf/fastconformer/hybrid_transducer_ctc", config_name="fastconformer_hybrid_tdt_ctc_bpe")
def main(cfg):
    run(cfg, EncDecHybridRNNTCTCBPEModel)


if __name__ == "__main__":
    sys.argv = _resolve_config_path(sys.argv)
    main()
