"""Phrase boosting: the tree's bonuses and pay-backs, and a key phrase winning on a lattice where it is spoken."""

import math

import pytest
import torch
from omegaconf import OmegaConf

from nemo.collections.asr.parts.context_biasing import GPUBoostingTreeModel
from nemo.collections.asr.parts.submodules.ctc_decoding import CTCDecoding
from nemo.core.classes.exceptions import ConfigError

VOCAB = list(" abc'")
BLANK = len(VOCAB)


def test_tree_rewards_phrase_tokens_and_takes_back_partial_matches():
    # phrase "c a b" = ids 3 1 2; context_score 1, depth_scaling 2: bonuses 1, 2*1+log 2, 2*1+log 3
    tree = GPUBoostingTreeModel.from_phrases([[3, 1, 2]], vocab_size=5, context_score=1.0, depth_scaling=2.0)
    with torch.no_grad():
        state = tree.get_init_states(1)
        total = 0.0
        for tok, bonus in [(3, 1.0), (1, 2 + math.log(2)), (2, 2 + math.log(3))]:
            scores, nxt = tree.advance(state)
            assert scores[0, tok].item() == pytest.approx(bonus, abs=1e-5)
            total += scores[0, tok].item()
            state = nxt[0, tok:tok + 1]
        assert tree.get_final(state).item() == pytest.approx(1.0)  # final_eos_score after a full phrase
        scores, _ = tree.advance(state)
        assert scores[0, 0].item() == pytest.approx(0.0)  # a finished phrase keeps its bonus
        # "c a" then " ": the partial bonus is paid back
        state = tree.get_init_states(1)
        partial = 0.0
        for tok in (3, 1):
            scores, nxt = tree.advance(state)
            partial += scores[0, tok].item()
            state = nxt[0, tok:tok + 1]
        scores, _ = tree.advance(state)
        assert partial + scores[0, 0].item() == pytest.approx(0.0, abs=1e-5)


def _lattice(frames):
    """Log-probs from per-frame {label: prob} dicts; the rest of the mass spread over the other labels."""
    rows = []
    for probs in frames:
        rest = (1 - sum(probs.values())) / (BLANK + 1 - len(probs))
        rows.append([math.log(probs.get(i, rest)) for i in range(BLANK + 1)])
    return torch.tensor(rows)


def test_key_phrase_wins_where_it_is_spoken():
    a, b, c, sp = 1, 2, 3, 0
    spoken = _lattice([{c: 0.9}, {BLANK: 0.9}, {a: 0.4, b: 0.5}, {BLANK: 0.9}, {b: 0.9}])
    other = _lattice([{a: 0.9}, {BLANK: 0.9}, {sp: 0.9}, {BLANK: 0.9}, {b: 0.9}])
    lp = torch.stack([spoken, other])
    lengths = torch.tensor([5, 5])
    base = {"strategy": "beam_batch", "beam": {"beam_size": 8, "beam_beta": 0.0}}
    plain = CTCDecoding(OmegaConf.create(base), VOCAB)
    boosted_cfg = OmegaConf.create(base)
    boosted_cfg.beam.boosting_tree = {"key_phrases_list": ["cab"], "context_score": 1.0, "depth_scaling": 2.0}
    boosted_cfg.beam.boosting_tree_alpha = 0.5
    boosted = CTCDecoding(boosted_cfg, VOCAB)
    assert [h.text for h in plain.ctc_decoder_predictions_tensor(lp, lengths)] == ["cbb", "a b"]
    assert [h.text for h in boosted.ctc_decoder_predictions_tensor(lp, lengths)] == ["cab", "a b"]


def test_phrases_from_file_and_bad_configs(tmp_path):
    path = tmp_path / "phrases.txt"
    path.write_text("cab\nba\n", encoding="utf-8")
    cfg = {"strategy": "beam_batch", "beam": {"boosting_tree": {"key_phrases_file": str(path)}, "boosting_tree_alpha": 1.0}}
    dec = CTCDecoding(OmegaConf.create(cfg), VOCAB)
    assert len(dec.decoding.search_algorithm.fusions) == 1
    cfg["beam"]["boosting_tree"]["key_phrases_list"] = ["ab"]
    with pytest.raises(ConfigError, match="not both"):
        CTCDecoding(OmegaConf.create(cfg), VOCAB)
    cfg["beam"]["boosting_tree"] = {"key_phrases_file": str(tmp_path / "missing.txt")}
    with pytest.raises(ConfigError, match="cannot read"):
        CTCDecoding(OmegaConf.create(cfg), VOCAB)
