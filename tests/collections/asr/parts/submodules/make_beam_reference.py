"""Writes tests/collections/asr/data/rnnt_beam_reference.npz: NVIDIA NeMo 3.0.0's transducer beam searches
(BeamRNNTInfer default/maes/beam 1, BeamTDTInfer default/maes) on the tiny modules of tiny_transducer.py.

    /tmp/nemo_ref/bin/python tests/collections/asr/parts/submodules/make_beam_reference.py
"""

import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tiny_transducer import make_encoder, make_model  # noqa: E402

from nemo.collections.asr.parts.submodules.rnnt_beam_decoding import BeamRNNTInfer  # noqa: E402
from nemo.collections.asr.parts.submodules.tdt_beam_decoding import BeamTDTInfer  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "data", "rnnt_beam_reference.npz")

CASES = [
    dict(name="rnnt_default_b2", kind="rnnt", V=4, T=6, seed=0, beam_size=2, search_type="default"),
    dict(name="rnnt_default_b3", kind="rnnt", V=4, T=7, seed=1, beam_size=3, search_type="default",
         blank_bias=-1.0),
    dict(name="rnnt_default_b4_unnorm", kind="rnnt", V=6, T=6, seed=2, beam_size=4, search_type="default",
         score_norm=False),
    dict(name="rnnt_greedy_b1", kind="rnnt", V=4, T=8, seed=3, beam_size=1, search_type="default", blank_bias=-1.5),
    dict(name="rnnt_maes_b2", kind="rnnt", V=5, T=6, seed=4, beam_size=2, search_type="maes", maes_num_steps=2,
         maes_expansion_beta=1),
    dict(name="rnnt_maes_b3_steps3", kind="rnnt", V=6, T=6, seed=5, beam_size=3, search_type="maes",
         maes_num_steps=3, maes_expansion_beta=2, maes_expansion_gamma=1.5, blank_bias=-1.0),
    dict(name="tdt_default_b2", kind="tdt", V=4, T=8, seed=6, beam_size=2, search_type="default",
         durations=[0, 1, 2, 3]),
    dict(name="tdt_default_b3", kind="tdt", V=5, T=9, seed=7, beam_size=3, search_type="default",
         durations=[0, 1, 2, 3, 4], blank_bias=-1.0),
    dict(name="tdt_maes_b2", kind="tdt", V=5, T=8, seed=8, beam_size=2, search_type="maes", durations=[0, 1, 2],
         maes_num_steps=2, maes_expansion_beta=1),
    dict(name="tdt_maes_b3", kind="tdt", V=6, T=9, seed=9, beam_size=3, search_type="maes", durations=[0, 1, 2, 4],
         maes_num_steps=2, maes_expansion_beta=2, blank_bias=-1.0),
]
SEARCH_KEYS = ("beam_size", "search_type", "score_norm", "maes_num_steps", "maes_expansion_beta",
               "maes_expansion_gamma")


def main():
    torch.set_num_threads(1)
    arrays, results = {}, {}
    for case in CASES:
        extra = len(case.get("durations", []))
        dec, joint = make_model(case["seed"], case["V"], extra=extra)
        with torch.no_grad():
            joint.out.bias[case["V"]] += case.get("blank_bias", 0.0)
        enc = make_encoder(case["seed"], case["T"], B=2)
        lengths = torch.tensor([case["T"], case["T"] - 2])
        kw = {k: case[k] for k in SEARCH_KEYS if k in case}
        if case["kind"] == "rnnt":
            search = BeamRNNTInfer(dec, joint, return_best_hypothesis=False, **kw)
        else:
            search = BeamTDTInfer(dec, joint, durations=case["durations"], return_best_hypothesis=False, **kw)
        (nbest,) = search(encoder_output=enc, encoded_lengths=lengths)
        out = []
        for utt in nbest:
            out.append([{"y_sequence": h.y_sequence.tolist(), "score": float(h.score),
                         "timestamp": [int(t) for t in h.timestamp]} for h in utt.n_best_hypotheses])
        results[case["name"]] = {"case": case, "nbest": out}
        for k, v in {**{f"dec.{k}": v for k, v in dec.state_dict().items()},
                     **{f"joint.{k}": v for k, v in joint.state_dict().items()}}.items():
            arrays[f"{case['name']}/{k}"] = v.numpy()
        arrays[f"{case['name']}/encoder"] = enc.numpy()
        arrays[f"{case['name']}/lengths"] = lengths.numpy()
    arrays["results_json"] = np.array(json.dumps(results))
    np.savez_compressed(OUT, **arrays)
    print("wrote", os.path.abspath(OUT), os.path.getsize(OUT), "bytes")


if __name__ == "__main__":
    main()
