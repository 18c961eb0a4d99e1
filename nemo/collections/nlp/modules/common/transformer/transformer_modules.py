"""Building blocks of NeMo's Transformer: embeddings with fixed (sinusoidal) or learned positions,
multi-head attention, position-wise feed-forward, and the attention-mask helper."""

import math
from typing import Optional

import torch
from torch import nn

NEG_INF = -10000.0


def form_attention_mask(input_mask: Optional[torch.Tensor], diagonal: Optional[int] = None) -> Optional[torch.Tensor]:
    """(B, L) 0/1 mask -> additive (B, 1, L, L) mask; with `diagonal`, future positions masked too."""
    if input_mask is None:
        return None
    valid = (input_mask != 0).unsqueeze(1)  # (B, 1, Lk)
    length = input_mask.shape[1]
    if diagonal is not None:
        future = torch.tril(torch.ones(length, length, dtype=torch.bool, device=input_mask.device), diagonal)
        valid = valid & future.unsqueeze(0)  # (B, Lq, Lk)
    else:
        valid = valid.expand(-1, length, -1)
    return ((~valid).to(torch.float32) * NEG_INF).unsqueeze(1)


class FixedPositionalEncoding(nn.Module):
    """Sinusoidal table (max_len, H) divided by sqrt(H), kept as the persistent buffer `pos_enc`."""

    def __init__(self, hidden_size: int, max_sequence_length: int = 512):
        super().__init__()
        self._hidden_size = hidden_size
        self._max_sequence_length = max_sequence_length
        self.register_buffer("pos_enc", self._table(max_sequence_length), persistent=True)

    def _table(self, length: int) -> torch.Tensor:
        pos = torch.arange(0.0, length).unsqueeze(1)
        coef = -math.log(10000.0) / self._hidden_size
        div = torch.exp(coef * torch.arange(0.0, self._hidden_size, 2))
        table = torch.zeros(length, self._hidden_size)
        table[:, 0::2] = torch.sin(pos * div)
        table[:, 1::2] = torch.cos(pos * div)[:, : self._hidden_size // 2]
        return table / math.sqrt(self._hidden_size)

    def forward(self, position_ids: torch.Tensor) -> torch.Tensor:
        if position_ids.numel() and int(position_ids.max()) >= self.pos_enc.shape[0]:
            table = self._table(int(position_ids.max()) + 1).to(self.pos_enc)
            return nn.functional.embedding(position_ids, table)
        return nn.functional.embedding(position_ids, self.pos_enc)


class TransformerEmbedding(nn.Module):
    """`LayerNorm(token + position [+ token type])`, then dropout (no sqrt(H) scaling)."""

    def __init__(self, vocab_size: int, hidden_size: int, max_sequence_length: int = 512, num_token_types: int = 2,
                 embedding_dropout: float = 0.0, learn_positional_encodings: bool = False, padding_idx: int = 0):
        super().__init__()
        self.max_sequence_length = max_sequence_length
        self.learn_positional_encodings = learn_positional_encodings
        self.token_embedding = nn.Embedding(vocab_size, hidden_size, padding_idx=padding_idx)
        if learn_positional_encodings:
            self.position_embedding = nn.Embedding(max_sequence_length, hidden_size)
        else:
            self.position_embedding = FixedPositionalEncoding(hidden_size, max_sequence_length)
        if num_token_types > 0:
            self.token_type_embedding = nn.Embedding(num_token_types, hidden_size)
        self.layer_norm = nn.LayerNorm(hidden_size, eps=1e-5)
        self.dropout = nn.Dropout(embedding_dropout)

    def forward(self, input_ids: torch.Tensor, token_type_ids: Optional[torch.Tensor] = None, start_pos: int = 0) -> torch.Tensor:
        length = input_ids.shape[1]
        if self.learn_positional_encodings and start_pos + length > self.max_sequence_length:
            raise ValueError(f"input of {start_pos + length} tokens exceeds max_sequence_length={self.max_sequence_length}")
        positions = torch.arange(start_pos, start_pos + length, device=input_ids.device).unsqueeze(0).expand_as(input_ids)
        embeddings = self.token_embedding(input_ids) + self.position_embedding(positions)
        if token_type_ids is not None and hasattr(self, "token_type_embedding"):
            embeddings = embeddings + self.token_type_embedding(token_type_ids)
        return self.dropout(self.layer_norm(embeddings))


class MultiHeadAttention(nn.Module):
    """Scaled dot-product attention; q and k are each scaled by (H/heads)^-1/4."""

    def __init__(self, hidden_size: int, num_attention_heads: int, attn_score_dropout: float = 0.0, attn_layer_dropout: float = 0.0):
        super().__init__()
        if hidden_size % num_attention_heads != 0:
            raise ValueError(f"hidden_size {hidden_size} is not a multiple of num_attention_heads {num_attention_heads}")
        self.hidden_size = hidden_size
        self.num_attention_heads = num_attention_heads
        self.attn_head_size = hidden_size // num_attention_heads
        self.attn_scale = math.sqrt(math.sqrt(self.attn_head_size))
        self.query_net = nn.Linear(hidden_size, hidden_size)
        self.key_net = nn.Linear(hidden_size, hidden_size)
        self.value_net = nn.Linear(hidden_size, hidden_size)
        self.out_projection = nn.Linear(hidden_size, hidden_size)
        self.attn_dropout = nn.Dropout(attn_score_dropout)
        self.layer_dropout = nn.Dropout(attn_layer_dropout)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, l, _ = x.shape
        return x.view(b, l, self.num_attention_heads, self.attn_head_size).permute(0, 2, 1, 3)  # (B, h, L, d)

    def forward(self, queries, keys, values, attention_mask=None):
        q = self._heads(self.query_net(queries)) / self.attn_scale
        k = self._heads(self.key_net(keys)) / self.attn_scale
        v = self._heads(self.value_net(values))
        scores = torch.matmul(q, k.transpose(-1, -2))  # (B, h, Lq, Lk)
        if attention_mask is not None:
            scores = scores + attention_mask.to(scores.dtype)
        probs = self.attn_dropout(torch.softmax(scores, dim=-1))
        context = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        context = context.view(context.shape[0], context.shape[1], self.hidden_size)
        return self.layer_dropout(self.out_projection(context))


class PositionWiseFF(nn.Module):
    """dense_in -> relu/gelu -> dense_out -> dropout."""

    def __init__(self, hidden_size: int, inner_size: int, ffn_dropout: float = 0.0, hidden_act: str = "relu"):
        super().__init__()
        if hidden_act not in ("relu", "gelu"):
            raise ValueError(f"hidden_act must be relu or gelu, got {hidden_act!r}")
        self.dense_in = nn.Linear(hidden_size, inner_size)
        self.dense_out = nn.Linear(inner_size, hidden_size)
        self.layer_dropout = nn.Dropout(ffn_dropout)
        self.act_fn = getattr(nn.functional, hidden_act)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.layer_dropout(self.dense_out(self.act_fn(self.dense_in(hidden_states))))
