"""Modified Kneser-Ney estimation: hand-checked counts and discounts, and every context's distribution sums to 1."""

import math

import pytest
import torch

from nemo.collections.asr.parts.submodules.ngram_lm import NGramGPULanguageModel, estimate_kneser_ney, read_arpa, write_arpa
from nemo.collections.asr.parts.submodules.ngram_lm.constants import BOS_ID, EOS_ID, UNK_ID
from nemo.collections.asr.parts.submodules.ngram_lm.kneser_ney import adjusted_counts, count_ngrams, discounts


def test_adjusted_counts_are_left_continuations():
    raw = count_ngrams([[0, 1], [2, 1], [0, 1]], 2)
    adj = adjusted_counts(raw)
    assert raw[2][(0, 1)] == 2 and adj[2][(0, 1)] == 2  # top order keeps raw counts
    assert adj[1][(1,)] == 2  # '1' follows two distinct words
    assert adj[1][(0,)] == 1  # '0' only follows <s>
    assert (BOS_ID,) not in adj[1]


def test_discounts_follow_chen_goodman_or_fall_back():
    counts = {("a",): 1, ("b",): 1, ("c",): 1, ("d",): 2, ("e",): 3, ("f",): 4}
    y = 3 / (3 + 2 * 1)
    assert discounts(counts) == pytest.approx((1 - 2 * y * 1 / 3, 2 - 3 * y * 1 / 1, 3 - 4 * y * 1 / 1))
    assert discounts({("a",): 1}) == (0.5, 1.0, 1.5)


def test_bigram_probabilities_by_hand():
    # sentences: "0 1", "0 1"; fallback discounts (too few counts): D1=0.5, D2=1.0, D3+=1.5
    t = estimate_kneser_ney([[0, 1], [0, 1]], 2)
    words = 4  # 0, 1, </s>, <unk>
    # unigram adjusted counts: 0 -> 1 (after <s>), 1 -> 1, </s> -> 1; total 3, three singletons
    gamma0 = 0.5 * 3 / 3
    p1 = (1 - 0.5) / 3 + gamma0 / words
    assert math.exp(t.ngrams[1][(1,)][0]) == pytest.approx(p1)
    assert math.exp(t.ngrams[1][(UNK_ID,)][0]) == pytest.approx(gamma0 / words)
    # bigram "0 1": count 2 -> D2 = 1.0; context "0" has one follower with count 2: gamma = 1.0 * 1 / 2
    assert math.exp(t.ngrams[2][(0, 1)][0]) == pytest.approx((2 - 1.0) / 2 + 0.5 * p1)
    assert math.exp(t.ngrams[1][(0,)][1]) == pytest.approx(0.5)
    assert (1, EOS_ID) in t.ngrams[2]


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_every_context_sums_to_one_after_arpa_round_trip(tmp_path, order):
    gen = torch.Generator().manual_seed(order)
    sentences = [torch.randint(0, 7, (int(torch.randint(1, 9, (1,), generator=gen)),), generator=gen).tolist()
                 for _ in range(150)]
    path = str(tmp_path / "lm.arpa")
    write_arpa(path, estimate_kneser_ney(sentences, order))
    table = read_arpa(path)
    assert table.max_order == order
    lm = NGramGPULanguageModel.from_arpa(path, vocab_size=8)  # id 7 never seen: it gets <unk>'s mass
    with torch.no_grad():
        states = torch.arange(lm.num_states)
        scores, _ = lm.advance(states)
        total = torch.logsumexp(torch.cat([scores, lm.get_final(states)[:, None]], 1), 1).exp()
    assert torch.allclose(total, torch.ones_like(total), atol=2e-5)
