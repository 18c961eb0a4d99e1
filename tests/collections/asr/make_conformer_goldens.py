"""Write `data/conformer_options/`: one small seeded Conformer CTC `.nemo` per group of ConformerEncoder options,
trained a few steps and BatchNorm-calibrated (training mode, no gradients) on three real utterances of different
lengths, with that padded batch's features, encoder outputs, log-probs and greedy ids; plus the state-dict listings
of the full-size example configs. Run under NVIDIA NeMo 3.0.0's interpreter to make the goldens the tests restore:

    /tmp/nemo_ref/bin/python tests/collections/asr/make_conformer_goldens.py write \
        tests/collections/asr/data/conformer_options

`check DIR` restores every archive in DIR with whichever `nemo` runs it and compares with the stored outputs;
bench/asr_conformer_nemo_compat.py writes with this package and checks under NeMo (the other direction).

NeMo 3.0.0 cannot run the 1-D subsampling types (`striding_conv1d`, `dw_striding_conv1d`): its ConvSubsampling calls
the masked conv stack without lengths (TypeError). For those groups the expected outputs run NeMo's own layers with
`conv_stack_1d` below, which applies NeMo >= 2.5's masking rule (padded frames zeroed before each conv) to the 1-D
stack; everything after the subsampling is NeMo's code.
"""

import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data", "conformer_options")
WAV_DIR = os.path.join(HERE, "data", "fastconformer", "wav")
TOKENIZER_DIR = os.path.join(HERE, "data", "fastconformer", "tokenizer")
EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(HERE))), "examples", "asr", "conf")
LABELS = list(" abcdefghijklmnopqrstuvwxyz'")
TEXTS = ["our teacher is over the park", "the child carries a little door", "seven six oh seven zero"]
WAVS = ["test_000007.wav", "test_000008.wav", "test_000009.wav"]
FEATURES = 64

BASE = dict(n_layers=2, d_model=32, n_heads=4, ff_expansion_factor=2, subsampling="dw_striding",
            subsampling_factor=4, subsampling_conv_channels=16, self_attention_model="rel_pos", xscaling=True,
            untie_biases=True, conv_kernel_size=9, conv_norm_type="batch_norm", dropout=0.1, dropout_pre_encoder=0.1,
            dropout_emb=0.0, dropout_att=0.1)

GROUPS = {
    "dw_striding_4_bpe": {},
    "dw_striding_2": dict(subsampling_factor=2),
    "dw_striding_8": dict(subsampling_factor=8),
    "striding_4": dict(subsampling="striding"),
    "striding_8_feat_out": dict(subsampling="striding", subsampling_factor=8, subsampling_conv_channels=-1,
                                feat_out=24),
    "striding_conv1d_4": dict(subsampling="striding_conv1d", subsampling_conv_channels=48),
    "dw_striding_conv1d_8": dict(subsampling="dw_striding_conv1d", subsampling_factor=8,
                                 subsampling_conv_channels=48),
    "stacking_norm_4": dict(subsampling="stacking_norm"),
    "xscaling_off_tied_biases": dict(xscaling=False, untie_biases=False),
    "layer_norm_no_bias": dict(conv_norm_type="layer_norm", use_bias=False),
    "abs_pos": dict(self_attention_model="abs_pos"),
    "rel_pos_limited_context": dict(att_context_size=[4, 2]),
    "local_attn_symmetric": dict(self_attention_model="rel_pos_local_attn", att_context_size=[5, 5]),
    "local_attn_asymmetric": dict(self_attention_model="rel_pos_local_attn", att_context_size=[6, 3]),
    "reduction_pooling": dict(n_layers=3, reduction="pooling", reduction_position=1, reduction_factor=2),
    "reduction_striding_end": dict(reduction="striding", reduction_position=-1, reduction_factor=2),
    "causal_stochastic_depth": dict(causal_downsampling=True, subsampling="striding", conv_context_size="causal",
                                    n_layers=3, stochastic_depth_drop_prob=0.3, stochastic_depth_mode="uniform",
                                    stochastic_depth_start_layer=2),
}
BPE_GROUPS = ("dw_striding_4_bpe",)
CONV1D = ("striding_conv1d", "dw_striding_conv1d")

# full-size example configs whose state-dict layout is recorded (build only): name -> (yaml, output vocabulary size;
# None = the 128-piece test tokenizer). stt_en_fastconformer_ctc_large is the FastConformer file with 1024 outputs.
FULL_SIZE = {
    "conformer_ctc_bpe": ("conformer/conformer_ctc_bpe.yaml", None),
    "fast-conformer_ctc_bpe": ("fastconformer/fast-conformer_ctc_bpe.yaml", None),
    "stt_en_fastconformer_ctc_large": ("fastconformer/fast-conformer_ctc_bpe.yaml", 1024),
}


def encoder_config(name):
    e = dict(BASE, **GROUPS[name])
    e.update({"_target_": "nemo.collections.asr.modules.ConformerEncoder", "feat_in": FEATURES})
    return e


def model_config(name, tokenizer_dir=TOKENIZER_DIR):
    """The whole model config of a group: 64-mel preprocessor, the group's encoder, a CTC head."""
    from omegaconf import OmegaConf

    bpe = name in BPE_GROUPS
    cfg = {
        "sample_rate": 16000,
        "preprocessor": {"_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor",
                         "features": FEATURES, "n_fft": 512, "dither": 0.0, "pad_to": 0},
        "encoder": encoder_config(name),
        "decoder": {"_target_": "nemo.collections.asr.modules.ConvASRDecoder", "feat_in": None,
                    "num_classes": -1 if bpe else len(LABELS), "vocabulary": [] if bpe else LABELS},
        "optim": {"name": "adam", "lr": 0.003},
    }
    if bpe:
        cfg["tokenizer"] = {"dir": tokenizer_dir, "type": "bpe"}
    else:
        cfg["labels"] = LABELS
    return OmegaConf.create(cfg)


def audio_batch(wav_dir=WAV_DIR):
    """The three utterances as a zero-padded (3, N) float32 batch and their lengths."""
    import soundfile as sf

    waves = [sf.read(os.path.join(wav_dir, w), dtype="float32")[0] for w in WAVS]
    lens = np.array([len(w) for w in waves], dtype=np.int64)
    batch = np.zeros((len(waves), lens.max()), dtype=np.float32)
    for i, w in enumerate(waves):
        batch[i, : len(w)] = w
    return batch, lens


def _running_nemo_3():
    import nemo

    return not nemo.__version__.startswith("0.")


def conv_stack_1d(sub, x, lengths):
    """A 1-D ConvSubsampling's layers on (B, T, F) with padded frames zeroed before every conv (NeMo >= 2.5's rule)."""
    import torch

    x = x.transpose(1, 2)
    cur = lengths.to(torch.float)
    for layer in sub.conv:
        if isinstance(layer, torch.nn.Conv1d):
            t = torch.arange(x.size(2))[None, :] < cur[:, None]
            x = x * t[:, None, :].to(x.dtype)
        x = layer(x)
        if isinstance(layer, torch.nn.Conv1d) and layer.stride[0] != 1:
            pads = (getattr(layer, "_left_padding", layer.padding[0])
                    + getattr(layer, "_right_padding", layer.padding[0]))
            cur = torch.div(cur + pads - layer.kernel_size[0], layer.stride[0], rounding_mode="floor") + 1
    t = torch.arange(x.size(2))[None, :] < cur[:, None]
    x = x * t[:, None, :].to(x.dtype)
    return x.transpose(1, 2), cur.to(torch.long)


def patch_nemo_conv1d(model):
    """Under NeMo 3.0.0 only: run a 1-D subsampling with `conv_stack_1d` (NeMo's own call raises TypeError)."""
    sub = getattr(model.encoder, "pre_encode", None)
    if not _running_nemo_3() or getattr(sub, "_subsampling", None) not in CONV1D:
        return
    sub.forward = lambda x, lengths: conv_stack_1d(sub, x, lengths)


def build(name, steps=4, calib=6):
    """Seeded model of the group, `steps` Adam steps of CTC loss on the batch, then BatchNorm statistics from `calib`
    training-mode passes without gradients; left in eval mode. Uses whichever `nemo` this interpreter imports."""
    import torch

    from nemo.collections.asr.models import EncDecCTCModel, EncDecCTCModelBPE

    torch.manual_seed(0)
    cls = EncDecCTCModelBPE if name in BPE_GROUPS else EncDecCTCModel
    model = cls(cfg=model_config(name))
    patch_nemo_conv1d(model)
    audio, lens = audio_batch()
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
        loss = model.loss(log_probs=log_probs, targets=targets, input_lengths=enc_len, target_lengths=target_len)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        for _ in range(calib):
            model(input_signal=signal, input_signal_length=length)
    model.eval()
    return model


def outputs(model):
    """Eval-mode features, encoder outputs, log-probs and greedy ids of the batch, as numpy arrays."""
    import torch

    audio, lens = audio_batch()
    with torch.no_grad():
        feats, feat_len = model.preprocessor(input_signal=torch.from_numpy(audio), length=torch.from_numpy(lens))
        encoded, encoded_len = model.encoder(audio_signal=feats, length=feat_len)
        log_probs, _, greedy = model(input_signal=torch.from_numpy(audio), input_signal_length=torch.from_numpy(lens))
    return {"features": feats.numpy(), "features_len": feat_len.numpy(), "encoded": encoded.numpy(),
            "encoded_len": encoded_len.numpy(), "log_probs": log_probs.numpy(), "greedy": greedy.numpy()}


def greedy_margin(log_probs, lengths):
    """Smallest top-1/top-2 log-prob gap over the valid frames (how safe the greedy comparison is)."""
    gaps = []
    for lp, n in zip(log_probs, lengths):
        top = np.sort(lp[:n], axis=-1)
        gaps.append(float((top[:, -1] - top[:, -2]).min()))
    return min(gaps)


def full_size_config(name, tokenizer_dir=TOKENIZER_DIR):
    """The model config of a full-size example (BPE with the test tokenizer, or characters with N stand-in labels)."""
    from omegaconf import OmegaConf, open_dict

    path, vocab = FULL_SIZE[name]
    cfg = OmegaConf.load(os.path.join(EXAMPLES, path))
    for ds in ("train_ds", "validation_ds", "test_ds"):
        cfg.model[ds].manifest_filepath = None
    with open_dict(cfg):
        if vocab is None:
            cfg.model.tokenizer.dir = tokenizer_dir
        else:
            del cfg.model["tokenizer"]
            cfg.model.labels = [f"<{i}>" for i in range(vocab)]
            cfg.model.decoder.vocabulary = cfg.model.labels
            cfg.model.decoder.num_classes = vocab
    return cfg.model


def full_size_listing(name, tokenizer_dir=TOKENIZER_DIR):
    """Build a full-size example config (random init) and list `key<TAB>shape<TAB>dtype` plus the parameter count."""
    import torch

    from nemo.collections.asr.models import EncDecCTCModel, EncDecCTCModelBPE

    torch.manual_seed(0)
    cls = EncDecCTCModelBPE if FULL_SIZE[name][1] is None else EncDecCTCModel
    model = cls(cfg=full_size_config(name, tokenizer_dir))
    lines = [f"{k}\t{tuple(v.shape)}\t{str(v.dtype).replace('torch.', '')}" for k, v in model.state_dict().items()]
    counts = {"params": sum(p.numel() for p in model.parameters()),
              "encoder_params": sum(p.numel() for p in model.encoder.parameters()),
              "decoder_params": sum(p.numel() for p in model.decoder.parameters()),
              "vocab_size": model.decoder.num_classes_with_blank - 1}
    return lines, counts


def write(out_dir, full_size=True):
    import nemo
    import torch

    os.makedirs(out_dir, exist_ok=True)
    meta = {"nemo": nemo.__version__, "torch": torch.__version__, "texts": TEXTS, "wavs": WAVS, "groups": {},
            "full_size": {}}
    for name in GROUPS:
        model = build(name)
        model.save_to(os.path.join(out_dir, f"{name}.nemo"))
        out = outputs(model)
        if name == next(iter(GROUPS)):
            np.save(os.path.join(out_dir, "features.npy"), out["features"])
            np.save(os.path.join(out_dir, "features_len.npy"), out["features_len"])
        assert np.array_equal(out["features"], np.load(os.path.join(out_dir, "features.npy"))), name
        np.savez_compressed(os.path.join(out_dir, f"{name}.npz"),
                            **{k: v for k, v in out.items() if not k.startswith("features")})
        meta["groups"][name] = {
            "encoder": GROUPS[name], "bpe": name in BPE_GROUPS, "encoded_shape": list(out["encoded"].shape),
            "encoded_len": out["encoded_len"].tolist(), "params": sum(p.numel() for p in model.parameters()),
            "greedy_margin": greedy_margin(out["log_probs"], out["encoded_len"]),
            "state_dict": [[k, list(v.shape)] for k, v in model.state_dict().items()],
        }
        print(name, out["encoded"].shape, out["encoded_len"].tolist(), meta["groups"][name]["params"],
              f"margin {meta['groups'][name]['greedy_margin']:.3g}", flush=True)
    for name in FULL_SIZE if full_size else ():
        lines, counts = full_size_listing(name)
        with open(os.path.join(out_dir, f"{name}_state_dict.txt"), "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        meta["full_size"][name] = dict(counts, yaml=FULL_SIZE[name][0], entries=len(lines))
        print(name, counts, flush=True)
    with open(os.path.join(out_dir, "groups.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1)


def check(archive_dir, atol=1e-4):
    """Restore every group's archive with this interpreter's `nemo`; compare outputs. Returns {name: detail}."""
    import torch

    from nemo.collections.asr.models import EncDecCTCModel, EncDecCTCModelBPE

    meta = json.load(open(os.path.join(archive_dir, "groups.json"), encoding="utf-8"))
    results = {}
    for name, info in meta["groups"].items():
        cls = EncDecCTCModelBPE if info["bpe"] else EncDecCTCModel
        archive = os.path.join(archive_dir, info.get("archive", f"{name}.nemo"))
        torch.manual_seed(123)
        model = cls.restore_from(archive, map_location="cpu")
        model.eval()
        patch_nemo_conv1d(model)
        got = outputs(model)
        want = dict(np.load(os.path.join(archive_dir, f"{name}.npz")))
        if "features" not in want:
            want["features"] = np.load(os.path.join(archive_dir, "features.npy"))
            want["features_len"] = np.load(os.path.join(archive_dir, "features_len.npy"))
        diffs = {k: float(np.abs(got[k] - want[k]).max()) for k in ("features", "encoded", "log_probs")
                 if got[k].shape == want[k].shape}
        exact = all(np.array_equal(got[k], want[k]) for k in ("features_len", "encoded_len", "greedy"))
        shapes = all(got[k].shape == want[k].shape for k in want)
        ok = shapes and exact and len(diffs) == 3 and max(diffs.values()) <= atol
        results[name] = {"ok": bool(ok), "max_abs_diff": diffs, "lengths_and_greedy_equal": bool(exact)}
    return results


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "write"
    target = sys.argv[2] if len(sys.argv) > 2 else DATA
    if mode == "write":
        write(target)
    else:
        res = check(target)
        print(json.dumps(res))
        sys.exit(0 if all(r["ok"] for r in res.values()) else 1)
