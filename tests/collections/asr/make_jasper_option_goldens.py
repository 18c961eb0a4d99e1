"""Write `data/jasper_options/`: one small seeded CTC `.nemo` per group of ConvASREncoder/JasperBlock options, trained
a few steps and BatchNorm-calibrated on three espeak-ng utterances, with that batch's features, encoder outputs and
log-probs. Run under NVIDIA NeMo 3.0.0's interpreter to make the goldens the tests restore; bench/asr_nemo_compat.py
runs the same recipe with this package to check the other direction.

    /tmp/nemo_ref/bin/python tests/collections/asr/make_jasper_option_goldens.py [OUT_DIR] [TOKENIZER_DIR]

OUT_DIR defaults to data/jasper_options (whose wav/ holds the utterances); TOKENIZER_DIR, the SentencePiece model of
the BPE group, to the 128-piece one beside the shared FastConformer goldens (the archive packs it).
"""

import copy
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data", "jasper_options")
LABELS = list(" abcdefghijklmnopqrstuvwxyz'")
TEXTS = ["our teacher is over the park", "the child carries a little door", "seven six oh seven zero"]
WAVS = ["test_000007.wav", "test_000008.wav", "test_000009.wav"]
FEATURES = 32


def blk(**kw):
    """One `jasper` list entry: a 32-filter, kernel-5, non-residual block unless `kw` says otherwise."""
    b = dict(filters=32, repeat=1, kernel=[5], stride=[1], dilation=[1], dropout=0.1, residual=False, separable=False)
    b.update(kw)
    return b


PROLOG = blk(kernel=[11], stride=[2])
EPILOG = blk(kernel=[1], filters=48)


def enc(blocks, activation="relu", **kw):
    """An encoder config: prolog (stride 2), the option blocks, a 1x1 epilog."""
    return dict(activation=activation, jasper=[PROLOG] + blocks + [EPILOG], **kw)


def _res(**kw):
    return blk(**dict(dict(residual=True, repeat=2, kernel=[7], separable=True), **kw))


GROUPS = {f"activation_{a}": enc([_res(), _res()], activation=a)
          for a in ("hardtanh", "relu", "selu", "swish", "silu", "gelu", "identity")}
GROUPS.update({
    "se_global": enc([_res(se=True, se_reduction_ratio=4), _res(se=True), blk(se=True, se_reduction_ratio=16)],
                     activation="swish"),
    "se_context": enc([_res(se=True, se_context_size=8, se_interpolation_mode="linear"),
                       _res(se=True, se_context_size=500, se_reduction_ratio=4),
                       blk(se=True, se_context_size=0, se_interpolation_mode="nearest")]),
    # A block without `residual_mode` takes the mode of the block before it (NeMo rebinds its loop variable).
    "residual_max": enc([_res(), _res(residual_mode="max"), _res(), _res(residual_mode="add"), _res()]),
    "residual_max_encoder": enc([_res(), _res(residual_mode="add"), _res()], residual_mode="max"),
    "residual_stride_add": enc([_res(repeat=1, stride=[2]), _res(stride=[2], stride_last=True), _res()],
                               residual_mode="stride_add"),
    # Jasper-DR: each dense block's residual sums 1x1 branches from the outputs of every dense block before it.
    "residual_dense": enc([_res(residual_dense=True), _res(residual_dense=True),
                           blk(residual=True, kernel=[3], residual_dense=True), _res()]),
    "dilation": enc([_res(dilation=[2]), blk(residual=True, dilation=[3], kernel=[5]), _res(dilation=[2], repeat=3)]),
    "future_context": enc([_res(future_context=1), _res(future_context=5), _res(future_context=9),
                           blk(future_context=2, dilation=[2], kernel=[5]), _res(future_context=0)]),
    "separable_groups_heads": enc([_res(heads=4), _res(groups=4), blk(residual=True, groups=2, kernel=[5]),
                                   blk(residual=True, heads=4, kernel=[3]), _res(heads=8, groups=2)]),
    "kernel_size_factor": enc([_res(kernel_size_factor=0.5, kernel=[11]), _res(kernel_size_factor=1.5),
                               blk(residual=True, kernel_size_factor=0.25)]),
    "norm_layer": enc([_res(), blk(residual=True, groups=2)], normalization_mode="layer"),
    "norm_instance": enc([_res(), blk(residual=True)], normalization_mode="instance"),
    "norm_group": enc([_res(), blk(residual=True)], normalization_mode="group", norm_groups=4),
    "norm_group_all": enc([_res(), blk(residual=True)], normalization_mode="group", norm_groups=-1),
    "conv_mask_off": enc([_res(), _res(repeat=1, stride=[2], residual_mode="stride_add"), blk(residual=True),
                          _res(dilation=[2])], conv_mask=False),
    # issue 17's recipe: squeeze-excite, `max` residuals, dense residuals, swish, a dilated block; BPE tokens
    "issue17_bpe": enc([_res(se=True, residual_dense=True), _res(se=True, residual_mode="max", residual_dense=True),
                        _res(dilation=[2], se=True, se_context_size=16), _res(residual_mode="add", se=True)],
                       activation="swish"),
})
BPE_GROUPS = ("issue17_bpe",)
# groups whose training-mode encoder output (dropout masks, SE windows, batch statistics) is also recorded
TRAIN_GROUPS = ("se_context", "se_global", "residual_dense", "future_context", "separable_groups_heads", "norm_group",
                "conv_mask_off", "issue17_bpe")
TRAIN_SEED = 1


def model_config(name, tokenizer_dir=None):
    """The whole model config for a group: 32-mel preprocessor, the group's encoder, a CTC decoder."""
    from omegaconf import OmegaConf

    e = copy.deepcopy(GROUPS[name])
    e.update({"_target_": "nemo.collections.asr.modules.ConvASREncoder", "feat_in": FEATURES})
    bpe = name in BPE_GROUPS
    cfg = {
        "sample_rate": 16000,
        "preprocessor": {"_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor",
                         "features": FEATURES, "n_fft": 512, "dither": 0.0},
        "encoder": e,
        "decoder": {"_target_": "nemo.collections.asr.modules.ConvASRDecoder", "feat_in": e["jasper"][-1]["filters"],
                    "num_classes": -1 if bpe else len(LABELS), "vocabulary": [] if bpe else LABELS},
        "optim": {"name": "adam", "lr": 0.003},
    }
    if bpe:
        cfg["tokenizer"] = {"dir": tokenizer_dir, "type": "bpe"}
    else:
        cfg["labels"] = LABELS
    return OmegaConf.create(cfg)


def audio_batch(wav_dir):
    """The three utterances as a zero-padded (3, N) float32 batch and their lengths."""
    import soundfile as sf

    waves = [sf.read(os.path.join(wav_dir, w), dtype="float32")[0] for w in WAVS]
    lens = np.array([len(w) for w in waves], dtype=np.int64)
    batch = np.zeros((len(waves), lens.max()), dtype=np.float32)
    for i, w in enumerate(waves):
        batch[i, : len(w)] = w
    return batch, lens


def build(name, wav_dir, tokenizer_dir=None, steps=4, calib=6):
    """Seeded model of the group, `steps` Adam steps of CTC loss, then BatchNorm statistics from `calib` passes in
    training mode without gradients, left in eval mode. Uses whichever `nemo` this interpreter imports."""
    import torch

    from nemo.collections.asr.models import EncDecCTCModel, EncDecCTCModelBPE

    torch.manual_seed(0)
    cls = EncDecCTCModelBPE if name in BPE_GROUPS else EncDecCTCModel
    model = cls(cfg=model_config(name, tokenizer_dir))
    audio, lens = audio_batch(wav_dir)
    signal, length = torch.from_numpy(audio), torch.from_numpy(lens)
    if name in BPE_GROUPS:
        ids = [model.tokenizer.text_to_ids(t) for t in TEXTS]
    else:
        ids = [[LABELS.index(c) for c in t] for t in TEXTS]
    targets = torch.zeros(len(ids), max(map(len, ids)), dtype=torch.long)
    for i, t in enumerate(ids):
        targets[i, : len(t)] = torch.tensor(t)
    target_len = torch.tensor([len(t) for t in ids])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        log_probs, enc_len, _ = model(input_signal=signal, input_signal_length=length)
        enc_len = enc_len.clamp(max=log_probs.shape[1])
        loss = model.loss(log_probs=log_probs, targets=targets, input_lengths=enc_len, target_lengths=target_len)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        for _ in range(calib):
            model(input_signal=signal, input_signal_length=length)
    model.eval()
    return model


def outputs(model, wav_dir):
    """Eval-mode features, encoder outputs and log-probs of the batch, as numpy arrays."""
    import torch

    audio, lens = audio_batch(wav_dir)
    with torch.no_grad():
        feats, feat_len = model.preprocessor(input_signal=torch.from_numpy(audio), length=torch.from_numpy(lens))
        encoded, encoded_len = model.encoder(audio_signal=feats, length=feat_len)
        log_probs = model.decoder(encoder_output=encoded)
    return {"features": feats.numpy(), "features_len": feat_len.numpy(), "encoded": encoded.numpy(),
            "encoded_len": encoded_len.numpy(), "log_probs": log_probs.numpy()}


def train_mode_encoded(model, feats, feat_len):
    """The encoder's output in training mode from seed TRAIN_SEED (leaves the model in training mode)."""
    import torch

    model.encoder.train()
    torch.manual_seed(TRAIN_SEED)
    with torch.no_grad():
        encoded, _ = model.encoder(audio_signal=torch.as_tensor(feats), length=torch.as_tensor(feat_len))
    return encoded.numpy()


def main(out_dir, wav_dir, tokenizer_dir):
    import nemo
    import torch

    os.makedirs(out_dir, exist_ok=True)
    meta = {"nemo": nemo.__version__, "torch": torch.__version__, "texts": TEXTS, "wavs": WAVS, "groups": {}}
    first = None
    for name in GROUPS:
        model = build(name, wav_dir, tokenizer_dir)
        model.save_to(os.path.join(out_dir, f"{name}.nemo"))
        out = outputs(model, wav_dir)
        if first is None:
            first = out
            np.save(os.path.join(out_dir, "features.npy"), out["features"])
            np.save(os.path.join(out_dir, "features_len.npy"), out["features_len"])
        assert np.array_equal(out["features"], first["features"]), name
        arrays = {k: out[k] for k in ("encoded", "encoded_len", "log_probs")}
        if name in TRAIN_GROUPS:
            arrays["train_encoded"] = train_mode_encoded(model, out["features"], out["features_len"])
        np.savez_compressed(os.path.join(out_dir, f"{name}.npz"), **arrays)
        meta["groups"][name] = {"encoder": GROUPS[name], "encoded_len": out["encoded_len"].tolist(),
                                "bpe": name in BPE_GROUPS}
        print(name, out["encoded"].shape, out["encoded_len"].tolist(), flush=True)
    with open(os.path.join(out_dir, "groups.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else DATA, os.path.join(DATA, "wav"),
         sys.argv[2] if len(sys.argv) > 2 else "/work/shared/golden/fastconformer/tokenizer")
