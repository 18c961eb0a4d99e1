"""Writes tests/collections/asr/data/rnnt_beam_reference.npz: NVIDIA NeMo 3.0.0's transducer beam searches
(BeamRNNTInfer default/maes/beam 1, BeamTDTInfer default/maes) on the tiny modules of tiny_transducer.py, and
(kind "nemo_modules") default/tsd/alsd/maes on NeMo's own RNNTDecoder/RNNTJoint, whose weights are saved too.

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
CASES += [
    dict(name="modules_default_b3", kind="nemo_modules", V=5, T=7, seed=10, beam_size=3, search_type="default"),
    dict(name="modules_tsd_b3", kind="nemo_modules", V=5, T=7, seed=11, beam_size=3, search_type="tsd",
         tsd_max_sym_exp_per_step=3),
    dict(name="modules_tsd_b2", kind="nemo_modules", V=4, T=6, seed=12, beam_size=2, search_type="tsd",
         tsd_max_sym_exp_per_step=2, blank_bias=-1.0),
    dict(name="modules_alsd_b3", kind="nemo_modules", V=5, T=7, seed=13, beam_size=3, search_type="alsd"),
    dict(name="modules_alsd_b2", kind="nemo_modules", V=4, T=6, seed=14, beam_size=2, search_type="alsd",
         alsd_max_target_len=4, blank_bias=-1.0),
    dict(name="modules_maes_b2", kind="nemo_modules", V=5, T=7, seed=15, beam_size=2, search_type="maes",
         maes_num_steps=2, maes_expansion_beta=2),
]
ENC, PRED = 8, 6


def nemo_modules(seed, V, blank_bias):
    """NeMo's own prediction net and joint, seeded and sharpened so beams differ from greedy."""
    from nemo.collections.asr.modules.rnnt import RNNTDecoder, RNNTJoint

    torch.manual_seed(seed)
    dec = RNNTDecoder(prednet={"pred_hidden": PRED, "pred_rnn_layers": 1}, vocab_size=V)
    joint = RNNTJoint(jointnet={"encoder_hidden": ENC, "pred_hidden": PRED, "joint_hidden": 10,
                                "activation": "relu"}, num_classes=V)
    with torch.no_grad():
        for p in joint.parameters():
            p.mul_(2.0)
        joint.joint_net[-1].bias[V] += 2.0 + blank_bias
    return dec.eval(), joint.eval()


SEARCH_KEYS = ("beam_size", "search_type", "score_norm", "maes_num_steps", "maes_expansion_beta",
               "maes_expansion_gamma", "tsd_max_sym_exp_per_step", "alsd_max_target_len")


def main():
    torch.set_num_threads(1)
    arrays, results = {}, {}
    for case in CASES:
        extra = len(case.get("durations", []))
        if case["kind"] == "nemo_modules":
            dec, joint = nemo_modules(case["seed"], case["V"], case.get("blank_bias", 0.0))
            g = torch.Generator().manual_seed(case["seed"])
            enc = torch.randn(2, ENC, case["T"], generator=g)
        else:
            dec, joint = make_model(case["seed"], case["V"], extra=extra)
            with torch.no_grad():
                joint.out.bias[case["V"]] += case.get("blank_bias", 0.0)
            enc = make_encoder(case["seed"], case["T"], B=2)
        lengths = torch.tensor([case["T"], case["T"] - 2])
        kw = {k: case[k] for k in SEARCH_KEYS if k in case}
        if case["kind"] in ("rnnt", "nemo_modules"):
            search = BeamRNNTInfer(dec, joint, return_best_hypothesis=False, **kw)
        else:
            search = BeamTDTInfer(dec, joint, durations=case["durations"], return_best_hypothesis=False, **kw)
        (nbest,) = search(encoder_output=enc, encoded_lengths=lengths)
        print(case["name"], "done", flush=True)
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
