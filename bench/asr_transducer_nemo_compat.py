"""Do transducer `.nemo` files written here restore in NVIDIA NeMo 3.0.0 with the same numbers and hypotheses?

    python bench/asr_transducer_nemo_compat.py --ref /tmp/nemo_ref/bin/python [--parakeet FILE]

For each class (EncDecRNNTModel with RNN-T, EncDecRNNTBPEModel with TDT, EncDecHybridRNNTCTCModel with RNN-T,
EncDecHybridRNNTCTCBPEModel with TDT; NeMo 3.0.0 cannot decode a character TDT model's timestamps, see
docs/differences.md) this package builds a seeded tiny FastConformer transducer, makes its
joint emit tokens (blank bias lowered), saves it; then this package and NeMo (`--ref` interpreter) each restore
the archive and run the FastConformer golden batch: encoder output, prediction net + joint on a fixed prefix,
greedy_batch and greedy hypotheses (token ids, frames, durations, scores), transcribe() texts and char/word/segment
timestamps (one utterance per batch: NeMo's batched TDT durations differ, see docs/differences.md), and for the
hybrids the CTC head's transcripts. One JSON line: per class the largest differences and which outputs agree.
`--parakeet FILE`: instead, a parakeet-tdt-0.6b-v2-architecture EncDecRNNTBPEModel .nemo written here (e.g.
bench/out/parakeet_tdt_0.6b_v2_untrained.nemo from bench/asr_fastconformer_speed.py --model tdt) through the same
comparison (NeMo restores it with strict keys).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FC = os.path.join(REPO, "tests", "collections", "asr", "data", "fastconformer")
LABELS = list(" abcdefghijklmnopqrstuvwxyz'")
DURATIONS = [0, 1, 2, 3, 4]
KINDS = {
    "EncDecRNNTModel": (False, False, False),
    "EncDecRNNTBPEModel": (True, True, False),
    "EncDecHybridRNNTCTCModel": (False, False, True),
    "EncDecHybridRNNTCTCBPEModel": (True, True, True),
}


def config(tdt: bool, bpe: bool, hybrid: bool) -> dict:
    cfg = {
        "sample_rate": 16000,
        "train_ds": {"manifest_filepath": None, "sample_rate": 16000, "batch_size": 4},
        "validation_ds": {"manifest_filepath": None, "sample_rate": 16000, "batch_size": 4},
        "model_defaults": {"enc_hidden": 64, "pred_hidden": 48, "joint_hidden": 48},
        "preprocessor": {"_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor", "features": 80,
                         "normalize": "per_feature", "window_size": 0.025, "window_stride": 0.01, "n_fft": 512,
                         "pad_to": 0, "dither": 1e-5},
        "encoder": {"_target_": "nemo.collections.asr.modules.ConformerEncoder", "feat_in": 80, "n_layers": 2,
                    "d_model": 64, "n_heads": 4, "subsampling": "dw_striding", "subsampling_factor": 8,
                    "subsampling_conv_channels": 32, "ff_expansion_factor": 4, "conv_kernel_size": 9,
                    "self_attention_model": "rel_pos", "xscaling": True, "untie_biases": True},
        "decoder": {"_target_": "nemo.collections.asr.modules.RNNTDecoder", "blank_as_pad": True,
                    "prednet": {"pred_hidden": 48, "pred_rnn_layers": 2, "dropout": 0.2}},
        "joint": {"_target_": "nemo.collections.asr.modules.RNNTJoint", "log_softmax": None, "fuse_loss_wer": True,
                  "fused_batch_size": 4, "jointnet": {"joint_hidden": 48, "activation": "relu", "dropout": 0.2}},
        "decoding": {"strategy": "greedy_batch", "greedy": {"max_symbols": 5}},
        "loss": {"loss_name": "default"},
    }
    if bpe:
        cfg["tokenizer"] = {"dir": os.path.join(FC, "tokenizer"), "type": "bpe"}
    else:
        cfg["labels"] = LABELS
    if tdt:
        cfg["joint"]["num_extra_outputs"] = len(DURATIONS)
        cfg["decoding"].update({"model_type": "tdt", "durations": DURATIONS})
        cfg["loss"] = {"loss_name": "tdt", "tdt_kwargs": {"durations": DURATIONS, "sigma": 0.02, "omega": 0.1,
                                                         "fastemit_lambda": 0.0, "clamp": -1.0}}
    if hybrid:
        cfg["aux_ctc"] = {"ctc_loss_weight": 0.3, "decoder": {"_target_": "nemo.collections.asr.modules.ConvASRDecoder",
                                                              "feat_in": None, "num_classes": -1,
                                                              "vocabulary": [] if bpe else LABELS},
                          "decoding": {"strategy": "greedy"}}
    return cfg


def build(cls_name: str, path: str) -> None:
    """Seeded model saved by this package, its joint pushed to emit tokens so decoding has something to do."""
    import torch
    from omegaconf import OmegaConf

    from nemo.collections.asr import models

    torch.manual_seed(0)
    model = getattr(models, cls_name)(cfg=OmegaConf.create(config(*KINDS[cls_name])))
    with torch.no_grad():
        model.joint.enc.weight.mul_(6.0)
        model.joint.joint_net[-1].bias[model.decoding.blank_id] -= 1.5
    model.save_to(path)


def _jsonable(v):
    import torch

    if isinstance(v, torch.Tensor):
        v = v.detach().cpu()
        return v.item() if v.ndim == 0 else v.tolist()
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def _hyp(h):
    return {"text": h.text, "y_sequence": _jsonable(h.y_sequence), "timestamp": _jsonable(h.timestamp),
            "token_duration": _jsonable(h.token_duration), "score": float(h.score)}


def outputs(cls_name: str, path: str, out_path: str) -> None:
    """Restore with whichever `nemo` this interpreter imports and write its numbers and hypotheses."""
    import numpy as np
    import torch
    from omegaconf import open_dict

    import nemo
    from nemo.collections.asr import models

    model = getattr(models, cls_name).restore_from(path, map_location="cpu").eval()
    x = torch.from_numpy(np.load(os.path.join(FC, "fc_input.npy")))
    x_len = torch.from_numpy(np.load(os.path.join(FC, "fc_input_len.npy")))
    prefix = torch.from_numpy(np.load(os.path.join(FC, "fc_tdt_prefix.npy")))
    prefix_len = torch.from_numpy(np.load(os.path.join(FC, "fc_tdt_prefix_len.npy")))
    files = [os.path.join(FC, "wav", f"test_00000{i}.wav") for i in (7, 8, 9)]
    out = {"nemo": nemo.__file__, "class": type(model).__name__}
    with torch.no_grad():
        feats, feat_len = model.preprocessor(input_signal=x, length=x_len)
        enc, enc_len = model.encoder(audio_signal=feats, length=feat_len)
        dec, _, _ = model.decoder(targets=prefix % model.decoder.vocab_size, target_length=prefix_len)
        joint = model.joint.joint(enc.transpose(1, 2), dec.transpose(1, 2))
        out["encoded"], out["encoded_len"], out["joint"] = enc.tolist(), enc_len.tolist(), joint.flatten()[::7].tolist()
        for strategy in ("greedy_batch", "greedy"):
            cfg = model.cfg.decoding.copy()
            with open_dict(cfg):
                cfg.strategy = strategy
            model.change_decoding_strategy(cfg, verbose=False)
            hyps = model.decoding.rnnt_decoder_predictions_tensor(enc, enc_len, return_hypotheses=True)
            out[strategy] = [_hyp(h) for h in hyps]
        out["transcribe_timestamps"] = [_hyp(h) for h in model.transcribe(files, batch_size=1, timestamps=True,
                                                                          verbose=False)]
        if hasattr(model, "ctc_decoder"):
            model.change_decoding_strategy(decoder_type="ctc", verbose=False)
            out["ctc_texts"] = [h.text for h in model.transcribe(files, batch_size=3, return_hypotheses=True,
                                                                 verbose=False)]
    with open(out_path, "w") as f:
        json.dump(out, f)


def compare(ours: dict, theirs: dict) -> dict:
    import numpy as np

    enc_diff = float(np.abs(np.array(ours["encoded"]) - np.array(theirs["encoded"])).max())
    joint_diff = float(np.abs(np.array(ours["joint"]) - np.array(theirs["joint"])).max())
    result = {"class": theirs["class"], "encoded_max_abs_diff": enc_diff, "joint_max_abs_diff": joint_diff,
              "encoded_len_equal": ours["encoded_len"] == theirs["encoded_len"]}
    for key in ("greedy_batch", "greedy", "transcribe_timestamps"):
        same = all(a["text"] == b["text"] and a["y_sequence"] == b["y_sequence"] and a["timestamp"] == b["timestamp"]
                   and (a["token_duration"] or []) == (b["token_duration"] or []) and abs(a["score"] - b["score"]) < 1e-3
                   for a, b in zip(ours[key], theirs[key])) and len(ours[key]) == len(theirs[key])
        result[f"{key}_equal"] = same
    result["tokens"] = sum(len(h["y_sequence"]) for h in ours["greedy_batch"])
    result["texts"] = [h["text"][:30] for h in theirs["greedy_batch"]]
    if "ctc_texts" in theirs:
        result["ctc_texts_equal"] = ours.get("ctc_texts") == theirs["ctc_texts"]
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ref", default="/tmp/nemo_ref/bin/python", help="Python interpreter with NVIDIA NeMo 3.0.0")
    ap.add_argument("--parakeet", help="an EncDecRNNTBPEModel .nemo of the parakeet architecture written here")
    ap.add_argument("--side", nargs=3, metavar=("CLASS", "NEMO", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.side:
        outputs(*args.side)
        return 0
    sys.path.insert(0, REPO)
    results, ok = [], True
    todo = [("EncDecRNNTBPEModel", os.path.abspath(args.parakeet))] if args.parakeet else [(c, None) for c in KINDS]
    with tempfile.TemporaryDirectory() as tmp:
        for cls_name, given in todo:
            path = given or os.path.join(tmp, f"{cls_name}.nemo")
            if given is None:
                build(cls_name, path)
            ours, theirs = os.path.join(tmp, "ours.json"), os.path.join(tmp, "theirs.json")
            outputs(cls_name, path, ours)
            env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
            env.pop("PYTHONPATH", None)
            proc = subprocess.run([args.ref, os.path.abspath(__file__), "--side", cls_name, path, theirs],
                                  cwd=tmp, env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                results.append({"class": cls_name, "error": proc.stderr[-1500:]})
                ok = False
                continue
            with open(ours) as a, open(theirs) as b:
                result = compare(json.load(a), json.load(b))
            results.append(result)
            ok = ok and result["encoded_max_abs_diff"] <= 1e-4 and result["joint_max_abs_diff"] <= 1e-4 and all(
                v for k, v in result.items() if k.endswith("_equal"))
    print(json.dumps({"bench": "asr_transducer_nemo_compat", "writer": "ours", "reader": "nemo 3.0.0", "all_equal": ok,
                      "classes": results}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
