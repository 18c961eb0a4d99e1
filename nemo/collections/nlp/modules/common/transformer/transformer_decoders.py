"""Transformer decoder: masked self-attention, cross-attention and feed-forward per block, with
per-layer caches (`decoder_mems_list`) for incremental decoding."""

import copy
from typing import List, Optional

import torch
from torch import nn

from nemo.collections.nlp.modules.common.transformer.transformer_modules import (
    MultiHeadAttention,
    PositionWiseFF,
    form_attention_mask,
)


class TransformerDecoderBlock(nn.Module):
    def __init__(self, hidden_size, inner_size, num_attention_heads=1, attn_score_dropout=0.0, attn_layer_dropout=0.0,
                 ffn_dropout=0.0, hidden_act="relu", pre_ln=False):
        super().__init__()
        self.pre_ln = pre_ln
        self.layer_norm_1 = nn.LayerNorm(hidden_size, eps=1e-5)
        self.first_sub_layer = MultiHeadAttention(hidden_size, num_attention_heads, attn_score_dropout, attn_layer_dropout)
        self.layer_norm_2 = nn.LayerNorm(hidden_size, eps=1e-5)
        self.second_sub_layer = MultiHeadAttention(hidden_size, num_attention_heads, attn_score_dropout, attn_layer_dropout)
        self.layer_norm_3 = nn.LayerNorm(hidden_size, eps=1e-5)
        self.third_sub_layer = PositionWiseFF(hidden_size, inner_size, ffn_dropout, hidden_act)

    def forward(self, decoder_query, decoder_mask, decoder_keys, encoder_states, encoder_mask):
        """`decoder_query` (B, Lq, H) attends to `decoder_keys` (B, Lk, H: cache + query)."""
        if self.pre_ln:
            q, k = self.layer_norm_1(decoder_query), self.layer_norm_1(decoder_keys)
            a = decoder_query + self.first_sub_layer(q, k, k, decoder_mask)
            b = a + self.second_sub_layer(self.layer_norm_2(a), encoder_states, encoder_states, encoder_mask)
            return b + self.third_sub_layer(self.layer_norm_3(b))
        a = self.layer_norm_1(decoder_query + self.first_sub_layer(decoder_query, decoder_keys, decoder_keys, decoder_mask))
        b = self.layer_norm_2(a + self.second_sub_layer(a, encoder_states, encoder_states, encoder_mask))
        return self.layer_norm_3(b + self.third_sub_layer(b))


class TransformerDecoder(nn.Module):
    def __init__(self, num_layers, hidden_size, inner_size, num_attention_heads=1, attn_score_dropout=0.0,
                 attn_layer_dropout=0.0, ffn_dropout=0.0, hidden_act="relu", pre_ln=False, pre_ln_final_layer_norm=True):
        super().__init__()
        if pre_ln and pre_ln_final_layer_norm:
            self.final_layer_norm = nn.LayerNorm(hidden_size, eps=1e-5)
        else:
            self.final_layer_norm = None
        block = TransformerDecoderBlock(hidden_size, inner_size, num_attention_heads, attn_score_dropout,
                                        attn_layer_dropout, ffn_dropout, hidden_act, pre_ln)
        self.layers = nn.ModuleList([copy.deepcopy(block) for _ in range(num_layers)])
        self.diagonal = 0

    def _cross_mask(self, encoder_mask, query_len):
        valid = (encoder_mask != 0).unsqueeze(1).unsqueeze(1)  # (B, 1, 1, Lk)
        return ((~valid).to(torch.float32) * -10000.0).expand(-1, 1, query_len, -1)

    def forward(self, decoder_states, decoder_mask, encoder_states, encoder_mask,
                decoder_mems_list: Optional[List[torch.Tensor]] = None, return_mems: bool = False):
        """Full pass (training) or, with `decoder_mems_list`, one step whose queries are the new
        positions only. With `return_mems`, returns the per-layer inputs+outputs (the caches)."""
        query_len = decoder_states.shape[1]
        cross_mask = self._cross_mask(encoder_mask, query_len)
        if decoder_mems_list is None:
            self_mask = form_attention_mask(decoder_mask, self.diagonal)
        else:
            self_mask = None  # new positions may attend to every cached position and themselves
            if query_len > 1:
                cached = decoder_mems_list[0].shape[1]
                full = torch.ones(decoder_states.shape[0], cached + query_len, device=decoder_states.device)
                self_mask = form_attention_mask(full, cached)[:, :, cached:, :]
        mems = [decoder_states]
        keys = decoder_states if decoder_mems_list is None else torch.cat([decoder_mems_list[0], decoder_states], dim=1)
        for i, layer in enumerate(self.layers):
            decoder_states = layer(decoder_states, self_mask, keys, encoder_states, cross_mask)
            if decoder_mems_list is not None:
                keys = torch.cat([decoder_mems_list[i + 1], decoder_states], dim=1)
            else:
                keys = decoder_states
            mems.append(keys if decoder_mems_list is not None else decoder_states)
        if self.final_layer_norm is not None:
            decoder_states = self.final_layer_norm(decoder_states)
            mems.append(decoder_states if decoder_mems_list is None else torch.cat([decoder_mems_list[-1], decoder_states], 1))
        if return_mems:
            first = decoder_mems_list[0] if decoder_mems_list is not None else None
            mems[0] = mems[0] if first is None else torch.cat([first, mems[0]], dim=1)
            return mems
        return decoder_states
