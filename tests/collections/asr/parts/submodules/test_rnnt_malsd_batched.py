"""`malsd_batch` / `maes_batch` (batched transducer beam search, RNN-T and TDT, with n-gram LM fusion) against
NVIDIA NeMo 3.0.0's hypotheses on the committed transducer goldens (written by make_malsd_goldens.py under NeMo)."""

import copy
import functools
import json
import os

import numpy as np
import pytest
import torch
from omegaconf import open_dict

from nemo.collections.asr.models import ASRModel
from nemo.collections.asr.parts.submodules.rnnt_malsd_batched_computer import ModifiedALSDBatchedRNNTComputer
from nemo.collections.asr.parts.submodules.ngram_lm import NGramGPULanguageModel
from nemo.collections.asr.parts.utils.rnnt_utils import Hypothesis

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "..", "..", "data", "transducer")
DATA = os.path.join(HERE, "..", "..", "data", "transducer_beam")
ARPA = os.path.join(DATA, "tok3.arpa")
with open(os.path.join(DATA, "malsd_expected.json")) as _f:
    EXPECTED = json.load(_f)


@functools.lru_cache(maxsize=None)
def _model(name):
    model = ASRModel.restore_from(os.path.join(GOLDEN, f"{name}.nemo"), map_location="cpu")
    model.eval()
    enc = torch.tensor(np.load(os.path.join(GOLDEN, f"{name}_encoded.npy")))
    enc_len = torch.tensor(np.load(os.path.join(GOLDEN, f"{name}_encoded_len.npy")))
    return model, copy.deepcopy(model.cfg.decoding), enc, enc_len


def _decode(name, opts, return_hypotheses=True, strategy="malsd_batch"):
    model, base, enc, enc_len = _model(name)
    cfg = copy.deepcopy(base)
    opts = dict(opts)
    with open_dict(cfg):
        cfg.strategy = strategy
        cfg.compute_timestamps = False
        if cfg.get("beam", None) is None:
            cfg.beam = {}
        if opts.pop("lm", False):
            cfg.beam.ngram_lm_model = ARPA
        for key, value in opts.items():
            cfg.beam[key] = value
    model.change_decoding_strategy(cfg, **({"decoder_type": "rnnt"} if "hybrid" in name else {}))
    return model.decoding.rnnt_decoder_predictions_tensor(enc, enc_len, return_hypotheses=return_hypotheses)


def _check(ours: Hypothesis, theirs: dict, where: str):
    assert [int(t) for t in ours.y_sequence] == theirs["y_sequence"], where
    assert abs(float(ours.score) - theirs["score"]) < 1e-4, (where, float(ours.score), theirs["score"])
    assert [int(t) for t in ours.timestamp] == theirs["timestamp"], where
    if theirs["token_duration"] is None:
        assert ours.token_duration is None, where
    else:
        assert [int(t) for t in ours.token_duration] == theirs["token_duration"], where
    assert ours.text == theirs["text"], where


def _compare(hyps, expected, name, case):
    assert len(hyps) == len(expected)
    for b, (ours, theirs) in enumerate(zip(hyps, expected)):
        if isinstance(theirs, list):
            assert len(ours) == len(theirs), (name, case, b)
            for k, (o, t) in enumerate(zip(ours, theirs)):
                _check(o, t, (name, case, b, k))
        else:
            _check(ours, theirs, (name, case, b))


@pytest.mark.parametrize("name", sorted(EXPECTED["models"]))
@pytest.mark.parametrize("case", sorted(EXPECTED["cases"]))
def test_malsd_batch_equals_nemo(name, case):
    """Same ids, scores (1e-4), frames, durations and texts as NeMo's malsd_batch, n-best lists included."""
    _compare(_decode(name, EXPECTED["cases"][case]), EXPECTED["models"][name][case], name, case)


@pytest.mark.parametrize("name", ["rnnt_bpe", "rnnt_bpe_trained"])
@pytest.mark.parametrize("case", sorted(EXPECTED["maes_cases"]))
def test_maes_batch_equals_nemo(name, case):
    """Same as NeMo's maes_batch (RNN-T): prefix search, expansions, duplicates, closing blanks, LM fusion."""
    hyps = _decode(name, EXPECTED["maes_cases"][case], strategy="maes_batch")
    _compare(hyps, EXPECTED["models"][name][case], name, case)


def test_maes_early_weighted_blank_counts_acoustic_score_once():
    """Early pruning + lm_weighted_full with alpha 0 is plain maes_batch (NeMo adds the acoustic score twice)."""
    plain = _decode("rnnt_bpe_trained", {"beam_size": 4}, strategy="maes_batch")
    fused = _decode("rnnt_bpe_trained", {"beam_size": 4, "lm": True, "ngram_lm_alpha": 0.0, "pruning_mode": "early",
                                         "blank_lm_score_mode": "lm_weighted_full"}, strategy="maes_batch")
    for a, b in zip(plain, fused):
        assert list(a.y_sequence) == list(b.y_sequence)
        assert abs(a.score - b.score) < 1e-5


def test_beam_one_without_lm_follows_greedy_tokens():
    """Beam 1 keeps the best arc each step: the greedy token sequence of the trained TDT golden."""
    greedy = EXPECTED["models"]["tdt_bpe"]["beam1"]
    hyps = _decode("tdt_bpe", {"beam_size": 1})
    model, _, enc, enc_len = _model("tdt_bpe")
    with open_dict(model.cfg.decoding):
        model.cfg.decoding.strategy = "greedy_batch"
    model.change_decoding_strategy(model.cfg.decoding)
    ref = model.decoding.rnnt_decoder_predictions_tensor(enc, enc_len, return_hypotheses=True)
    assert [list(map(int, h.y_sequence)) for h in hyps] == [list(map(int, h.y_sequence)) for h in ref]
    assert [h["y_sequence"] for h in greedy] == [list(map(int, h.y_sequence)) for h in ref]


def test_lm_alpha_zero_equals_no_lm():
    """An LM with weight 0 and `no_score` blank mode changes nothing."""
    plain = _decode("rnnt_bpe_trained", {"beam_size": 4})
    fused = _decode("rnnt_bpe_trained", {"beam_size": 4, "lm": True, "ngram_lm_alpha": 0.0,
                                         "blank_lm_score_mode": "no_score"})
    for a, b in zip(plain, fused):
        assert list(a.y_sequence) == list(b.y_sequence)
        assert abs(a.score - b.score) < 1e-5


def test_lm_object_and_nested_lm_are_used():
    """`set_ngram_lm` (the nested-LM hook) gives the same result as naming the ARPA file."""
    by_file = _decode("tdt_bpe", {"beam_size": 4, "lm": True, "ngram_lm_alpha": 0.5})
    model, base, enc, enc_len = _model("tdt_bpe")
    lm = NGramGPULanguageModel.from_file(ARPA, vocab_size=model.decoding.blank_id)
    cfg = copy.deepcopy(base)
    with open_dict(cfg):
        cfg.strategy = "malsd_batch"
        cfg.compute_timestamps = False
        cfg.beam = {"beam_size": 4, "ngram_lm_alpha": 0.5}
    model.change_decoding_strategy(cfg)
    model.decoding.set_ngram_lm(lm)
    nested = model.decoding.rnnt_decoder_predictions_tensor(enc, enc_len, return_hypotheses=True)
    for a, b in zip(by_file, nested):
        assert list(a.y_sequence) == list(b.y_sequence) and abs(a.score - b.score) < 1e-6


def test_timestamps_and_text_through_decoding():
    """compute_timestamps gives NeMo's char/word offsets from the beam hypotheses' frames and durations."""
    model, base, enc, enc_len = _model("tdt_bpe")
    cfg = copy.deepcopy(base)
    with open_dict(cfg):
        cfg.strategy = "malsd_batch"
        cfg.compute_timestamps = True
        cfg.beam = {"beam_size": 2}
    model.change_decoding_strategy(cfg)
    hyps = model.decoding.rnnt_decoder_predictions_tensor(enc, enc_len, return_hypotheses=True)
    expected = EXPECTED["models"]["tdt_bpe"]["beam2"]
    for h, e in zip(hyps, expected):
        assert h.timestamp["timestep"] == e["timestamp"]
        assert " ".join(w["word"] for w in h.timestamp["word"]) == e["text"]
        starts = [c["start_offset"] for c in h.timestamp["char"]]
        assert starts == sorted(starts)


def test_bad_options_raise_clearly():
    model, base, _, _ = _model("rnnt_bpe")
    for opts, words in [({"beam_size": 0}, "beam_size"), ({"beam_size": 1000}, "at most"),
                        ({"max_symbols": 0}, "max_symbols"),
                        ({"pruning_mode": "sometimes"}, "sometimes"),
                        ({"ngram_lm_model": "/nonexistent/lm.arpa"}, "/nonexistent/lm.arpa")]:
        cfg = copy.deepcopy(base)
        with open_dict(cfg):
            cfg.strategy = "malsd_batch"
            cfg.beam = dict({"beam_size": 2, "ngram_lm_alpha": 0.3}, **opts)
        with pytest.raises(Exception, match=words):
            model.change_decoding_strategy(cfg)
    tdt_model, tdt_base, _, _ = _model("tdt_bpe")
    cfg = copy.deepcopy(tdt_base)
    with open_dict(cfg):
        cfg.strategy = "maes_batch"
    with pytest.raises(ValueError, match="maes_batch"):
        tdt_model.change_decoding_strategy(cfg)


def test_computer_handles_empty_utterance():
    """A zero-length utterance in the batch gives an empty hypothesis with score 0; others are unaffected."""
    model, _, enc, enc_len = _model("rnnt_bpe_trained")
    computer = ModifiedALSDBatchedRNNTComputer(model.decoder, model.joint, blank_index=model.decoding.blank_id,
                                               beam_size=3)
    with torch.inference_mode():
        hyps, _ = computer(enc.transpose(1, 2), torch.tensor([int(enc_len[0]), 0, int(enc_len[2])]))
        alone, _ = computer(enc[:1].transpose(1, 2)[:, : int(enc_len[0])], enc_len[:1])
    out = hyps.to_hyps_list()
    assert len(out[1].y_sequence) == 0 and out[1].score == 0.0
    assert list(out[0].y_sequence) == list(alone.to_hyps_list()[0].y_sequence)


def test_tdt_durations_are_the_models_durations_not_their_indices():
    """With durations [0, 1, 2, 4, 8] time moves by the duration itself (NeMo moves by its index)."""
    from nemo.collections.asr.parts.submodules.tdt_malsd_batched_computer import ModifiedALSDBatchedTDTComputer

    model, _, enc, enc_len = _model("tdt_bpe")
    durations = [0, 1, 2, 4, 8]
    computer = ModifiedALSDBatchedTDTComputer(model.decoder, model.joint, durations=durations,
                                              blank_index=model.decoding.blank_id, beam_size=4)
    with torch.inference_mode():
        hyps, _ = computer(enc.transpose(1, 2), enc_len)
    seen = set()
    for b, h in enumerate(hyps.to_nbest_hyps_list()):
        for hyp in h.n_best_hypotheses:
            starts, durs = list(map(int, hyp.timestamp)), list(map(int, hyp.token_duration))
            seen.update(durs)
            assert set(durs) <= set(durations)
            assert all(s1 >= s0 + d0 for s0, s1, d0 in zip(starts, starts[1:], durs))
            assert all(0 <= s < int(enc_len[b]) for s in starts)
    assert seen & {4, 8}


def test_nested_lm_in_transducer_archive(tmp_path):
    """`set_ngram_lm` nests the LM in a TDT model and switches to malsd_batch; the re-saved `.nemo` restores with
    the LM and decodes as with the ARPA file named in the config."""
    model = ASRModel.restore_from(os.path.join(GOLDEN, "tdt_bpe.nemo"), map_location="cpu").eval()
    _, _, enc, enc_len = _model("tdt_bpe")
    cfg = copy.deepcopy(model.cfg.decoding)
    with open_dict(cfg):
        cfg.strategy = "malsd_batch"
        cfg.compute_timestamps = False
        cfg.beam = {"beam_size": 4, "ngram_lm_alpha": 0.5}
    model.set_ngram_lm(ARPA, decoding_cfg=cfg)
    path = str(tmp_path / "tdt_with_lm.nemo")
    model.save_to(path)
    restored = ASRModel.restore_from(path, map_location="cpu").eval()
    assert restored.cfg.decoding.strategy == "malsd_batch"
    hyps = restored.decoding.rnnt_decoder_predictions_tensor(enc, enc_len, return_hypotheses=True)
    expected = EXPECTED["models"]["tdt_bpe"]["beam4_lm"]
    for h, e in zip(hyps, expected):
        assert [int(t) for t in h.y_sequence] == e["y_sequence"] and abs(h.score - e["score"]) < 1e-4


def test_transcribe_with_malsd_batch_and_timestamps():
    """transcribe() of the golden wavs with malsd_batch gives NeMo's beam texts, with word timestamps; n-best
    decoding returns one list per file."""
    import glob

    model, base, _, _ = _model("tdt_bpe")
    cfg = copy.deepcopy(base)
    with open_dict(cfg):
        cfg.strategy = "malsd_batch"
        cfg.beam = {"beam_size": 4}
    model.change_decoding_strategy(cfg)
    wavs = sorted(glob.glob(os.path.join(GOLDEN, "tdt_bpe_wav", "*.wav")))
    out = model.transcribe(wavs, batch_size=3, timestamps=True)
    expected = EXPECTED["models"]["tdt_bpe"]["beam4"]
    assert [h.text for h in out] == [e["text"] for e in expected]
    assert all(" ".join(w["word"] for w in h.timestamp["word"]) == h.text for h in out)
    with open_dict(cfg):
        cfg.beam = {"beam_size": 4, "return_best_hypothesis": False}
    model.change_decoding_strategy(cfg)
    nbest = model.transcribe(wavs, batch_size=3)
    assert [[h.text for h in hh] for hh in nbest] == [[h["text"] for h in hh]
                                                     for hh in EXPECTED["models"]["tdt_bpe"]["beam4_nbest"]]


@pytest.mark.parametrize("name,strategy", [("rnnt_bpe", "malsd_batch"), ("tdt_bpe", "malsd_batch"),
                                           ("rnnt_bpe", "maes_batch")])  # maes_batch is RNN-T only
def test_batch_decoding_equals_one_utterance_at_a_time(name, strategy):
    """Padding and other utterances do not change a hypothesis (with the LM too)."""
    opts = {"beam_size": 3, "lm": True, "ngram_lm_alpha": 0.3}
    together = _decode(name, opts, strategy=strategy)
    model, _, enc, enc_len = _model(name)
    for b in range(enc.shape[0]):
        n = int(enc_len[b])
        alone = model.decoding.rnnt_decoder_predictions_tensor(enc[b: b + 1, :, :n], enc_len[b: b + 1],
                                                               return_hypotheses=True)[0]
        assert list(map(int, alone.y_sequence)) == list(map(int, together[b].y_sequence))
        assert abs(alone.score - together[b].score) < 1e-4 + 1e-6 * abs(alone.score)  # float32 sums
        assert list(map(int, alone.timestamp)) == list(map(int, together[b].timestamp))
