"""BatchedBeamHyps: step bookkeeping, merging of equal hypotheses, duplicate removal, prefix search, export."""

import math

import torch

from nemo.collections.asr.parts.utils.batched_beam_decoding_utils import INACTIVE_SCORE, BatchedBeamHyps

BLANK = 5


def _hyps(model_type="rnnt", beam=3):
    return BatchedBeamHyps(batch_size=1, beam_size=beam, blank_index=BLANK, model_type=model_type)


def test_steps_build_transcripts_frames_and_scores():
    h = _hyps()
    # beam 0 -> token 2; beams 1, 2 branch from beam 0 with token 3 and blank
    h.add_results_(torch.tensor([[0, 0, 0]]), torch.tensor([[2, 3, BLANK]]), torch.tensor([[-1.0, -2.0, -0.5]]))
    # every beam takes blank: all move to frame 1; then beam 1 adds token 4 on frame 1
    h.add_results_(torch.tensor([[0, 1, 2]]), torch.tensor([[BLANK, BLANK, BLANK]]),
                   torch.tensor([[-1.5, -2.5, -1.0]]))
    h.add_results_(torch.tensor([[0, 1, 2]]), torch.tensor([[-1, 4, -1]]), torch.tensor([[-1.5, -3.0, -1.0]]))
    out = h.to_nbest_hyps_list(score_norm=False)[0].n_best_hypotheses
    assert [list(map(int, x.y_sequence)) for x in out] == [[], [2], [3, 4]]
    assert [x.score for x in out] == [-1.0, -1.5, -3.0]
    assert [list(map(int, x.timestamp)) for x in out] == [[], [0], [0, 1]]
    # score_norm divides by tokens + 1: [3, 4] at -3/3 = -1.0 ties [] at -1.0; [2] at -0.75 is best
    assert list(map(int, h.to_hyps_list(score_norm=True)[0].y_sequence)) == [2]


def test_recombine_sums_equal_hypotheses():
    h = _hyps()
    h.add_results_(torch.tensor([[0, 0, 0]]), torch.tensor([[2, 2, 3]]), torch.tensor([[-1.0, -2.0, -0.5]]))
    h.recombine_hyps_()
    assert abs(float(h.scores[0, 0]) - math.log(math.exp(-1.0) + math.exp(-2.0))) < 1e-6
    assert float(h.scores[0, 1]) == INACTIVE_SCORE and float(h.scores[0, 2]) == -0.5


def test_tdt_durations_and_start_frames():
    h = _hyps("tdt", beam=1)
    h.add_results_(torch.tensor([[0]]), torch.tensor([[2]]), torch.tensor([[-1.0]]), torch.tensor([[0]]))
    h.add_results_(torch.tensor([[0]]), torch.tensor([[3]]), torch.tensor([[-2.0]]), torch.tensor([[4]]))
    h.add_results_(torch.tensor([[0]]), torch.tensor([[BLANK]]), torch.tensor([[-2.5]]), torch.tensor([[1]]))
    h.add_results_(torch.tensor([[0]]), torch.tensor([[1]]), torch.tensor([[-3.0]]), torch.tensor([[2]]))
    out = h.to_hyps_list()[0]
    assert list(map(int, out.y_sequence)) == [2, 3, 1]
    assert list(map(int, out.timestamp)) == [0, 0, 5]
    assert list(map(int, out.token_duration)) == [0, 4, 2]


def test_remove_duplicates_keeps_best_expansion_only():
    h = _hyps(beam=2)
    h.add_results_(torch.tensor([[0, 0]]), torch.tensor([[2, BLANK]]), torch.tensor([[-1.0, -0.7]]))
    # beam 0 = [2], beam 1 = []; beam 1 + token 2 duplicates live beam 0; beam 0 + 3 twice: keep the better
    labels = torch.tensor([[[3, 3], [2, BLANK]]])
    total = torch.tensor([[[-1.5, -1.2], [-0.9, -0.8]]])
    out = h.remove_duplicates(labels, total)
    assert torch.equal(out, torch.tensor([[[INACTIVE_SCORE, -1.2], [INACTIVE_SCORE, -0.8]]]))


def test_prefix_search_adds_path_through_shorter_hypothesis():
    h = _hyps(beam=2)
    h.add_results_(torch.tensor([[0, 0]]), torch.tensor([[2, BLANK]]), torch.tensor([[-1.0, -0.7]]))
    logps = torch.full((1, 2, BLANK + 1), -5.0)
    logps[0, 1, 2] = -0.3  # the empty hypothesis (beam 1) emits token 2 with log-prob -0.3
    h.recombine_prefixes(logps, torch.tensor([[True, True]]))
    assert abs(float(h.scores[0, 0]) - math.log(math.exp(-1.0) + math.exp(-0.7 - 0.3))) < 1e-6
    assert abs(float(h.scores[0, 1]) + 0.7) < 1e-6
