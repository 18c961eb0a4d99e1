"""Writes NVIDIA NeMo 3.0.0's `malsd_batch` / `maes_batch` hypotheses on the committed transducer goldens
(run with NeMo's python).

    /tmp/nemo_ref/bin/python tests/collections/asr/parts/submodules/make_malsd_goldens.py

Decodes each golden's stored encoder output with NeMo's batched transducer beam searches (malsd_batch: beam
1/2/4, n-best, no score norm, max_symbols, boosting tree; maes_batch on the RNN-T goldens; both also with the
token-level 3-gram ARPA in `../../data/transducer_beam/tok3.arpa` under the pruning / blank-scoring modes) and saves ids, scores, timestamps, durations and texts to `malsd_expected.json`.
The ARPA was built by this project's `scripts/asr_language_modeling/ngram_lm/train_kenlm.py` (3-gram, the
`tdt_bpe` tokenizer shared by all goldens) on the 160 training transcripts of the espeak-ng corpus
(`python -m nemo.collections.asr.data.synth --out /tmp/tcorpus --num-train 160 --num-dev 24 --num-test 24 --seed 3`).
"""

import copy
import json
import os

import numpy as np
import torch
from omegaconf import OmegaConf, open_dict

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "..", "..", "data", "transducer")
OUT = os.path.join(HERE, "..", "..", "data", "transducer_beam")
MODELS = ["rnnt_bpe", "rnnt_bpe_trained", "tdt_bpe", "hybrid_tdt_ctc_bpe", "hybrid_tdt_ctc_bpe_trained"]

CASES = {
    "beam1": dict(beam_size=1),
    "beam2": dict(beam_size=2),
    "beam4": dict(beam_size=4),
    "beam4_nbest": dict(beam_size=4, return_best_hypothesis=False),
    "beam4_nonorm": dict(beam_size=4, score_norm=False),
    "beam4_maxsym1": dict(beam_size=4, max_symbols=1),
    "beam1_lm": dict(beam_size=1, lm=True, ngram_lm_alpha=0.5),
    "beam4_lm": dict(beam_size=4, lm=True, ngram_lm_alpha=0.5),
    "beam4_lm_nbest": dict(beam_size=4, lm=True, ngram_lm_alpha=0.5, return_best_hypothesis=False),
    "beam4_lm_early_noscore": dict(beam_size=4, lm=True, ngram_lm_alpha=0.5, pruning_mode="early",
                                   blank_lm_score_mode="no_score"),
    "beam4_lm_early_full": dict(beam_size=4, lm=True, ngram_lm_alpha=0.5, pruning_mode="early",
                                blank_lm_score_mode="lm_weighted_full"),
    "beam4_lm_late_noscore": dict(beam_size=4, lm=True, ngram_lm_alpha=0.5, pruning_mode="late",
                                  blank_lm_score_mode="no_score"),
    "beam4_boost": dict(beam_size=4, boosting_tree={"key_phrases_list": ["black bottle", "three four", "seven"],
                                                    "use_triton": False}, boosting_tree_alpha=1.0),
    "beam4_lm_boost": dict(beam_size=4, lm=True, ngram_lm_alpha=0.3,
                           boosting_tree={"key_phrases_list": ["black bottle", "three four", "seven"],
                                          "use_triton": False}, boosting_tree_alpha=1.0),
}
# maes_batch is RNN-T only in NeMo; its early-pruning + lm_weighted_full mode counts the acoustic score twice
# (docs/differences.md), so that mode is not recorded.
MAES_MODELS = ["rnnt_bpe", "rnnt_bpe_trained"]
MAES_CASES = {
    "maes_beam1": dict(beam_size=1),
    "maes_beam2": dict(beam_size=2),
    "maes_beam4": dict(beam_size=4),
    "maes_beam4_nbest": dict(beam_size=4, return_best_hypothesis=False),
    "maes_beam4_steps3": dict(beam_size=4, maes_num_steps=3, maes_expansion_beta=1, maes_expansion_gamma=1.0),
    "maes_beam4_lm": dict(beam_size=4, lm=True, ngram_lm_alpha=0.5),
    "maes_beam4_lm_early_noscore": dict(beam_size=4, lm=True, ngram_lm_alpha=0.5, pruning_mode="early",
                                        blank_lm_score_mode="no_score"),
    "maes_beam4_lm_late_noscore": dict(beam_size=4, lm=True, ngram_lm_alpha=0.5, pruning_mode="late",
                                       blank_lm_score_mode="no_score"),
}


def _hyp(h):
    return {
        "y_sequence": [int(t) for t in h.y_sequence],
        "score": float(h.score),
        "timestamp": [int(t) for t in h.timestamp] if h.timestamp is not None else None,
        "token_duration": [int(t) for t in h.token_duration] if h.token_duration is not None else None,
        "text": h.text,
    }


def main():
    from nemo.collections.asr.models import ASRModel

    arpa = os.path.join(OUT, "tok3.arpa")
    result = {"nemo_version": __import__("nemo").__version__, "cases": CASES, "maes_cases": MAES_CASES,
              "models": {}}
    for name in MODELS:
        model = ASRModel.restore_from(os.path.join(GOLDEN, f"{name}.nemo"), map_location="cpu")
        model.eval()
        enc = torch.tensor(np.load(os.path.join(GOLDEN, f"{name}_encoded.npy")))
        enc_len = torch.tensor(np.load(os.path.join(GOLDEN, f"{name}_encoded_len.npy")))
        base = copy.deepcopy(model.cfg.decoding)
        out = {}
        cases = [("malsd_batch", c, o) for c, o in CASES.items()]
        if name in MAES_MODELS:
            cases += [("maes_batch", c, o) for c, o in MAES_CASES.items()]
        for strategy, case, opts in cases:
            cfg = copy.deepcopy(base)
            opts = dict(opts)
            with open_dict(cfg):
                cfg.strategy = strategy
                cfg.compute_timestamps = False
                if cfg.get("beam", None) is None:
                    cfg.beam = {}
                if opts.pop("lm", False):
                    cfg.beam.ngram_lm_model = arpa
                for key, value in opts.items():
                    cfg.beam[key] = value
            kwargs = {"decoder_type": "rnnt"} if "hybrid" in name else {}
            model.change_decoding_strategy(cfg, **kwargs)
            with torch.inference_mode():
                hyps = model.decoding.rnnt_decoder_predictions_tensor(enc, enc_len, return_hypotheses=True)
            if isinstance(hyps[0], list):
                out[case] = [[_hyp(h) for h in nbest] for nbest in hyps]
            else:
                out[case] = [_hyp(h) for h in hyps]
        result["models"][name] = out
        print(name, {k: [h["text"] if isinstance(h, dict) else h[0]["text"] for h in v] for k, v in out.items()})
    with open(os.path.join(OUT, "malsd_expected.json"), "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
