"""CTC beam search: greedy at beam 1, exact against exhaustive search on tiny lattices (with LM and insertion
bonus, both recombination rules), NeMo's config keys through CTCDecoding, n-best and alignments."""

import itertools

import pytest
import torch
from omegaconf import OmegaConf

from nemo.collections.asr.parts.submodules.ctc_batched_beam_decoding import BatchedBeamCTCComputer
from nemo.collections.asr.parts.submodules.ctc_beam_decoding import BeamBatchedCTCInfer
from nemo.collections.asr.parts.submodules.ctc_decoding import CTCDecoding
from nemo.collections.asr.parts.submodules.ngram_lm import NGramGPULanguageModel, estimate_kneser_ney
from nemo.collections.asr.parts.utils.rnnt_utils import Hypothesis, NBestHypotheses

VOCAB = list(" abc'")


def _collapse(path, blank):
    out, prev = [], None
    for p in path:
        if p != blank and p != prev:
            out.append(p)
        prev = p
    return tuple(out)


def _exhaustive(lp, lm, alpha, beta, mode):
    """Best label sequence over all alignment paths: sum (or max) over its paths + alpha * LM + beta * length."""
    T, V = lp.shape
    per = {}
    for path in itertools.product(range(V), repeat=T):
        s = float(sum(lp[t, p] for t, p in enumerate(path)))
        key = _collapse(path, V - 1)
        if key not in per:
            per[key] = s
        else:
            per[key] = float(torch.logaddexp(torch.tensor(per[key]), torch.tensor(s))) if mode == "sum" else max(per[key], s)
    best = None
    for key, s in per.items():
        total = s + beta * len(key)
        if lm is not None:
            labels = torch.tensor([list(key)], dtype=torch.long).view(1, -1)
            with torch.no_grad():
                total += alpha * float(lm.score_sentences(labels, bos=True, eos=True).sum())
        if best is None or total > best[0]:
            best = (total, key)
    return best


@pytest.fixture(scope="module")
def lm():
    gen = torch.Generator().manual_seed(3)
    sentences = [torch.randint(0, 3, (int(torch.randint(1, 6, (1,), generator=gen)),), generator=gen).tolist()
                 for _ in range(60)]
    return NGramGPULanguageModel.from_table(estimate_kneser_ney(sentences, 2), vocab_size=3)


@pytest.mark.parametrize("mode", ["sum", "max"])
@pytest.mark.parametrize("use_lm", [False, True])
def test_large_beam_equals_exhaustive_search(lm, mode, use_lm):
    torch.manual_seed(0)
    T, V = 5, 4
    lp = torch.randn(6, T, V).mul(1.5).log_softmax(-1)
    lengths = torch.tensor([5, 4, 5, 3, 5, 5])
    search = BatchedBeamCTCComputer(blank_index=V - 1, beam_size=256, beam_beta=0.3, beam_threshold=None,
                                    fusion_models=[lm] if use_lm else None, fusion_models_alpha=[0.7],
                                    recombination=mode)
    result = search(lp, lengths)
    for b in range(lp.shape[0]):
        ref_score, ref_tokens = _exhaustive(lp[b, : lengths[b]], lm if use_lm else None, 0.7, 0.3, mode)
        assert tuple(result.tokens[b][0]) == ref_tokens
        assert float(result.scores[b, 0]) == pytest.approx(ref_score, abs=1e-4)


def test_beam_one_is_greedy():
    torch.manual_seed(1)
    lp = torch.randn(4, 30, 6).mul(2).log_softmax(-1)
    lengths = torch.tensor([30, 25, 30, 7])
    result = BatchedBeamCTCComputer(blank_index=5, beam_size=1)(lp, lengths)
    for b in range(4):
        n = int(lengths[b])
        assert result.tokens[b][0] == list(_collapse(lp[b, :n].argmax(-1).tolist(), 5))
        assert float(result.scores[b, 0]) == pytest.approx(float(lp[b, :n].max(-1).values.sum()), abs=1e-4)
    greedy = CTCDecoding(OmegaConf.create({"strategy": "greedy_batch"}), VOCAB)
    beam = CTCDecoding(OmegaConf.create({"strategy": "beam_batch", "beam": {"beam_size": 1, "beam_beta": 0.0}}), VOCAB)
    g = [h.text for h in greedy.ctc_decoder_predictions_tensor(lp, lengths)]
    assert [h.text for h in beam.ctc_decoder_predictions_tensor(lp, lengths)] == g


def test_nemo_config_keys_through_ctc_decoding(lm, tmp_path):
    lm.save_to(str(tmp_path / "lm.nemo"))
    torch.manual_seed(2)
    lp = torch.randn(2, 12, 6).log_softmax(-1)
    lengths = torch.tensor([12, 9])
    vocab = list("abcde")  # 5 tokens + blank; the LM knows 3 -> mismatch must be reported
    with pytest.raises(ValueError, match="3 tokens"):
        CTCDecoding(OmegaConf.create({"strategy": "beam_batch", "beam": {"ngram_lm_model": str(tmp_path / "lm.nemo")}}), vocab)
    vocab = list("ab'")
    lp = torch.randn(2, 12, 4).log_softmax(-1)
    new = CTCDecoding(OmegaConf.create({"strategy": "beam_batch", "beam": {
        "beam_size": 4, "ngram_lm_model": str(tmp_path / "lm.nemo"), "ngram_lm_alpha": 0.5, "beam_beta": 0.25}}), vocab)
    old = CTCDecoding(OmegaConf.create({"strategy": "beam", "beam": {
        "beam_size": 4, "kenlm_path": str(tmp_path / "lm.nemo"), "beam_alpha": 0.5, "beam_beta": 0.25}}), vocab)
    assert isinstance(new.decoding, BeamBatchedCTCInfer) and new.decoding.ngram_lm is not None
    assert old.decoding.search_algorithm.fusions[0].alpha == 0.5
    a = new.ctc_decoder_predictions_tensor(lp, lengths, return_hypotheses=True)
    b = old.ctc_decoder_predictions_tensor(lp, lengths, return_hypotheses=True)
    assert [h.text for h in a] == [h.text for h in b]
    assert all(isinstance(h, Hypothesis) and isinstance(h.y_sequence, torch.Tensor) for h in a)
    with pytest.raises(ValueError, match="search_type"):
        CTCDecoding(OmegaConf.create({"strategy": "beam", "beam": {"search_type": "pyctcdecode"}}), vocab)


def test_nbest_alignments_and_timestamps():
    torch.manual_seed(4)
    lp = torch.randn(2, 10, 6).mul(2).log_softmax(-1)
    lengths = torch.tensor([10, 8])
    cfg = {"strategy": "beam_batch", "compute_timestamps": True,
           "beam": {"beam_size": 3, "beam_beta": 0.0, "return_best_hypothesis": False, "preserve_alignments": True}}
    dec = CTCDecoding(OmegaConf.create(cfg), VOCAB)
    raw = dec.decoding(decoder_output=lp, decoder_lengths=lengths)[0]
    assert all(isinstance(n, NBestHypotheses) for n in raw)
    nbest = dec.ctc_decoder_predictions_tensor(lp, lengths, return_hypotheses=True)
    for b, hyps in enumerate(nbest):
        scores = [h.score for h in hyps]
        assert scores == sorted(scores, reverse=True) and len(set(h.text for h in hyps)) == len(hyps)
        for h in hyps:
            log_probs, frame_labels = h.alignments
            assert log_probs.shape == (int(lengths[b]), 6) and frame_labels.shape == (int(lengths[b]),)
            assert list(_collapse(frame_labels.tolist(), 5)) == h.y_sequence.tolist()
            assert [c["char"] for c in h.timestamp["char"]] == [VOCAB[i] for i in h.y_sequence.tolist()]
