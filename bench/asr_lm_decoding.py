"""CTC decoding quality and speed with n-gram LMs: greedy vs beam vs beam + 3-gram LM, ours and NVIDIA NeMo 3.0.0's.

    .venv/bin/python bench/asr_lm_decoding.py --ref /tmp/nemo_ref/bin/python [--out bench/out/lm]

1. An espeak-ng corpus: train/dev with 60 voices, test with 24 held-out voices (the en-us-nyc accent and the
   +m5/+f4 variants of the others) and texts of another seed.
2. A briefly trained CTC model: the `make demo` QuartzNet recipe, trained through the example script on one thread
   for about 7 minutes (`--train-budget`), reused on later runs.
3. A token-level 3-gram LM from the training transcripts: scripts/asr_language_modeling/ngram_lm/train_kenlm.py.
4. Both libraries decode the same log-probs (computed once by our model) with `CTCDecoding`: greedy_batch,
   beam_batch (beam 8) without LM and beam_batch + the ARPA file through `beam.ngram_lm_model`; each library's
   `ngram_lm_alpha` / `beam_beta` are picked on the dev set from the same grid. Speed: beam-8 + LM decoding of
   the test set in batches of 16 on one thread (best of 3), decoding only.
5. Phrase boosting (ours): 12 key nouns boosted (beam 8, no LM, `boosting_tree_alpha` picked on dev); their
   recall on the test set and the WER, against greedy and plain beam.
Prints one JSON line (WERs, texts side by side in --out/texts.json, throughputs, key-word recall).
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HELD_OUT_ACCENTS = ("en-us-nyc",)
HELD_OUT_VARIANTS = ("+m5", "+f4")
ALPHAS = (0.3, 0.5, 0.8, 1.0)
BETAS = (0.0, 0.5, 1.0, 1.5, 2.0)
BEAM = 8
BATCH = 16


def wer(hyps, refs):
    """Word error rate in percent (Levenshtein over words)."""
    errors = words = 0
    for h, r in zip(hyps, refs):
        h, r = h.split(), r.split()
        prev = list(range(len(r) + 1))
        for i, hw in enumerate(h, 1):
            cur = [i] + [0] * len(r)
            for j, rw in enumerate(r, 1):
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (hw != rw))
            prev = cur
        errors += prev[-1]
        words += len(r)
    return 100.0 * errors / max(words, 1)


def decode(logp, lengths, labels, cfg, batch=BATCH):
    """Texts and decoding seconds with whichever `nemo` this interpreter imports."""
    import torch
    from omegaconf import OmegaConf

    from nemo.collections.asr.parts.submodules.ctc_decoding import CTCDecoding, CTCDecodingConfig

    decoding = CTCDecoding(OmegaConf.merge(OmegaConf.structured(CTCDecodingConfig()), cfg), vocabulary=list(labels))
    texts, seconds = [], 0.0
    with torch.inference_mode():
        for i in range(0, len(lengths), batch):
            n = torch.from_numpy(lengths[i:i + batch])
            x = torch.from_numpy(logp[i:i + batch, : int(n.max())])
            start = time.perf_counter()
            hyps = decoding.ctc_decoder_predictions_tensor(x, decoder_lengths=n)
            seconds += time.perf_counter() - start
            texts.extend(h if isinstance(h, str) else h.text for h in hyps)
    return texts, seconds


def configs(arpa):
    """Every decoding config of the comparison, by name."""
    out = {"greedy": {"strategy": "greedy_batch"},
           "beam": {"strategy": "beam_batch", "beam": {"beam_size": BEAM, "beam_beta": 0.0}}}
    for a in ALPHAS:
        for b in BETAS:
            out[f"lm_a{a}_b{b}"] = {"strategy": "beam_batch", "beam": {
                "beam_size": BEAM, "ngram_lm_model": arpa, "ngram_lm_alpha": a, "beam_beta": b}}
    return out


KEY_WORDS = ("ball", "box", "car", "house", "book", "hat", "cup", "door", "chair", "window", "letter", "bottle")
BOOST_ALPHAS = (0.5, 1.0, 2.0)


def phrase_recall(hyps, refs, phrases=KEY_WORDS):
    """Share of the key words spoken in `refs` that the hypotheses contain (per utterance, counted)."""
    found = total = 0
    for h, r in zip(hyps, refs):
        hw, rw = h.split(), r.split()
        for p in phrases:
            n = rw.count(p)
            total += n
            found += min(n, hw.count(p))
    return 100.0 * found / max(total, 1)


def boost_side(data_dir, out_json):
    """Ours only (NeMo's boosting tree needs a subword tokenizer): key-word recall and WER with phrase boosting."""
    import numpy as np
    import torch

    torch.set_num_threads(1)
    arrays = {s: np.load(os.path.join(data_dir, f"logprobs_{s}.npz")) for s in ("dev", "test")}
    labels = [str(x) for x in arrays["dev"]["labels"]]
    base = {"strategy": "beam_batch", "beam": {"beam_size": BEAM, "beam_beta": 0.0}}
    cfgs = {"greedy": {"strategy": "greedy_batch"}, "beam": base}
    for alpha in BOOST_ALPHAS:
        cfgs[f"boost_{alpha}"] = {"strategy": "beam_batch", "beam": {
            "beam_size": BEAM, "beam_beta": 0.0, "boosting_tree_alpha": alpha,
            "boosting_tree": {"key_phrases_list": list(KEY_WORDS), "context_score": 1.0, "depth_scaling": 2.0}}}
    out = {}
    for split in ("dev", "test"):
        a = arrays[split]
        refs = [str(r) for r in a["refs"]]
        for name, cfg in cfgs.items():
            texts, _ = decode(a["logp"], a["lengths"], labels, cfg)
            out[f"{split}_{name}"] = {"recall": phrase_recall(texts, refs), "wer": wer(texts, refs)}
    best = max((n for n in cfgs if n.startswith("boost")), key=lambda n: out[f"dev_{n}"]["recall"] - out[f"dev_{n}"]["wer"])
    result = {"best": best, **{k: out[f"test_{k}"] for k in ("greedy", "beam")}, "boost": out[f"test_{best}"]}
    with open(out_json, "w", encoding="utf-8") as f:
        json.dump(result, f)


def time_side(data_dir, best_lm, out_json):
    """Seconds to decode the test set with beam 8 without and with the LM (config `best_lm`)."""
    import numpy as np
    import torch

    torch.set_num_threads(1)
    t = np.load(os.path.join(data_dir, "logprobs_test.npz"))
    labels = [str(x) for x in t["labels"]]
    cfgs = configs(os.path.join(data_dir, "lm3.arpa"))
    out = {}
    for key, name in (("beam", "beam"), ("lm", best_lm)):
        decode(t["logp"][:BATCH], t["lengths"][:BATCH], labels, cfgs[name])  # warm-up (LM tables, caches)
        out[key] = decode(t["logp"], t["lengths"], labels, cfgs[name])[1]
    with open(out_json, "w", encoding="utf-8") as f:
        json.dump(out, f)


def run_side(data_dir, out_json):
    """Decode dev and test with every config; the LM grid is scored on dev, the best config run on test."""
    import numpy as np
    import torch

    import nemo

    torch.set_num_threads(1)
    arrays = {s: np.load(os.path.join(data_dir, f"logprobs_{s}.npz")) for s in ("dev", "test")}
    labels = [str(x) for x in arrays["dev"]["labels"]]
    cfgs = configs(os.path.join(data_dir, "lm3.arpa"))
    result = {"nemo_file": nemo.__file__, "dev": {}, "test": {}}
    for name, cfg in cfgs.items():
        a = arrays["dev"]
        texts, _ = decode(a["logp"], a["lengths"], labels, cfg)
        result["dev"][name] = wer(texts, [str(r) for r in a["refs"]])
    best_lm = min((n for n in cfgs if n.startswith("lm_")), key=lambda n: result["dev"][n])
    result["best_lm"] = best_lm
    t = arrays["test"]
    refs = [str(r) for r in t["refs"]]
    result["texts"] = {}
    for name in ("greedy", "beam", best_lm):
        texts, _ = decode(t["logp"], t["lengths"], labels, cfgs[name])
        key = "lm" if name == best_lm else name
        result["test"][key] = wer(texts, refs)
        result["texts"][key] = texts
    with open(out_json, "w", encoding="utf-8") as f:
        json.dump(result, f)


def voices():
    from nemo.collections.asr.data.synth.corpus import DEFAULT_VOICES

    held = [v for v in DEFAULT_VOICES if v.startswith(HELD_OUT_ACCENTS) and v.split("+")[0] in HELD_OUT_ACCENTS
            or any(v.endswith(x) for x in HELD_OUT_VARIANTS)]
    return [v for v in DEFAULT_VOICES if v not in held], held


def prepare(out, budget):
    """Corpus, trained model, log-probs and LM under `out` (each reused when present)."""
    import numpy as np
    import torch

    from nemo.collections.asr.data.synth import synthesize_corpus

    train_voices, test_voices = voices()
    seen = synthesize_corpus(os.path.join(out, "corpus_seen"), 1200, 150, 0, seed=0, voices=train_voices)
    held = synthesize_corpus(os.path.join(out, "corpus_heldout"), 0, 0, 200, seed=1, voices=test_voices)
    model_path = os.path.join(out, "quartznet_demo.nemo")
    info_path = os.path.join(out, "train.json")
    if not os.path.exists(model_path):
        spec = importlib.util.spec_from_file_location("demo", os.path.join(REPO, "examples", "demo.py"))
        demo = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(demo)
        config_file = os.path.join(REPO, "examples", "asr", demo.CONFIG_DIR, "quartznet_demo.yaml")
        epochs = demo.plan_epochs(config_file, seen, 1, budget_s=budget)
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=REPO)
        trained, seconds = demo.train(out, seen, env, epochs, "quartznet_demo")
        os.replace(trained, model_path)
        with open(info_path, "w") as f:
            json.dump({"epochs": epochs, "train_seconds": seconds}, f)
    from nemo.collections.asr.models import EncDecCTCModel

    model = EncDecCTCModel.restore_from(model_path, map_location="cpu").eval()
    labels = list(model.decoder.vocabulary)
    for split, manifest in (("dev", seen["dev"]), ("test", held["test"])):
        path = os.path.join(out, f"logprobs_{split}.npz")
        if os.path.exists(path):
            continue
        with open(manifest) as f:
            rows = [json.loads(line) for line in f]
        base = os.path.dirname(manifest)
        files = [os.path.join(base, r["audio_filepath"]) for r in rows]
        hyps = model.transcribe(files, batch_size=16, return_hypotheses=True, verbose=False)
        logits = [h.alignments[0] if isinstance(h.alignments, tuple) else h.alignments for h in hyps]
        if any(x is None for x in logits):
            raise RuntimeError("transcribe did not return log-probs")
        tmax = max(x.shape[0] for x in logits)
        logp = np.full((len(logits), tmax, len(labels) + 1), -1e4, dtype=np.float32)
        for i, x in enumerate(logits):
            logp[i, : x.shape[0]] = x.float().numpy()
        np.savez(path, logp=logp, lengths=np.array([x.shape[0] for x in logits]),
                 refs=np.array([r["text"] for r in rows]), labels=np.array(labels))
    arpa = os.path.join(out, "lm3.arpa")
    if not os.path.exists(arpa):
        spec = importlib.util.spec_from_file_location(
            "train_kenlm", os.path.join(REPO, "scripts", "asr_language_modeling", "ngram_lm", "train_kenlm.py"))
        tk = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(tk)
        from omegaconf import OmegaConf

        tk.train(OmegaConf.create({"nemo_model_file": model_path, "train_paths": [seen["train"]],
                                   "kenlm_model_file": arpa, "ngram_length": 3, "ngram_prune": [0],
                                   "save_nemo": False, "normalize_unk_nemo": True}))
    with open(info_path) as f:
        return json.load(f), len(train_voices), len(test_voices)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ref", help="python of an NVIDIA NeMo install for the side-by-side run")
    p.add_argument("--out", default=os.path.join(REPO, "bench", "out", "lm"))
    p.add_argument("--train-budget", type=float, default=420.0, help="training seconds the epoch plan aims at")
    p.add_argument("--rounds", type=int, default=3, help="alternating timing rounds (ours, NeMo), best kept")
    p.add_argument("--side", help=argparse.SUPPRESS)  # internal: decode with this interpreter's nemo into FILE
    p.add_argument("--time-lm", help=argparse.SUPPRESS)  # internal: time beam and this LM config into --side
    p.add_argument("--boost", action="store_true", help=argparse.SUPPRESS)  # internal: boosting run into --side
    a = p.parse_args()
    if a.side and a.boost:
        boost_side(a.out, a.side)
        return
    if a.side and a.time_lm:
        time_side(a.out, a.time_lm, a.side)
        return
    if a.side:
        run_side(a.out, a.side)
        return
    os.makedirs(a.out, exist_ok=True)
    train_info, n_train_voices, n_test_voices = prepare(a.out, a.train_budget)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    ours_json = os.path.join(a.out, "ours.json")
    subprocess.run([sys.executable, os.path.abspath(__file__), "--out", a.out, "--side", ours_json], check=True,
                   env=dict(env, PYTHONPATH=REPO))
    ours = json.load(open(ours_json))
    boost_json = os.path.join(a.out, "boost.json")
    subprocess.run([sys.executable, os.path.abspath(__file__), "--out", a.out, "--side", boost_json, "--boost"],
                   check=True, env=dict(env, PYTHONPATH=REPO))
    boost = json.load(open(boost_json))
    theirs = None
    if a.ref:
        nemo_json = os.path.join(a.out, "nemo.json")
        subprocess.run([a.ref, os.path.abspath(__file__), "--out", a.out, "--side", nemo_json], check=True,
                       env=env, cwd="/tmp")
        theirs = json.load(open(nemo_json))
    timing = {"ours": {"beam": [], "lm": []}, "nemo": {"beam": [], "lm": []}}
    for _ in range(a.rounds):  # alternate the libraries so that both see the same load on this shared machine
        for who, python, result, kw in (("ours", sys.executable, ours, dict(env=dict(env, PYTHONPATH=REPO))),
                                        ("nemo", a.ref, theirs, dict(env=env, cwd="/tmp"))):
            if result is None:
                continue
            tj = os.path.join(a.out, f"time_{who}.json")
            subprocess.run([python, os.path.abspath(__file__), "--out", a.out, "--side", tj,
                            "--time-lm", result["best_lm"]], check=True, **kw)
            for k, v in json.load(open(tj)).items():
                timing[who][k].append(v)
    refs = [str(r) for r in __import__("numpy").load(os.path.join(a.out, "logprobs_test.npz"))["refs"]]
    for who, result in (("ours", ours), ("nemo", theirs)):
        if result is not None:
            for k in ("beam", "lm"):
                result[f"{k}_utt_per_s"] = len(refs) / min(timing[who][k])
    side = [{"ref": r, **{f"ours_{k}": ours["texts"][k][i] for k in ours["texts"]},
             **({f"nemo_{k}": theirs["texts"][k][i] for k in theirs["texts"]} if theirs else {})}
            for i, r in enumerate(refs)]
    with open(os.path.join(a.out, "texts.json"), "w", encoding="utf-8") as f:
        json.dump(side, f, indent=1)
    line = {"bench": "asr_lm_decoding", "train": train_info, "voices": {"train": n_train_voices, "test_held_out": n_test_voices},
            "test_utterances": len(refs), "beam": BEAM,
            "ours": {"wer": ours["test"], "best_lm": ours["best_lm"], "dev_wer_lm": ours["dev"][ours["best_lm"]],
                     "utt_per_s": {k: round(ours[f"{k}_utt_per_s"], 1) for k in ("beam", "lm")}},
            "boosting_key_words": boost}
    if theirs:
        line["nemo"] = {"wer": theirs["test"], "best_lm": theirs["best_lm"], "dev_wer_lm": theirs["dev"][theirs["best_lm"]],
                        "utt_per_s": {k: round(theirs[f"{k}_utt_per_s"], 1) for k in ("beam", "lm")}}
        line["speed_ours_over_nemo"] = {k: round(ours[f"{k}_utt_per_s"] / theirs[f"{k}_utt_per_s"], 2)
                                        for k in ("beam", "lm")}
        line["same_texts_lm"] = sum(x["ours_lm"] == x["nemo_lm"] for x in side)
    print(json.dumps(line))


if __name__ == "__main__":
    main()
