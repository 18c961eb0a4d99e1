"""`TransformerEncoderNM` / `TransformerDecoderNM`: embedding + stack, with NeMo's key names
(`_embedding.*`, `_encoder.*` / `_decoder.*`), and `get_transformer` to build them from a config."""

from typing import Any, Dict, List, Optional

import torch

from nemo.collections.nlp.modules.common.transformer.transformer_decoders import TransformerDecoder
from nemo.collections.nlp.modules.common.transformer.transformer_encoders import TransformerEncoder
from nemo.collections.nlp.modules.common.transformer.transformer_modules import TransformerEmbedding
from nemo.core.classes.exportable import Exportable
from nemo.core.classes.module import NeuralModule
from nemo.core.neural_types import ChannelType, MaskType, NeuralType


class TransformerEncoderNM(NeuralModule, Exportable):
    """`forward(input_ids (B, L), encoder_mask (B, L)) -> (B, L, H)`."""

    def __init__(self, vocab_size, hidden_size, num_layers, inner_size, num_attention_heads, max_sequence_length=512,
                 num_token_types=2, embedding_dropout=0.0, learn_positional_encodings=False, ffn_dropout=0.0,
                 attn_score_dropout=0.0, attn_layer_dropout=0.0, hidden_act="relu", mask_future=False,
                 pre_ln=False, pre_ln_final_layer_norm=True, padding_idx=0):
        super().__init__()
        self._vocab_size = vocab_size
        self._hidden_size = hidden_size
        self._max_sequence_length = max_sequence_length
        self._embedding = TransformerEmbedding(vocab_size, hidden_size, max_sequence_length, num_token_types,
                                               embedding_dropout, learn_positional_encodings, padding_idx)
        self._encoder = TransformerEncoder(num_layers, hidden_size, inner_size, mask_future, num_attention_heads,
                                           attn_score_dropout, attn_layer_dropout, ffn_dropout, hidden_act,
                                           pre_ln, pre_ln_final_layer_norm)

    @property
    def input_types(self):
        return {"input_ids": NeuralType(("B", "T"), ChannelType()), "encoder_mask": NeuralType(("B", "T"), MaskType())}

    @property
    def output_types(self):
        return {"last_hidden_states": NeuralType(("B", "T", "D"), ChannelType())}

    def forward(self, input_ids: torch.Tensor, encoder_mask: torch.Tensor) -> torch.Tensor:
        return self._encoder(encoder_states=self._embedding(input_ids=input_ids), encoder_mask=encoder_mask)

    hidden_size = property(lambda self: self._hidden_size)
    vocab_size = property(lambda self: self._vocab_size)
    max_sequence_length = property(lambda self: self._max_sequence_length)
    embedding = property(lambda self: self._embedding)
    encoder = property(lambda self: self._encoder)

    def input_example(self, max_batch: int = 2, max_dim: int = 12):
        device = next(self.parameters()).device
        ids = torch.randint(low=1, high=self._vocab_size, size=(max_batch, max_dim), device=device)
        mask = torch.ones_like(ids)
        mask[-1, max_dim // 2:] = 0
        return ids, mask


class TransformerDecoderNM(NeuralModule, Exportable):
    """`forward(input_ids, decoder_mask, encoder_embeddings, encoder_mask) -> (B, L, H)`."""

    def __init__(self, vocab_size, hidden_size, num_layers, inner_size, num_attention_heads, max_sequence_length=512,
                 num_token_types=2, embedding_dropout=0.0, learn_positional_encodings=False, ffn_dropout=0.0,
                 attn_score_dropout=0.0, attn_layer_dropout=0.0, hidden_act="relu", pre_ln=False,
                 pre_ln_final_layer_norm=True, padding_idx=0, r2l=False):
        super().__init__()
        self._vocab_size = vocab_size
        self._hidden_size = hidden_size
        self._max_sequence_length = max_sequence_length
        self._embedding = TransformerEmbedding(vocab_size, hidden_size, max_sequence_length, num_token_types,
                                               embedding_dropout, learn_positional_encodings, padding_idx)
        self._decoder = TransformerDecoder(num_layers, hidden_size, inner_size, num_attention_heads, attn_score_dropout,
                                           attn_layer_dropout, ffn_dropout, hidden_act, pre_ln, pre_ln_final_layer_norm)

    def forward(self, input_ids, decoder_mask, encoder_embeddings, encoder_mask, decoder_mems=None):
        start_pos = 0 if decoder_mems is None else decoder_mems[0].shape[1]
        states = self._embedding(input_ids=input_ids, start_pos=start_pos)
        return self._decoder(states, decoder_mask, encoder_embeddings, encoder_mask, decoder_mems_list=decoder_mems)

    hidden_size = property(lambda self: self._hidden_size)
    vocab_size = property(lambda self: self._vocab_size)
    max_sequence_length = property(lambda self: self._max_sequence_length)
    embedding = property(lambda self: self._embedding)
    decoder = property(lambda self: self._decoder)


_POPPED = ("library", "model_name", "pretrained", "checkpoint_file", "r2l")


def get_transformer(library: str = "nemo", config_dict: Optional[Dict[str, Any]] = None, encoder: bool = True,
                    pre_ln_final_layer_norm: bool = True, padding_idx: int = 0):
    """Build a NeMo Transformer encoder or decoder from a config dict (with `vocab_size`)."""
    if library != "nemo":
        raise NotImplementedError(f"transformer library {library!r} is not supported; use 'nemo'")
    cfg = {k: v for k, v in dict(config_dict or {}).items() if k not in _POPPED}
    cfg["pre_ln_final_layer_norm"] = pre_ln_final_layer_norm
    cfg["padding_idx"] = padding_idx
    if encoder:
        cfg.setdefault("mask_future", False)
        return TransformerEncoderNM(**cfg)
    cfg.pop("mask_future", None)
    return TransformerDecoderNM(**cfg)
