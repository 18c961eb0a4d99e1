"""Tacotron 2 (spec §C4): conv+BiLSTM encoder, location-sensitive attention, autoregressive decoder, postnet.

Shapes: tokens embedded to (B, C, T_text); mel frames (B, n_mels, T); gate logits (B, T); alignments (B, T, T_text).
"""

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from nemo.collections.tts.modules.layers import ConvNorm, LinearNorm, get_mask_from_lengths


class Encoder(nn.Module):
    """`encoder_n_convolutions` x (conv, batch norm, relu, dropout 0.5) then a bidirectional LSTM."""

    def __init__(self, encoder_n_convolutions: int = 3, encoder_embedding_dim: int = 512, encoder_kernel_size: int = 5):
        super().__init__()
        self.convolutions = nn.ModuleList(
            nn.Sequential(
                ConvNorm(encoder_embedding_dim, encoder_embedding_dim, encoder_kernel_size, w_init_gain="relu"),
                nn.BatchNorm1d(encoder_embedding_dim),
            )
            for _ in range(encoder_n_convolutions)
        )
        self.lstm = nn.LSTM(encoder_embedding_dim, encoder_embedding_dim // 2, 1, batch_first=True, bidirectional=True)

    def forward(self, token_embedding: torch.Tensor, token_len: torch.Tensor) -> torch.Tensor:
        x = token_embedding  # (B, C, T)
        for conv in self.convolutions:
            x = F.dropout(F.relu(conv(x)), 0.5, self.training)
        x = x.transpose(1, 2)
        packed = nn.utils.rnn.pack_padded_sequence(x, token_len.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.size(1))
        return out  # (B, T, C)


class Prenet(nn.Module):
    """Two linear+relu layers with dropout that stays on at inference (one mask per step, shared by the batch)."""

    def __init__(self, in_dim: int, sizes, p_dropout: float = 0.5):
        super().__init__()
        in_sizes = [in_dim] + list(sizes[:-1])
        self.layers = nn.ModuleList(LinearNorm(i, o, bias=False) for i, o in zip(in_sizes, sizes))
        self.p_dropout = p_dropout

    def forward(self, x: torch.Tensor, inference: bool = False) -> torch.Tensor:
        for linear in self.layers:
            x = F.relu(linear(x))
            if inference:
                keep = torch.bernoulli(torch.full_like(x[0], 1 - self.p_dropout))
                x = x * keep.unsqueeze(0) / (1 - self.p_dropout)
            else:
                x = F.dropout(x, self.p_dropout, training=True)
        return x


class LocationLayer(nn.Module):
    def __init__(self, attention_n_filters: int, attention_kernel_size: int, attention_dim: int):
        super().__init__()
        self.location_conv = ConvNorm(2, attention_n_filters, attention_kernel_size, bias=False)
        self.location_dense = LinearNorm(attention_n_filters, attention_dim, bias=False, w_init_gain="tanh")

    def forward(self, attention_weights_cat: torch.Tensor) -> torch.Tensor:
        return self.location_dense(self.location_conv(attention_weights_cat).transpose(1, 2))


class Attention(nn.Module):
    """Location-sensitive additive attention over the encoder outputs."""

    def __init__(self, attention_rnn_dim, embedding_dim, attention_dim, attention_location_n_filters,
                 attention_location_kernel_size):
        super().__init__()
        self.query_layer = LinearNorm(attention_rnn_dim, attention_dim, bias=False, w_init_gain="tanh")
        self.memory_layer = LinearNorm(embedding_dim, attention_dim, bias=False, w_init_gain="tanh")
        self.v = LinearNorm(attention_dim, 1, bias=False)
        self.location_layer = LocationLayer(attention_location_n_filters, attention_location_kernel_size, attention_dim)
        self.score_mask_value = -float("inf")

    def forward(self, query, memory, processed_memory, attention_weights_cat, mask):
        processed_query = self.query_layer(query.unsqueeze(1))
        processed_location = self.location_layer(attention_weights_cat)
        energies = self.v(torch.tanh(processed_query + processed_location + processed_memory)).squeeze(-1)
        if mask is not None:
            energies = energies.masked_fill(mask, self.score_mask_value)
        weights = F.softmax(energies, dim=1)
        context = torch.bmm(weights.unsqueeze(1), memory).squeeze(1)
        return context, weights


class Decoder(nn.Module):
    """Autoregressive mel decoder: prenet -> attention LSTM -> attention -> decoder LSTM -> (frame, stop logit)."""

    def __init__(
        self,
        n_mel_channels: int = 80,
        n_frames_per_step: int = 1,
        encoder_embedding_dim: int = 512,
        attention_dim: int = 128,
        attention_location_n_filters: int = 32,
        attention_location_kernel_size: int = 31,
        attention_rnn_dim: int = 1024,
        decoder_rnn_dim: int = 1024,
        prenet_dim: int = 256,
        max_decoder_steps: int = 1000,
        gate_threshold: float = 0.5,
        p_attention_dropout: float = 0.1,
        p_decoder_dropout: float = 0.1,
        early_stopping: bool = True,
        prenet_p_dropout: float = 0.5,
    ):
        super().__init__()
        if n_frames_per_step != 1:
            raise ValueError("Tacotron2 Decoder supports n_frames_per_step=1 only")
        self.n_mel_channels = n_mel_channels
        self.encoder_embedding_dim = encoder_embedding_dim
        self.attention_rnn_dim = attention_rnn_dim
        self.decoder_rnn_dim = decoder_rnn_dim
        self.max_decoder_steps = max_decoder_steps
        self.gate_threshold = gate_threshold
        self.p_attention_dropout = p_attention_dropout
        self.p_decoder_dropout = p_decoder_dropout
        self.early_stopping = early_stopping
        self.prenet = Prenet(n_mel_channels, [prenet_dim, prenet_dim], prenet_p_dropout)
        self.attention_rnn = nn.LSTMCell(prenet_dim + encoder_embedding_dim, attention_rnn_dim)
        self.attention_layer = Attention(attention_rnn_dim, encoder_embedding_dim, attention_dim,
                                         attention_location_n_filters, attention_location_kernel_size)
        self.decoder_rnn = nn.LSTMCell(attention_rnn_dim + encoder_embedding_dim, decoder_rnn_dim)
        self.linear_projection = LinearNorm(decoder_rnn_dim + encoder_embedding_dim, n_mel_channels)
        self.gate_layer = LinearNorm(decoder_rnn_dim + encoder_embedding_dim, 1, bias=True, w_init_gain="sigmoid")

    def _init_state(self, memory: torch.Tensor, mask: Optional[torch.Tensor]):
        B, T, _ = memory.shape
        z = memory.new_zeros
        self._state = dict(
            att_h=z(B, self.attention_rnn_dim), att_c=z(B, self.attention_rnn_dim),
            dec_h=z(B, self.decoder_rnn_dim), dec_c=z(B, self.decoder_rnn_dim),
            weights=z(B, T), weights_cum=z(B, T), context=z(B, self.encoder_embedding_dim),
        )
        self._memory = memory
        self._processed_memory = self.attention_layer.memory_layer(memory)
        self._mask = mask

    def _step(self, prenet_out: torch.Tensor):
        s = self._state
        cell_input = torch.cat((prenet_out, s["context"]), -1)
        s["att_h"], s["att_c"] = self.attention_rnn(cell_input, (s["att_h"], s["att_c"]))
        s["att_h"] = F.dropout(s["att_h"], self.p_attention_dropout, self.training)
        weights_cat = torch.stack((s["weights"], s["weights_cum"]), dim=1)
        s["context"], s["weights"] = self.attention_layer(
            s["att_h"], self._memory, self._processed_memory, weights_cat, self._mask)
        s["weights_cum"] = s["weights_cum"] + s["weights"]
        dec_input = torch.cat((s["att_h"], s["context"]), -1)
        s["dec_h"], s["dec_c"] = self.decoder_rnn(dec_input, (s["dec_h"], s["dec_c"]))
        s["dec_h"] = F.dropout(s["dec_h"], self.p_decoder_dropout, self.training)
        out = torch.cat((s["dec_h"], s["context"]), dim=1)
        return self.linear_projection(out), self.gate_layer(out).squeeze(1), s["weights"]

    def forward(self, memory: torch.Tensor, decoder_inputs: torch.Tensor, memory_lengths: torch.Tensor):
        """Teacher forcing: memory (B, T_text, C), decoder_inputs (B, n_mels, T) -> mel, gate, alignments."""
        go = memory.new_zeros(memory.size(0), 1, self.n_mel_channels)
        inputs = torch.cat((go, decoder_inputs.transpose(1, 2)), dim=1)  # (B, T+1, n_mels)
        prenet_out = self.prenet(inputs)
        self._init_state(memory, ~get_mask_from_lengths(memory_lengths, memory.size(1)))
        mels, gates, aligns = [], [], []
        for t in range(decoder_inputs.size(2)):
            mel, gate, w = self._step(prenet_out[:, t])
            mels.append(mel)
            gates.append(gate)
            aligns.append(w)
        return torch.stack(mels, 2), torch.stack(gates, 1), torch.stack(aligns, 1)

    @torch.no_grad()
    def infer(self, memory: torch.Tensor, memory_lengths: torch.Tensor):
        """Free-running generation until every item's stop gate fires (or max_decoder_steps)."""
        B = memory.size(0)
        frame = memory.new_zeros(B, self.n_mel_channels)
        self._init_state(memory, ~get_mask_from_lengths(memory_lengths, memory.size(1)) if B > 1 else None)
        lengths = torch.zeros(B, dtype=torch.long, device=memory.device)
        done = torch.zeros(B, dtype=torch.bool, device=memory.device)
        mels, gates, aligns = [], [], []
        for _ in range(self.max_decoder_steps):
            mel, gate, w = self._step(self.prenet(frame, inference=True))
            mels.append(mel)
            gates.append(gate)
            aligns.append(w)
            stop = torch.sigmoid(gate) > self.gate_threshold
            lengths = lengths + (~done).long()
            done = done | stop
            if self.early_stopping and bool(done.all()):
                break
            frame = mel
        else:
            from nemo.utils import logging

            logging.warning("Tacotron2 decoder reached max_decoder_steps without stopping")
        return torch.stack(mels, 2), torch.stack(gates, 1), torch.stack(aligns, 1), lengths


class Postnet(nn.Module):
    """Five 1-D convolutions (tanh except the last) predicting a residual added to the decoder's mel."""

    def __init__(self, n_mel_channels: int = 80, postnet_embedding_dim: int = 512, postnet_kernel_size: int = 5,
                 postnet_n_convolutions: int = 5, p_dropout: float = 0.5):
        super().__init__()
        dims = [n_mel_channels] + [postnet_embedding_dim] * (postnet_n_convolutions - 1) + [n_mel_channels]
        self.convolutions = nn.ModuleList()
        for i in range(postnet_n_convolutions):
            gain = "tanh" if i < postnet_n_convolutions - 1 else "linear"
            self.convolutions.append(nn.Sequential(
                ConvNorm(dims[i], dims[i + 1], postnet_kernel_size, w_init_gain=gain), nn.BatchNorm1d(dims[i + 1])))
        self.p_dropout = p_dropout

    def forward(self, mel_spec: torch.Tensor) -> torch.Tensor:
        x = mel_spec
        for i, conv in enumerate(self.convolutions):
            x = conv(x)
            if i < len(self.convolutions) - 1:
                x = torch.tanh(x)
            x = F.dropout(x, self.p_dropout, self.training)
        return mel_spec + x
