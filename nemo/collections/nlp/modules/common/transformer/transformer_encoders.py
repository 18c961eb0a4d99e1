"""Transformer encoder: a stack of self-attention + feed-forward blocks, post-LN by default."""

import copy
from typing import Optional

import torch
from torch import nn

from nemo.collections.nlp.modules.common.transformer.transformer_modules import (
    MultiHeadAttention,
    PositionWiseFF,
    form_attention_mask,
)


class TransformerEncoderBlock(nn.Module):
    def __init__(self, hidden_size, inner_size, num_attention_heads=1, attn_score_dropout=0.0, attn_layer_dropout=0.0,
                 ffn_dropout=0.0, hidden_act="relu", pre_ln=False):
        super().__init__()
        self.pre_ln = pre_ln
        self.layer_norm_1 = nn.LayerNorm(hidden_size, eps=1e-5)
        self.first_sub_layer = MultiHeadAttention(hidden_size, num_attention_heads, attn_score_dropout, attn_layer_dropout)
        self.layer_norm_2 = nn.LayerNorm(hidden_size, eps=1e-5)
        self.second_sub_layer = PositionWiseFF(hidden_size, inner_size, ffn_dropout, hidden_act)

    def forward(self, encoder_query, encoder_mask, encoder_keys):
        if self.pre_ln:
            q, k = self.layer_norm_1(encoder_query), self.layer_norm_1(encoder_keys)
            y = encoder_query + self.first_sub_layer(q, k, k, encoder_mask)
            return y + self.second_sub_layer(self.layer_norm_2(y))
        y = self.layer_norm_1(encoder_query + self.first_sub_layer(encoder_query, encoder_keys, encoder_keys, encoder_mask))
        return self.layer_norm_2(y + self.second_sub_layer(y))


class TransformerEncoder(nn.Module):
    def __init__(self, num_layers, hidden_size, inner_size, mask_future=False, num_attention_heads=1,
                 attn_score_dropout=0.0, attn_layer_dropout=0.0, ffn_dropout=0.0, hidden_act="relu",
                 pre_ln=False, pre_ln_final_layer_norm=True):
        super().__init__()
        if pre_ln and pre_ln_final_layer_norm:
            self.final_layer_norm = nn.LayerNorm(hidden_size, eps=1e-5)
        else:
            self.final_layer_norm = None
        block = TransformerEncoderBlock(hidden_size, inner_size, num_attention_heads, attn_score_dropout,
                                        attn_layer_dropout, ffn_dropout, hidden_act, pre_ln)
        self.layers = nn.ModuleList([copy.deepcopy(block) for _ in range(num_layers)])
        self.diag = 0 if mask_future else None

    def forward(self, encoder_states: torch.Tensor, encoder_mask: torch.Tensor) -> torch.Tensor:
        mask = form_attention_mask(encoder_mask, self.diag)
        for layer in self.layers:
            encoder_states = layer(encoder_states, mask, encoder_states)
        if self.final_layer_norm is not None:
            encoder_states = self.final_layer_norm(encoder_states)
        return encoder_states
