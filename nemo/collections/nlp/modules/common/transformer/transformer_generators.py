"""Decoding for the Transformer decoder: greedy and beam search with the GNMT length penalty.

Both run the decoder incrementally (one new position per step over per-layer caches) with the
embedding, decoder and output head frozen in eval mode.
"""

from typing import Optional, Tuple

import torch


class GreedySequenceGenerator:
    """Argmax decoding until every sequence has produced `eos` or the length limit is reached."""

    def __init__(self, embedding, decoder, log_softmax, pad: int = 0, bos: int = 1, eos: int = 2,
                 max_sequence_length: int = 512, max_delta_length: int = 20, batch_size: int = 1):
        self.embedding, self.decoder, self.log_softmax = embedding, decoder, log_softmax
        self.pad, self.bos, self.eos = pad, bos, eos
        self.max_seq_length = max_sequence_length
        self.max_delta_len = max_delta_length
        self.batch_size = batch_size

    def _max_len(self, encoder_hidden_states: Optional[torch.Tensor]) -> int:
        if encoder_hidden_states is not None and self.max_delta_len >= 0:
            return min(self.max_seq_length, encoder_hidden_states.shape[1] + self.max_delta_len)
        return self.max_seq_length

    def _one_step(self, tokens, encoder_hidden_states, encoder_input_mask, mems, pos):
        """Log-probs (B, V) for the token after `tokens[:, -1]`, and the updated caches."""
        states = self.embedding(tokens[:, -1:], start_pos=pos)
        mask = torch.ones_like(tokens[:, -1:])
        mems = self.decoder(states, mask, encoder_hidden_states, encoder_input_mask,
                            decoder_mems_list=mems, return_mems=True) if mems is not None else \
            self.decoder(states, mask, encoder_hidden_states, encoder_input_mask, return_mems=True)
        return self.log_softmax(hidden_states=mems[-1][:, -1:])[:, -1].float(), mems

    def _frozen(self):
        modules = (self.embedding, self.decoder, self.log_softmax)
        return [(m, m.training) for m in modules]

    @torch.no_grad()
    def __call__(self, decoder_input_ids=None, encoder_hidden_states=None, encoder_input_mask=None, return_beam_scores=False):
        states = self._frozen()
        for m, _ in states:
            m.eval()
        try:
            return self._forward(encoder_hidden_states, encoder_input_mask, return_beam_scores)
        finally:
            for m, mode in states:
                m.train(mode)

    def _forward(self, encoder_hidden_states, encoder_input_mask, return_beam_scores):
        batch = encoder_hidden_states.shape[0]
        device = encoder_hidden_states.device
        tokens = torch.full((batch, 1), self.bos, dtype=torch.long, device=device)
        done = torch.zeros(batch, dtype=torch.bool, device=device)
        mems = None
        for pos in range(self._max_len(encoder_hidden_states) - 1):
            logp, mems = self._one_step(tokens, encoder_hidden_states, encoder_input_mask, mems, pos)
            nxt = logp.argmax(-1)
            nxt = torch.where(done, torch.full_like(nxt, self.pad), nxt)
            tokens = torch.cat([tokens, nxt.unsqueeze(1)], dim=1)
            done = done | (nxt == self.eos)
            if bool(done.all()):
                break
        return tokens


class BeamSearchSequenceGenerator(GreedySequenceGenerator):
    """Beam search; candidate scores are divided by `((5 + len) / 6) ** len_pen` (GNMT), where
    `len` counts the prefix's non-eos, non-pad tokens plus one. Finished beams only extend with pad
    at zero cost. Returns the best sequence per item (B, L); with `return_beam_scores`, also all
    beams (B, beam, L) and their penalised scores."""

    def __init__(self, embedding, decoder, log_softmax, beam_size: int = 1, len_pen: float = 0, **kwargs):
        super().__init__(embedding, decoder, log_softmax, **kwargs)
        self.beam_size = beam_size
        self.len_pen = len_pen

    def _penalty(self, lengths: torch.Tensor) -> torch.Tensor:
        return ((5.0 + lengths) / 6.0).pow(self.len_pen)

    def _lengths(self, tokens: torch.Tensor) -> torch.Tensor:
        """1 + number of tokens that are neither eos nor pad (bos counted), per row (N, 1)."""
        return 1.0 + ((tokens != self.eos) & (tokens != self.pad)).sum(1, keepdim=True).float()

    def _forward(self, encoder_hidden_states, encoder_input_mask, return_beam_scores):
        if self.beam_size <= 1 and not return_beam_scores:
            return super()._forward(encoder_hidden_states, encoder_input_mask, return_beam_scores)
        beam = self.beam_size
        batch = encoder_hidden_states.shape[0]
        device = encoder_hidden_states.device
        max_len = self._max_len(encoder_hidden_states)
        tokens = torch.full((batch, 1), self.bos, dtype=torch.long, device=device)
        logp, mems = self._one_step(tokens, encoder_hidden_states, encoder_input_mask, None, 0)
        raw, first = logp.topk(beam, dim=-1)  # (B, beam): summed log-probs, unpenalised
        raw = raw.reshape(-1, 1)  # (B*beam, 1)
        tokens = torch.cat([tokens.repeat_interleave(beam, 0), first.reshape(-1, 1)], dim=1)
        enc = encoder_hidden_states.repeat_interleave(beam, 0)
        enc_mask = encoder_input_mask.repeat_interleave(beam, 0)
        mems = [m.repeat_interleave(beam, 0) for m in mems]
        offsets = (torch.arange(batch, device=device) * beam).unsqueeze(1)

        for pos in range(1, max_len - 1):
            ended = (tokens[:, -1:] == self.eos) | (tokens[:, -1:] == self.pad)  # (B*beam, 1)
            if bool(ended.all()):
                break
            logp, mems = self._one_step(tokens, enc, enc_mask, mems, pos)
            cand_lp, cand_ids = logp.topk(beam, dim=-1)  # (B*beam, beam)
            # a finished beam continues only with pad, at no cost; its other candidates are removed
            cand_ids = torch.where(ended, torch.full_like(cand_ids, self.pad), cand_ids)
            only_first = torch.zeros_like(cand_lp)
            only_first[:, 1:] = float("-inf")
            cand_lp = torch.where(ended, only_first, cand_lp)
            cand_raw = raw + cand_lp
            cand_len = self._lengths(tokens) + ((cand_ids != self.eos) & (cand_ids != self.pad)).float()
            cand_scores = (cand_raw / self._penalty(cand_len)).view(batch, beam * beam)
            _, top_idx = cand_scores.topk(beam, dim=-1)  # (B, beam)
            rows = (top_idx // beam + offsets).reshape(-1)
            raw = cand_raw.view(batch, -1).gather(1, top_idx).reshape(-1, 1)
            chosen = cand_ids.view(batch, -1).gather(1, top_idx).reshape(-1, 1)
            tokens = torch.cat([tokens[rows], chosen], dim=1)
            mems = [m[rows] for m in mems]

        final = (raw / self._penalty(self._lengths(tokens))).view(batch, beam)
        best = final.argmax(dim=-1)
        all_tokens = tokens.view(batch, beam, -1)
        best_tokens = all_tokens[torch.arange(batch, device=device), best]
        if return_beam_scores:
            return all_tokens, final, best_tokens
        return best_tokens
