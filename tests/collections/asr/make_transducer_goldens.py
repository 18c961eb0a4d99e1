"""Write the transducer golden files with NVIDIA NeMo 3.0.0 (run with NeMo's interpreter, never by the tests):

    /tmp/nemo_ref/bin/python tests/collections/asr/make_transducer_goldens.py --corpus /tmp/tcorpus

Two small seeded models through NeMo's public API, each saved as a `.nemo` with the outputs NeMo computes:
- `rnnt_bpe`: EncDecRNNTBPEModel, plain RNN-T (loss `warprnnt_numba`), max_symbols 3;
- `hybrid_tdt_ctc_bpe`: EncDecHybridRNNTCTCBPEModel with TDT durations [0, 1, 2, 3, 4], max_symbols 4, aux CTC head.
Neither is trained: NeMo 3.0.0's TDT losses need CUDA, and 20 CPU steps of RNN-T training only teach a constant
blank. Seeded init, BatchNorm statistics calibrated by training-mode encoder passes (no_grad) over the espeak-ng
corpus given by --corpus, then `shape_joint` makes the joint decide by the audio (scaled encoder projection,
output biases centred on the golden frames and offset on a grid) so that greedy decoding of the golden batch
has frames with several symbols, TDT durations > 1 and blanks, with the widest top-1/top-2 margins on the grid.
Inputs are the FastConformer golden batch (../fastconformer/fc_input.npy and its wavs).
"""

import argparse
import copy
import itertools
import json
import os
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from omegaconf import OmegaConf, open_dict

HERE = Path(__file__).resolve().parent
FC = HERE / "data" / "fastconformer"


def base_config(tokenizer_dir: str) -> dict:
    """A small FastConformer transducer config (NeMo's layout)."""
    return {
        "sample_rate": 16000, "compute_eval_loss": False, "log_prediction": False, "skip_nan_grad": False,
        "model_defaults": {"enc_hidden": 96, "pred_hidden": 64, "joint_hidden": 80},
        "train_ds": {"manifest_filepath": None, "sample_rate": 16000, "batch_size": 8, "shuffle": True},
        "validation_ds": {"manifest_filepath": None, "sample_rate": 16000, "batch_size": 8, "shuffle": False},
        "tokenizer": {"dir": tokenizer_dir, "type": "bpe"},
        "preprocessor": {"_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor",
                         "sample_rate": 16000, "normalize": "per_feature", "window_size": 0.025,
                         "window_stride": 0.01, "window": "hann", "features": 80, "n_fft": 512, "log": True,
                         "frame_splicing": 1, "dither": 1e-5, "pad_to": 0, "pad_value": 0.0},
        "spec_augment": {"_target_": "nemo.collections.asr.modules.SpectrogramAugmentation", "freq_masks": 2,
                         "time_masks": 2, "freq_width": 27, "time_width": 0.05},
        "encoder": {"_target_": "nemo.collections.asr.modules.ConformerEncoder", "feat_in": 80, "feat_out": -1,
                    "n_layers": 2, "d_model": 96, "subsampling": "dw_striding", "subsampling_factor": 8,
                    "subsampling_conv_channels": 64, "ff_expansion_factor": 4, "self_attention_model": "rel_pos",
                    "n_heads": 4, "att_context_size": [-1, -1], "xscaling": True, "untie_biases": True,
                    "pos_emb_max_len": 5000, "conv_kernel_size": 9, "conv_norm_type": "batch_norm",
                    "dropout": 0.1, "dropout_pre_encoder": 0.1, "dropout_emb": 0.0, "dropout_att": 0.1},
        "decoder": {"_target_": "nemo.collections.asr.modules.RNNTDecoder", "normalization_mode": None,
                    "random_state_sampling": False, "blank_as_pad": True,
                    "prednet": {"pred_hidden": 64, "pred_rnn_layers": 1, "t_max": None, "dropout": 0.2}},
        "joint": {"_target_": "nemo.collections.asr.modules.RNNTJoint", "log_softmax": None,
                  "preserve_memory": False, "fuse_loss_wer": False, "fused_batch_size": 4,
                  "jointnet": {"joint_hidden": 80, "activation": "relu", "dropout": 0.2}},
        "decoding": {"strategy": "greedy_batch", "greedy": {"max_symbols": 3}},
        "optim": {"name": "adamw", "lr": 1e-3, "betas": [0.9, 0.98], "weight_decay": 1e-3},
    }


def rnnt_config(tokenizer_dir: str) -> dict:
    cfg = base_config(tokenizer_dir)
    cfg["loss"] = {"loss_name": "warprnnt_numba", "warprnnt_numba_kwargs": {"fastemit_lambda": 0.0, "clamp": -1.0}}
    return cfg


def hybrid_config(tokenizer_dir: str) -> dict:
    cfg = base_config(tokenizer_dir)
    durations = [0, 1, 2, 3, 4]
    cfg["model_defaults"]["tdt_durations"] = durations
    cfg["model_defaults"]["num_tdt_durations"] = len(durations)
    cfg["decoder"]["prednet"]["pred_rnn_layers"] = 2
    cfg["joint"]["num_extra_outputs"] = len(durations)
    cfg["decoding"] = {"strategy": "greedy_batch", "model_type": "tdt", "durations": durations,
                       "greedy": {"max_symbols": 4}}
    cfg["loss"] = {"loss_name": "tdt", "tdt_kwargs": {"fastemit_lambda": 0.0, "clamp": -1.0, "durations": durations,
                                                     "sigma": 0.02, "omega": 0.1}}
    cfg["aux_ctc"] = {"ctc_loss_weight": 0.3, "use_cer": False, "ctc_reduction": "mean_batch",
                      "decoder": {"_target_": "nemo.collections.asr.modules.ConvASRDecoder", "feat_in": None,
                                  "num_classes": -1, "vocabulary": []},
                      "decoding": {"strategy": "greedy_batch"}}
    return cfg


def load_corpus(manifest: str, tokenizer, limit: int):
    base = os.path.dirname(os.path.abspath(manifest))
    items = []
    with open(manifest) as f:
        for line in f:
            rec = json.loads(line)
            path = rec["audio_filepath"]
            path = path if os.path.isabs(path) else os.path.join(base, path)
            audio, _ = sf.read(path, dtype="float32")
            items.append((audio, tokenizer.text_to_ids(rec["text"])))
            if len(items) >= limit:
                break
    return items


def batches(items, batch_size: int, seed: int):
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(items))
        for i in range(0, len(order) - batch_size + 1, batch_size):
            chunk = [items[j] for j in order[i : i + batch_size]]
            n = max(len(a) for a, _ in chunk)
            u = max(len(t) for _, t in chunk)
            sig = torch.zeros(len(chunk), n)
            tgt = torch.zeros(len(chunk), u, dtype=torch.long)
            for k, (a, t) in enumerate(chunk):
                sig[k, : len(a)] = torch.from_numpy(a)
                tgt[k, : len(t)] = torch.tensor(t)
            yield sig, torch.tensor([len(a) for a, _ in chunk]), tgt, torch.tensor([len(t) for _, t in chunk])


def calibrate_batchnorm(model, items, n_batches: int):
    """Training-mode encoder passes under no_grad: BatchNorm running statistics from real audio."""
    model.train()
    with torch.no_grad():
        for _, (sig, sig_len, _, _) in zip(range(n_batches), batches(items, 8, seed=1)):
            feats, feat_len = model.preprocessor(input_signal=sig, length=sig_len)
            model.encoder(audio_signal=feats, length=feat_len)
    model.eval()


def replay_margins(model, enc, enc_len, durations, max_symbols):
    """Per-utterance greedy replay on NeMo's joint: smallest top-1/top-2 gaps (token, duration) and path stats."""
    blank = model.decoding.blank_id
    n_dur = len(durations) if durations else 0
    token_gap, dur_gap = float("inf"), float("inf")
    stats = {"multi_symbol_frames": 0, "durations_gt1": 0, "blanks": 0, "tokens": 0}
    with torch.no_grad():
        for b in range(enc.shape[0]):
            x = enc[b : b + 1].transpose(1, 2)
            state, label, t, per_frame = None, None, 0, {}
            steps = 0
            while t < int(enc_len[b]) and steps < 2000:
                steps += 1
                y = None if label is None else torch.tensor([[label]])
                g, new_state = model.decoder.predict(y, state, add_sos=False, batch_size=1)
                logits = model.joint.joint(x[:, t : t + 1], g)[0, 0, 0]
                tok = logits[: logits.shape[0] - n_dur]
                top = torch.topk(tok, 2).values
                token_gap = min(token_gap, float(top[0] - top[1]))
                k = int(tok.argmax())
                if n_dur:
                    dtop = torch.topk(logits[-n_dur:], 2).values
                    dur_gap = min(dur_gap, float(dtop[0] - dtop[1]))
                    d = durations[int(logits[-n_dur:].argmax())]
                else:
                    d = 1 if k == blank else 0
                if k == blank:
                    stats["blanks"] += 1
                    d = max(d, 1)
                else:
                    stats["tokens"] += 1
                    per_frame[t] = per_frame.get(t, 0) + 1
                    stats["durations_gt1"] += int(d > 1)
                    label, state = k, new_state
                    if per_frame[t] >= max_symbols and d == 0:
                        d = 1
                t += d
            stats["multi_symbol_frames"] += sum(1 for c in per_frame.values() if c >= 2)
    return token_gap, dur_gap, stats


def shape_joint(model, enc, enc_len, durations, max_symbols):
    """Make an untrained joint decide by the audio: scale its encoder projection by k, centre every output
    bias on the median logit over the golden frames (after SOS), then offset blank / duration-0 / duration-2
    biases. Grid search; keeps the point meeting the goals with the widest top-1/top-2 margins."""
    joint = model.joint
    last = joint.joint_net[-1]
    enc_w, bias0 = joint.enc.weight.detach().clone(), last.bias.detach().clone()
    blank = model.decoding.blank_id
    n_dur = len(durations)

    def set_point(k, b, d0, d2):
        with torch.no_grad():
            joint.enc.weight.copy_(enc_w * k)
            last.bias.copy_(bias0)
            g0, _ = model.decoder.predict(None, None, add_sos=False, batch_size=1)
            logits = torch.cat([joint.joint(enc[i : i + 1, :, : int(enc_len[i])].transpose(1, 2), g0)[0, :, 0]
                                for i in range(enc.shape[0])])
            last.bias.sub_(logits.median(0).values)
            unit = k / 4
            last.bias[blank] += b * unit
            if n_dur:
                last.bias[blank + 1] += d0 * unit
                last.bias[blank + 3] += d2 * unit

    best = None
    blanks = (0.3, 0.4, 0.5, 0.6, 0.7)
    dur_offsets = (0.0, 0.25, 0.5) if n_dur else (0.0,)
    for k, b, d0, d2 in itertools.product((4.0, 6.0, 10.0), blanks, dur_offsets, dur_offsets):
        set_point(k, b, d0, d2)
        token_gap, dur_gap, stats = replay_margins(model, enc, enc_len, durations, max_symbols)
        ok = stats["multi_symbol_frames"] > 0 and stats["blanks"] > 0 and stats["tokens"] >= 8
        if n_dur:
            ok = ok and stats["durations_gt1"] > 0
        margin = min(token_gap, dur_gap if n_dur else float("inf"))
        if ok and margin >= 2e-3 and (best is None or margin > best[0]):
            best = (margin, (k, b, d0, d2), token_gap, dur_gap, stats)
    if best is None:
        raise SystemExit("no point on the grid gives multi-symbol frames, blanks (and durations > 1) with margins")
    set_point(*best[1])
    return {"encoder_projection_scale": best[1][0], "blank_offset": best[1][1], "duration0_offset": best[1][2],
            "duration2_offset": best[1][3], "min_token_gap": best[2], "min_duration_gap": best[3] if n_dur else None,
            "path": best[4]}


def jsonable(v):
    if isinstance(v, torch.Tensor):
        v = v.detach().cpu()
        return v.item() if v.ndim == 0 else v.tolist()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    return v


def hyp_record(h):
    ys = h.y_sequence
    if isinstance(ys, torch.Tensor) and ys.is_floating_point():
        y = {"float_shape": list(ys.shape)}
    else:
        y = [int(i) for i in jsonable(ys)]
    return {"text": h.text, "y_sequence": y, "score": float(h.score), "timestamp": jsonable(h.timestamp),
            "token_duration": jsonable(h.token_duration), "length": jsonable(h.length)}


def decode(model, enc, enc_len, strategy: str, timestamps: bool, batch_of_one: bool = False):
    cfg = copy.deepcopy(model.cfg.decoding)
    with open_dict(cfg):
        cfg.strategy = strategy
        cfg.compute_timestamps = timestamps
    model.change_decoding_strategy(cfg, verbose=False)
    with torch.no_grad():
        if batch_of_one:
            hyps = [model.decoding.rnnt_decoder_predictions_tensor(enc[b : b + 1, :, : int(enc_len[b])],
                                                                   enc_len[b : b + 1], return_hypotheses=True)[0]
                    for b in range(enc.shape[0])]
        else:
            hyps = model.decoding.rnnt_decoder_predictions_tensor(enc, enc_len, return_hypotheses=True)
    return [hyp_record(h) for h in hyps]


def state_dict_rows(model):
    return [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in model.state_dict().items()]


def make(name: str, cls, cfg: dict, corpus_items, out: Path, facts: dict, weights=None, batch=None):
    """Build `cls` from `cfg`, then either load trained `weights` strictly or calibrate and shape the seeded
    init; save the archive and every expected output on `batch` (input, input_len, prefix, prefix_len arrays
    and wav paths; default the FastConformer golden batch)."""
    from lightning.pytorch import seed_everything

    seed_everything(0)
    torch.manual_seed(0)
    model = cls(cfg=OmegaConf.create(cfg))
    if weights is not None:
        model.load_state_dict(weights, strict=True)
        summary = {"weights": "trained elsewhere, loaded with strict=True"}
    else:
        calibrate_batchnorm(model, corpus_items, 20)
        summary = {"batchnorm_calibration_batches": 20}
    model.eval()
    if batch is None:
        batch = {k: np.load(FC / f"fc_{k.replace('prefix', 'tdt_prefix')}.npy")
                 for k in ("input", "input_len", "prefix", "prefix_len")}
        batch["wavs"] = [str(FC / n) for n in facts["wav_files"]]
    x = torch.from_numpy(batch["input"])
    x_len = torch.from_numpy(batch["input_len"])
    with torch.no_grad():
        feats, feat_len = model.preprocessor(input_signal=x, length=x_len)
        enc, enc_len = model.encoder(audio_signal=feats, length=feat_len)
    durations = list(cfg["decoding"].get("durations") or [])
    max_symbols = cfg["decoding"]["greedy"]["max_symbols"]
    if weights is None:
        summary["joint_shaping"] = shape_joint(model, enc, enc_len, durations, max_symbols)
    model.save_to(str(out / f"{name}.nemo"))
    np.save(out / f"{name}_encoded.npy", enc.numpy())
    np.save(out / f"{name}_encoded_len.npy", enc_len.numpy())
    prefix = torch.from_numpy(batch["prefix"])
    prefix_len = torch.from_numpy(batch["prefix_len"])
    with torch.no_grad():
        dec, _, _ = model.decoder(targets=prefix, target_length=prefix_len)
        joint = model.joint.joint(enc.transpose(1, 2), dec.transpose(1, 2))
    np.save(out / f"{name}_decoder_out.npy", dec.numpy())
    np.save(out / f"{name}_joint.npy", joint.numpy())
    rec = {"class": cls.__name__, "archive": f"{name}.nemo", "summary": summary, "state_dict": state_dict_rows(model),
           "n_params": sum(p.numel() for p in model.parameters()), "blank_id": int(model.decoding.blank_id),
           "durations": durations, "max_symbols": max_symbols}
    rec["greedy_batch_hyps"] = decode(model, enc, enc_len, "greedy_batch", False)
    rec["greedy_hyps"] = decode(model, enc, enc_len, "greedy", False)
    rec["greedy_batch_timestamps_hyps"] = decode(model, enc, enc_len, "greedy_batch", True)
    rec["greedy_batch_single_timestamps_hyps"] = decode(model, enc, enc_len, "greedy_batch", True, batch_of_one=True)
    rec["greedy_timestamps_hyps"] = decode(model, enc, enc_len, "greedy", True)
    files = batch["wavs"]
    fresh = cls.restore_from(str(out / f"{name}.nemo"), map_location="cpu")
    fresh.eval()
    with torch.no_grad():
        rec["transcribe_hyps"] = [hyp_record(h) for h in fresh.transcribe(files, batch_size=3, return_hypotheses=True,
                                                                           verbose=False)]
        fresh = cls.restore_from(str(out / f"{name}.nemo"), map_location="cpu")
        fresh.eval()
        rec["transcribe_timestamps_hyps"] = [hyp_record(h) for h in fresh.transcribe(files, batch_size=3,
                                                                                      timestamps=True, verbose=False)]
        if hasattr(fresh, "ctc_decoder"):
            fresh = cls.restore_from(str(out / f"{name}.nemo"), map_location="cpu")
            fresh.eval()
            logp = fresh.ctc_decoder(encoder_output=enc)
            np.save(out / f"{name}_ctc_logprobs.npy", logp.numpy())
            fresh.change_decoding_strategy(decoder_type="ctc", verbose=False)
            rec["ctc_transcribe_hyps"] = [
                {"text": h.text} for h in fresh.transcribe(files, batch_size=3, return_hypotheses=True, verbose=False)]
    (out / f"{name}_config.yaml").write_text(OmegaConf.to_yaml(model.cfg))
    return rec


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True, help="folder made by python -m nemo.collections.asr.data.synth")
    ap.add_argument("--out", default=str(HERE / "data" / "transducer"))
    args = ap.parse_args()
    import nemo
    from nemo.collections.asr.models import EncDecHybridRNNTCTCBPEModel, EncDecRNNTBPEModel

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    facts = json.loads((FC / "fc_expected.json").read_text())
    tokenizer_dir = str(FC / "tokenizer")
    probe = EncDecRNNTBPEModel(cfg=OmegaConf.create(rnnt_config(tokenizer_dir)))
    items = load_corpus(os.path.join(args.corpus, "train_manifest.json"), probe.tokenizer, 160)
    del probe
    expected = {"versions": {"nemo": nemo.__version__, "torch": torch.__version__, "python": sys.version.split()[0]},
                "wav_files": facts["wav_files"], "corpus": os.path.abspath(args.corpus)}
    expected["rnnt_bpe"] = make("rnnt_bpe", EncDecRNNTBPEModel, rnnt_config(tokenizer_dir), items, out, facts)
    expected["hybrid_tdt_ctc_bpe"] = make("hybrid_tdt_ctc_bpe", EncDecHybridRNNTCTCBPEModel,
                                          hybrid_config(tokenizer_dir), items, out, facts)
    (out / "transducer_expected.json").write_text(json.dumps(expected, indent=1))
    print(json.dumps({k: v.get("summary") for k, v in expected.items() if isinstance(v, dict) and "summary" in v})[:3000])
    return 0


if __name__ == "__main__":
    sys.exit(main())
