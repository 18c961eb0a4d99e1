"""Write `nemo_3.0.0/specaug_ctc.nemo` and `specaug_ctc_io.npz`: a tiny seeded, untrained EncDecCTCModel with
SpecAugment (time and frequency masks) saved by whichever `nemo` runs this, and its eval-mode log-probs.
Run with NVIDIA NeMo 3.0.0's interpreter for the golden file test_legacy_goldens.py restores:

    /tmp/nemo_ref/bin/python tests/legacy/make_specaug_model.py tests/legacy/nemo_3.0.0
"""

import os
import sys

import numpy as np

LABELS = list(" abcdefghijklmnopqrstuvwxyz'")


def tiny_cfg():
    from omegaconf import OmegaConf

    block = dict(filters=16, repeat=1, kernel=[5], stride=[1], dilation=[1], dropout=0.0, residual=False,
                 separable=True)
    return OmegaConf.create({
        "sample_rate": 16000,
        "labels": LABELS,
        "preprocessor": {"_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor",
                         "features": 16, "n_fft": 512, "dither": 0.0},
        "spec_augment": {"_target_": "nemo.collections.asr.modules.SpectrogramAugmentation",
                         "freq_masks": 2, "time_masks": 2, "freq_width": 4, "time_width": 0.05},
        "encoder": {"_target_": "nemo.collections.asr.modules.ConvASREncoder", "feat_in": 16, "activation": "relu",
                    "conv_mask": True, "jasper": [dict(block, stride=[2], kernel=[11]), dict(block, residual=True)]},
        "decoder": {"_target_": "nemo.collections.asr.modules.ConvASRDecoder", "feat_in": 16,
                    "num_classes": len(LABELS), "vocabulary": LABELS},
        "optim": {"name": "adam", "lr": 0.01},
    })


def main(out_dir):
    import torch

    import nemo
    from nemo.collections.asr.models import EncDecCTCModel

    torch.manual_seed(0)
    model = EncDecCTCModel(cfg=tiny_cfg()).eval()
    signal = torch.from_numpy(np.random.default_rng(0).standard_normal(8000).astype(np.float32) * 0.1)[None]
    length = torch.tensor([8000])
    with torch.no_grad():
        logprobs = model(input_signal=signal, input_signal_length=length)[0]
    os.makedirs(out_dir, exist_ok=True)
    model.save_to(os.path.join(out_dir, "specaug_ctc.nemo"))
    np.savez(os.path.join(out_dir, "specaug_ctc_io.npz"), signal=signal.numpy(), logprobs=logprobs.numpy())
    print(nemo.__file__, tuple(logprobs.shape))


if __name__ == "__main__":
    main(sys.argv[1])
