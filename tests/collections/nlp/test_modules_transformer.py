"""NeMo Transformer pieces: embeddings, masks, incremental decoding, beam search, batching."""

import math

import pytest
import torch

from nemo.collections.nlp.data.machine_translation.translation_dataset import pack_data_into_batches
from nemo.collections.nlp.losses import SmoothedCrossEntropyLoss
from nemo.collections.nlp.modules.common.classifiers import TokenClassifier
from nemo.collections.nlp.modules.common.transformer.transformer import get_transformer
from nemo.collections.nlp.modules.common.transformer.transformer_generators import BeamSearchSequenceGenerator
from nemo.collections.nlp.modules.common.transformer.transformer_modules import FixedPositionalEncoding, form_attention_mask

SMALL = dict(vocab_size=30, hidden_size=16, num_layers=2, inner_size=32, num_attention_heads=2, num_token_types=0)


def test_fixed_positional_encoding_table():
    pe = FixedPositionalEncoding(8, 10)
    assert pe.pos_enc.shape == (10, 8)
    assert pe.pos_enc[3, 0].item() == pytest.approx(math.sin(3) / math.sqrt(8), abs=1e-6)
    assert pe.pos_enc[3, 1].item() == pytest.approx(math.cos(3) / math.sqrt(8), abs=1e-6)
    assert pe(torch.tensor([[12]])).shape == (1, 1, 8)  # beyond the table: rebuilt on the fly


def test_attention_mask_future_and_padding():
    mask = form_attention_mask(torch.tensor([[1, 1, 0]]), diagonal=0)
    assert mask.shape == (1, 1, 3, 3)
    assert mask[0, 0, 0].tolist() == [0, -10000, -10000] and mask[0, 0, 2].tolist() == [0, 0, -10000]


def test_encoder_decoder_key_names():
    enc = get_transformer("nemo", SMALL, encoder=True)
    dec = get_transformer("nemo", SMALL, encoder=False)
    keys = set(enc.state_dict())
    assert "_embedding.position_embedding.pos_enc" in keys and "_encoder.layers.1.second_sub_layer.dense_in.weight" in keys
    assert "_embedding.token_type_embedding.weight" not in keys
    assert "_decoder.layers.0.third_sub_layer.dense_out.bias" in dec.state_dict()
    assert "_decoder.layers.0.second_sub_layer.key_net.weight" in dec.state_dict()


def _model(seed=0):
    torch.manual_seed(seed)
    enc = get_transformer("nemo", SMALL, encoder=True).eval()
    dec = get_transformer("nemo", SMALL, encoder=False).eval()
    head = TokenClassifier(16, 30, log_softmax=True).eval()
    return enc, dec, head


def test_incremental_decoding_equals_full_pass():
    enc, dec, _ = _model()
    src = torch.randint(3, 30, (2, 5))
    src_mask = torch.ones_like(src)
    src_mask[1, 3:] = 0
    tgt = torch.randint(3, 30, (2, 6))
    with torch.no_grad():
        h = enc(src, src_mask)
        full = dec(tgt, torch.ones_like(tgt), h, src_mask)
        mems, steps = None, []
        for p in range(tgt.shape[1]):
            x = dec.embedding(tgt[:, p:p + 1], start_pos=p)
            mems = dec.decoder(x, torch.ones_like(tgt[:, :1]), h, src_mask, decoder_mems_list=mems, return_mems=True)
            steps.append(mems[-1][:, -1:])
    assert torch.allclose(torch.cat(steps, 1), full, atol=1e-5)


def _beam(beam, len_pen=0.0):
    enc, dec, head = _model()
    gen = BeamSearchSequenceGenerator(dec.embedding, dec.decoder, head, beam_size=beam, len_pen=len_pen,
                                      pad=0, bos=1, eos=2, max_sequence_length=20, max_delta_length=4)
    src = torch.randint(3, 30, (3, 5))
    return gen, enc(src, torch.ones_like(src)), torch.ones_like(src), dec, head


def test_beam_one_is_greedy_and_beam_scores():
    gen, h, m, dec, head = _beam(1)
    best = gen(encoder_hidden_states=h, encoder_input_mask=m)
    assert best.shape[1] <= 1 + 5 + 4 - 1 + 1 and (best[:, 0] == 1).all()
    # greedy check by hand: each next token is the argmax given the prefix
    with torch.no_grad():
        for t in range(1, best.shape[1]):
            logp = head(hidden_states=dec(best[:, :t], torch.ones_like(best[:, :t]), h, m))[:, -1]
            alive = ~((best[:, :t] == 2).any(1))
            assert (logp.argmax(-1)[alive] == best[alive, t]).all()
    gen4, h, m, *_ = _beam(4, len_pen=0.6)
    all_tokens, scores, best4 = gen4(encoder_hidden_states=h, encoder_input_mask=m, return_beam_scores=True)
    assert all_tokens.shape[:2] == (3, 4) and scores.shape == (3, 4)
    assert torch.equal(best4, all_tokens[torch.arange(3), scores.argmax(-1)])


def test_beam_search_not_worse_than_greedy_in_model_score():
    def score(tokens, h, m, dec, head):
        with torch.no_grad():
            logp = head(hidden_states=dec(tokens[:, :-1], torch.ones_like(tokens[:, :-1]), h, m))
        lp = logp.gather(-1, tokens[:, 1:].unsqueeze(-1)).squeeze(-1)
        ended = torch.cumsum((tokens[:, :-1] == 2).long(), 1) > 0
        return lp.masked_fill(ended, 0).sum(-1)

    gen1, h, m, dec, head = _beam(1)
    gen4, *_ = _beam(4)
    greedy = score(gen1(encoder_hidden_states=h, encoder_input_mask=m), h, m, dec, head)
    beam = score(gen4(encoder_hidden_states=h, encoder_input_mask=m), h, m, dec, head)
    assert (beam >= greedy - 1e-4).all()


def test_smoothed_cross_entropy():
    logp = torch.log_softmax(torch.randn(2, 3, 5), -1)
    labels = torch.tensor([[1, 2, 0], [3, 0, 0]])
    plain = SmoothedCrossEntropyLoss(pad_id=0)(log_probs=logp, labels=labels)
    mask = labels != 0
    expected = -logp.gather(-1, labels.unsqueeze(-1)).squeeze(-1)[mask].mean()
    assert plain.item() == pytest.approx(expected.item(), rel=1e-4)
    smooth = SmoothedCrossEntropyLoss(pad_id=0, label_smoothing=0.1)(log_probs=logp, labels=labels)
    s = 5 * 0.1 / 4
    nll = (1 - s) * logp.gather(-1, labels.unsqueeze(-1)).squeeze(-1) + s * logp.mean(-1)
    assert smooth.item() == pytest.approx((-(nll * mask).sum() / mask.sum()).item(), rel=1e-4)


def test_tokens_in_batch_packing():
    src = [[0] * n for n in (3, 3, 4, 4, 5, 9)] * 4
    tgt = [[0] * n for n in (4, 3, 5, 2, 6, 9)] * 4
    batches = pack_data_into_batches(src, tgt, tokens_in_batch=64)
    assert sorted(i for b in batches for i in b) == list(range(len(src)))
    for b in batches:
        size = len(b) * (max(len(src[i]) for i in b) + max(len(tgt[i]) for i in b))
        assert size <= 64 or len(b) % 8 == 0 or len(b) <= 8
    assert pack_data_into_batches(src, tgt, 64) == batches  # deterministic
    assert all(len(b) % 8 == 0 for b in batches[:-1] if len(b) > 8)
