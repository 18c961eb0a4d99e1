"""NGramGPULanguageModel: scores against hand-computed ARPA probabilities (back-off included) and against
NVIDIA NeMo 3.0.0's NGPU-LM on the same ARPA file (golden files written by make_ngram_goldens.py)."""

import math
import os

import numpy as np
import pytest
import torch

from nemo.collections.asr.parts.submodules.ngram_lm import NGramGPULanguageModel

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
LN10 = math.log(10)

# tokens: 0 -> 'd', 1 -> 'e' (chr(id + 100)); id 2 never occurs, so it takes <unk>'s probability
TOY_ARPA = """\\data\\
ngram 1=5
ngram 2=4

\\1-grams:
-1.0\t<unk>\t0
-99\t<s>\t-0.3
-0.5\t</s>\t0
-0.6\td\t-0.2
-0.7\te\t-0.1

\\2-grams:
-0.2\t<s> d
-0.3\td e
-0.4\te </s>
-0.25\te d

\\end\\
"""


@pytest.fixture
def toy_lm(tmp_path):
    path = tmp_path / "toy.arpa"
    path.write_text(TOY_ARPA, encoding="utf-8")
    return NGramGPULanguageModel.from_arpa(str(path), vocab_size=3)


def test_advance_matches_hand_computed_arpa_probabilities(toy_lm):
    with torch.no_grad():
        bos = toy_lm.get_init_states(1)
        scores, nxt = toy_lm.advance(bos)
        # <s> d is a bigram; <s> e and <s> <unk> back off through <s>'s weight (-0.3)
        assert scores[0].tolist() == pytest.approx([-0.2 * LN10, (-0.3 - 0.7) * LN10, (-0.3 - 1.0) * LN10], abs=1e-5)
        state_d = nxt[0, 0:1]
        scores_d, nxt_d = toy_lm.advance(state_d)
        # d e is a bigram; d d backs off (-0.2) to the unigram d (-0.6)
        assert scores_d[0].tolist() == pytest.approx([(-0.2 - 0.6) * LN10, -0.3 * LN10, (-0.2 - 1.0) * LN10], abs=1e-5)
        state_e = nxt_d[0, 1:2]
        # e </s> is a bigram; d </s> backs off to </s>'s unigram
        assert toy_lm.get_final(state_e).item() == pytest.approx(-0.4 * LN10, abs=1e-5)
        assert toy_lm.get_final(state_d).item() == pytest.approx((-0.2 - 0.5) * LN10, abs=1e-5)
        # whole sentence "d e </s>" and a batch with a shorter, padded sentence
        sent = toy_lm.score_sentences(torch.tensor([[0, 1], [1, 0]]), torch.tensor([2, 1]), bos=True, eos=True)
    assert sent[0].tolist() == pytest.approx([-0.2 * LN10, -0.3 * LN10, -0.4 * LN10], abs=1e-5)
    assert sent[1].tolist() == pytest.approx([(-0.3 - 0.7) * LN10, -0.4 * LN10, 0.0], abs=1e-5)


def test_unseen_tokens_share_unk_probability(tmp_path):
    path = tmp_path / "toy.arpa"
    path.write_text(TOY_ARPA, encoding="utf-8")
    lm = NGramGPULanguageModel.from_arpa(str(path), vocab_size=5)  # ids 2, 3, 4 unseen
    raw = NGramGPULanguageModel.from_arpa(str(path), vocab_size=5, normalize_unk=False)
    with torch.no_grad():
        s = lm.advance(lm.get_init_states(1, bos=False))[0][0]
        r = raw.advance(raw.get_init_states(1, bos=False))[0][0]
    assert s[2:].tolist() == pytest.approx([-1.0 * LN10 - math.log(3)] * 3, abs=1e-5)
    assert r[2:].tolist() == pytest.approx([-1.0 * LN10] * 3, abs=1e-5)


def test_same_tensors_and_scores_as_nemo_ngpu_lm():
    ours = NGramGPULanguageModel.from_arpa(os.path.join(DATA, "kn3.arpa"), vocab_size=64)
    theirs = NGramGPULanguageModel.restore_from(os.path.join(DATA, "nemo_lm.nemo"))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for key, value in theirs.state_dict().items():
        assert torch.equal(ours.state_dict()[key], value), key
    golden = np.load(os.path.join(DATA, "nemo_lm_scores.npz"))
    with torch.no_grad():
        states = torch.arange(theirs.num_states)
        scores, nxt = theirs.advance(states)
        sent = theirs.score_sentences(torch.from_numpy(golden["seqs"]), torch.from_numpy(golden["lengths"]),
                                      bos=True, eos=True)
        final = theirs.get_final(states)
    np.testing.assert_allclose(scores.numpy(), golden["scores"], atol=1e-5)
    np.testing.assert_array_equal(nxt.numpy(), golden["next_states"])
    np.testing.assert_allclose(final.numpy(), golden["final"], atol=1e-5)
    np.testing.assert_allclose(sent.numpy(), golden["sentences"], atol=1e-5)


def test_save_restore_round_trip(tmp_path, toy_lm):
    toy_lm.save_to(str(tmp_path / "lm.nemo"))
    back = NGramGPULanguageModel.from_file(str(tmp_path / "lm.nemo"), vocab_size=3)
    states = torch.arange(toy_lm.num_states)
    with torch.no_grad():
        assert torch.equal(back.advance(states)[0], toy_lm.advance(states)[0])
        assert torch.equal(back.get_final(states), toy_lm.get_final(states))
    with pytest.raises(ValueError, match="3 tokens"):
        NGramGPULanguageModel.from_file(str(tmp_path / "lm.nemo"), vocab_size=4)


def test_dummy_unigram_lm_is_uniform():
    lm = NGramGPULanguageModel.dummy_unigram_lm(vocab_size=4)
    with torch.no_grad():
        scores, nxt = lm.advance(lm.get_init_states(2))
    assert torch.allclose(scores, torch.full((2, 4), -math.log(4)))
    assert lm.get_final(nxt[:, 0]).tolist() == pytest.approx([-math.log(4)] * 2)


def test_dense_tables_match_the_back_off_walk():
    lm = NGramGPULanguageModel.from_arpa(os.path.join(DATA, "kn3.arpa"), vocab_size=64)
    states = torch.randint(0, lm.num_states, (50,), generator=torch.Generator().manual_seed(0))
    walked, walked_next = lm.advance(states)  # gradients enabled: the back-off walk
    assert walked.requires_grad
    with torch.no_grad():
        dense, dense_next = lm.advance(states)  # inference: the cached full tables
    assert lm._dense is not None
    assert torch.allclose(walked.detach(), dense) and torch.equal(walked_next, dense_next)
