"""A briefly trained TDT golden in two stages (run by hand, never by the tests):

    OMP_NUM_THREADS=1 .venv/bin/python tests/collections/asr/make_trained_tdt_golden.py train \
        --corpus /tmp/tcorpus --work /tmp/tdt_trained
    OMP_NUM_THREADS=1 /tmp/nemo_ref/bin/python tests/collections/asr/make_trained_tdt_golden.py write \
        --corpus /tmp/tcorpus --work /tmp/tdt_trained

Stage `train` (this project): a tiny FastConformer TDT model (EncDecRNNTBPEModel, durations [0..4]) trained with
our CPU TDT loss on the espeak-ng corpus; writes its config and weights to --work. NeMo 3.0.0 cannot do this
step: its TDT losses need CUDA. Stage `write` (NVIDIA NeMo 3.0.0's interpreter): NeMo builds its model from that
config, loads the weights strictly, `save_to`s `tdt_bpe.nemo` and computes every expected output through
`make_transducer_goldens.make` on 3 held-out test-split utterances (`pick_batch`), merged into
data/transducer/transducer_expected.json under `tdt_bpe`. `--kind rnnt` (both stages, its own --work) does the
same for a plain RNN-T model (`rnnt_bpe_trained`), trained here with our RNN-T loss, and `--kind hybrid` for an
EncDecHybridRNNTCTCBPEModel (`hybrid_tdt_ctc_bpe_trained`: the TDT head plus the aux CTC head, weight 0.3).
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import make_transducer_goldens as gen  # noqa: E402

NAMES = {"tdt": "tdt_bpe", "rnnt": "rnnt_bpe_trained", "hybrid": "hybrid_tdt_ctc_bpe_trained"}
# Steps the committed goldens were trained for: plain RNN-T leaves its all-blank phase later than TDT (see the README).
STEPS = {"tdt": 500, "rnnt": 1500, "hybrid": 800}
NAME = NAMES["tdt"]


def tdt_config(tokenizer_dir: str, kind: str = "tdt") -> dict:
    """The hybrid golden's config (kind `hybrid`), its TDT head without the CTC branch (kind `tdt`) or the plain
    RNN-T golden's config (kind `rnnt`), shrunk (d_model 64) to keep the archive under 2 MB."""
    if kind in ("tdt", "hybrid"):
        cfg = gen.hybrid_config(tokenizer_dir)
        if kind == "tdt":
            del cfg["aux_ctc"]
    else:
        cfg = gen.rnnt_config(tokenizer_dir)
    cfg["model_defaults"].update({"enc_hidden": 64, "pred_hidden": 64, "joint_hidden": 64})
    cfg["encoder"].update({"d_model": 64, "n_layers": 2})
    cfg["decoder"]["prednet"]["pred_rnn_layers"] = 1
    cfg["joint"]["jointnet"]["joint_hidden"] = 64
    cfg["spec_augment"].update({"freq_width": 15, "time_width": 0.03})
    return cfg


def model_class(kind: str):
    """The model class of a kind: the hybrid TDT-CTC one for `hybrid`, the transducer one otherwise."""
    from nemo.collections.asr import models

    return models.EncDecHybridRNNTCTCBPEModel if kind == "hybrid" else models.EncDecRNNTBPEModel


def greedy_texts(model, items, refs, head: str = "rnnt"):
    """Greedy-batch texts and WER of a list of (audio, ids) items, by the transducer or (`ctc`) the aux CTC head."""
    model.eval()
    texts = []
    with torch.no_grad():
        for i in range(0, len(items), 8):
            chunk = items[i : i + 8]
            n = max(len(a) for a, _ in chunk)
            sig = torch.zeros(len(chunk), n)
            for k, (a, _) in enumerate(chunk):
                sig[k, : len(a)] = torch.from_numpy(a)
            enc, enc_len = model(input_signal=sig, input_signal_length=torch.tensor([len(a) for a, _ in chunk]))
            if head == "ctc":
                hyps = model.ctc_decoding.ctc_decoder_predictions_tensor(
                    model.ctc_decoder(encoder_output=enc), decoder_lengths=enc_len, return_hypotheses=True)
            else:
                hyps = model.decoding.rnnt_decoder_predictions_tensor(enc, enc_len, return_hypotheses=True)
            texts += [h.text for h in hyps]
    model.train()
    errs = sum(word_errors(r, t) for t, r in zip(texts, refs))
    return texts, errs / max(sum(len(r.split()) for r in refs), 1)


def refs_of(manifest: str, limit: int):
    with open(manifest) as f:
        return [json.loads(line)["text"] for line in f][:limit]


def train(args) -> int:
    from lightning.pytorch import seed_everything

    torch.set_num_threads(1)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    seed_everything(0)
    cfg = tdt_config(str(gen.FC / "tokenizer"), args.kind)
    model = model_class(args.kind)(cfg=OmegaConf.create(cfg))
    train_items = gen.load_corpus(os.path.join(args.corpus, "train_manifest.json"), model.tokenizer, 1000)
    dev_manifest = os.path.join(args.corpus, "dev_manifest.json")
    dev_items = gen.load_corpus(dev_manifest, model.tokenizer, 24)
    dev_refs = refs_of(dev_manifest, 24)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.98), weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.1)
    model.train()
    start, log = time.time(), []
    for step, batch in zip(range(args.steps), gen.batches(train_items, args.batch_size, seed=0)):
        loss = model.training_step(list(batch), step)["loss"]
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        log.append(loss.item())
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            texts, wer = greedy_texts(model, dev_items, dev_refs)
            print(json.dumps({"step": step + 1, "loss": round(float(np.mean(log[-20:])), 3), "dev_wer": round(wer, 3),
                              "s": round(time.time() - start, 1), "dev0": texts[:3]}), flush=True)
    model.eval()
    texts, wer = greedy_texts(model, dev_items, dev_refs)
    summary = {"trained_by": "this project (make_trained_tdt_golden.py train)", "steps": args.steps,
               "batch_size": args.batch_size, "optimizer": f"AdamW one-cycle max lr {args.lr}, clip 1.0",
               "train_utterances": len(train_items), "train_seconds": round(time.time() - start, 1),
               "loss_first20": round(float(np.mean(log[:20])), 3), "loss_last20": round(float(np.mean(log[-20:])), 3),
               "dev_wer_greedy_batch": round(wer, 4), "dev_examples": list(zip(dev_refs[:4], texts[:4])),
               "n_params": sum(p.numel() for p in model.parameters())}
    if args.kind == "hybrid":
        texts, wer = greedy_texts(model, dev_items, dev_refs, head="ctc")
        summary.update({"dev_wer_ctc_head": round(wer, 4), "dev_examples_ctc_head": list(zip(dev_refs[:4], texts[:4])),
                        "ctc_loss_weight": cfg["aux_ctc"]["ctc_loss_weight"]})
    (work / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(cfg)))
    torch.save(model.state_dict(), work / "weights.pt")
    (work / "train_summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary))
    return 0


def word_errors(ref: str, hyp: str) -> int:
    ref, hyp = ref.split(), hyp.split()
    d = list(range(len(hyp) + 1))
    for i, rw in enumerate(ref, 1):
        prev, d[0] = d[0], i
        for j, hw in enumerate(hyp, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (rw != hw))
    return d[len(hyp)]


def pick_batch(model, corpus: str, out: Path, tag: str = NAME):
    """The 3 consecutive held-out test utterances (voices unseen in training) that NeMo's greedy decodes with the
    lowest WER; their wavs are copied to out/<tag>_wav/ and padded into one batch."""
    import shutil

    import soundfile as sf

    manifest = os.path.join(corpus, "test_manifest.json")
    with open(manifest) as f:
        recs = [json.loads(line) for line in f]
    paths = [os.path.join(corpus, r["audio_filepath"]) for r in recs]
    with torch.no_grad():
        texts = [h.text for h in model.transcribe(paths, batch_size=8, return_hypotheses=True, verbose=False)]
    errs = [word_errors(r["text"], t) for r, t in zip(recs, texts)]
    words = [len(r["text"].split()) for r in recs]
    start = min(range(len(recs) - 2), key=lambda i: (sum(errs[i : i + 3]) / sum(words[i : i + 3]), i))
    chosen = list(range(start, start + 3))
    wav_dir = out / f"{tag}_wav"
    wav_dir.mkdir(exist_ok=True)
    audio, names = [], []
    for i in chosen:
        name = os.path.basename(paths[i])
        shutil.copyfile(paths[i], wav_dir / name)
        audio.append(sf.read(paths[i], dtype="float32")[0])
        names.append(f"{tag}_wav/{name}")
    x = np.zeros((3, max(len(a) for a in audio)), dtype=np.float32)
    for k, a in enumerate(audio):
        x[k, : len(a)] = a
    ids = [model.tokenizer.text_to_ids(recs[i]["text"])[:6] for i in chosen]
    prefix = np.zeros((3, max(len(t) for t in ids)), dtype=np.int64)
    for k, t in enumerate(ids):
        prefix[k, : len(t)] = t
    arrays = {"input": x, "input_len": np.array([len(a) for a in audio], dtype=np.int64), "prefix": prefix,
              "prefix_len": np.array([len(t) for t in ids], dtype=np.int64)}
    for key, value in arrays.items():
        np.save(out / f"{tag}_{key}.npy", value)
    facts = {"wav_files": names, "references": [recs[i]["text"] for i in chosen],
             "speakers": [recs[i].get("speaker") for i in chosen], "arrays": {k: f"{tag}_{k}.npy" for k in arrays},
             "test_split_wer_greedy": round(sum(errs) / sum(words), 4), "batch_wer_greedy":
             round(sum(errs[start : start + 3]) / sum(words[start : start + 3]), 4)}
    return dict(arrays, wavs=[str(out / n) for n in names]), facts


def write(args) -> int:
    import nemo

    torch.set_num_threads(1)
    work, out = Path(args.work), Path(args.out)
    cfg = OmegaConf.to_container(OmegaConf.load(work / "config.yaml"))
    cfg["tokenizer"]["dir"] = str(gen.FC / "tokenizer")
    weights = torch.load(work / "weights.pt", map_location="cpu", weights_only=True)
    facts = json.loads((gen.FC / "fc_expected.json").read_text())
    cls = model_class(args.kind)
    probe = cls(cfg=OmegaConf.create(cfg))
    probe.load_state_dict(weights, strict=True)
    name = NAMES[args.kind]
    batch, batch_facts = pick_batch(probe.eval(), args.corpus, out, name)
    del probe
    rec = gen.make(name, cls, cfg, None, out, facts, weights=weights, batch=batch)
    rec["batch"] = batch_facts
    rec["summary"]["training"] = json.loads((work / "train_summary.json").read_text())
    rec["summary"]["training"]["kind"] = args.kind
    rec["summary"]["written_by"] = f"NVIDIA NeMo {nemo.__version__} (make_trained_tdt_golden.py write)"
    path = out / "transducer_expected.json"
    expected = json.loads(path.read_text())
    expected[name] = rec
    path.write_text(json.dumps(expected, indent=1))
    print(json.dumps({"texts": [h["text"] for h in rec["transcribe_hyps"]], "summary": rec["summary"]})[:3000])
    return 0


def training_grads(args) -> int:
    """NeMo's RNN-T training-path loss (encoder -> prediction net on the references -> joint -> `self.loss`,
    `mean_batch`) and its parameter gradients on the golden batch, eval mode (no dropout/SpecAugment), recorded
    under `<name>.training_step`: our loss and gradients are checked against these. RNN-T only: NeMo 3.0.0 has no
    CPU TDT loss."""
    name = NAMES[args.kind]
    path = Path(args.out) / "transducer_expected.json"
    expected = json.loads(path.read_text())
    rec = expected[name]
    model = model_class(args.kind).restore_from(str(Path(args.out) / rec["archive"]), map_location="cpu").eval()
    x = torch.from_numpy(np.load(Path(args.out) / rec["batch"]["arrays"]["input"]))
    x_len = torch.from_numpy(np.load(Path(args.out) / rec["batch"]["arrays"]["input_len"]))
    ids = [model.tokenizer.text_to_ids(r) for r in rec["batch"]["references"]]
    tgt = torch.zeros(len(ids), max(len(t) for t in ids), dtype=torch.long)
    for k, t in enumerate(ids):
        tgt[k, : len(t)] = torch.tensor(t)
    tgt_len = torch.tensor([len(t) for t in ids])
    enc, enc_len = model.forward(input_signal=x, input_signal_length=x_len)
    dec, dec_len, _ = model.decoder(targets=tgt, target_length=tgt_len)
    joint = model.joint(encoder_outputs=enc, decoder_outputs=dec)
    loss = model.loss(log_probs=joint, targets=tgt, input_lengths=enc_len, target_lengths=dec_len)
    loss.backward()
    params = dict(model.named_parameters())
    rec["training_step"] = {
        "what": "eval-mode loss and parameter gradients through NeMo's training path on the golden batch",
        "loss_name": model.cfg.loss.loss_name, "reduction": model.cfg.get("rnnt_reduction", "mean_batch"),
        "targets": tgt.tolist(), "target_lengths": tgt_len.tolist(), "loss": float(loss),
        "grad_norms": {k: float(p.grad.norm()) for k, p in params.items()},
        "grad_sums": {k: float(p.grad.sum()) for k, p in params.items()},
        "joint_output_bias_grad": params["joint.joint_net.2.bias"].grad.tolist()}
    path.write_text(json.dumps(expected, indent=1))
    print(json.dumps({"loss": float(loss), "decoder_grad_norm": float(sum(params[k].grad.norm() ** 2 for k in params
                                                                          if k.startswith("decoder.")) ** 0.5)}))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stage", choices=["train", "write", "grads"], help="grads: NeMo's training-path loss and "
                    "gradients on a written RNN-T golden (NeMo's interpreter)")
    ap.add_argument("--kind", choices=sorted(NAMES), default="tdt",
                    help="TDT (tdt_bpe), plain RNN-T (rnnt_bpe_trained) or hybrid TDT-CTC (hybrid_tdt_ctc_bpe_trained)")
    ap.add_argument("--work", required=True, help="folder for the trained config and weights")
    ap.add_argument("--corpus", help="train: folder made by python -m nemo.collections.asr.data.synth")
    ap.add_argument("--out", default=str(gen.HERE / "data" / "transducer"))
    ap.add_argument("--steps", type=int, help=f"training steps (default per kind: {STEPS})")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--eval-every", type=int, default=100)
    args = ap.parse_args()
    if not args.corpus and args.stage != "grads":
        ap.error("--corpus is needed (train: its train/dev splits; write: its held-out test split)")
    args.steps = args.steps or STEPS[args.kind]
    return {"train": train, "write": write, "grads": training_grads}[args.stage](args)


if __name__ == "__main__":
    sys.exit(main())
