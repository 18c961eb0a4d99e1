"""Losses of the TTS models: Tacotron 2, FastPitch (mel/duration/pitch + aligner), HiFi-GAN (LSGAN + feature matching)."""

from typing import List

import torch
import torch.nn.functional as F
from torch import nn

from nemo.collections.tts.modules.layers import get_mask_from_lengths


class Tacotron2Loss(nn.Module):
    """MSE(decoder mel) + MSE(postnet mel) + BCE-with-logits(stop gate), predictions fitted to the target length."""

    def forward(self, *, spec_pred_dec, spec_pred_postnet, gate_pred, spec_target, spec_target_len, pad_value):
        max_len = spec_target.size(2)
        pad = max_len - spec_pred_dec.size(2)
        if pad > 0:
            spec_pred_dec = F.pad(spec_pred_dec, (0, pad), value=pad_value)
            spec_pred_postnet = F.pad(spec_pred_postnet, (0, pad), value=pad_value)
            gate_pred = F.pad(gate_pred, (0, pad), value=1e3)
        else:
            spec_pred_dec, spec_pred_postnet, gate_pred = (
                spec_pred_dec[..., :max_len], spec_pred_postnet[..., :max_len], gate_pred[..., :max_len])
        mask = ~get_mask_from_lengths(spec_target_len, max_len)  # True beyond each length
        spec_pred_dec = spec_pred_dec.masked_fill(mask[:, None], pad_value)
        spec_pred_postnet = spec_pred_postnet.masked_fill(mask[:, None], pad_value)
        gate_pred = gate_pred.masked_fill(mask, 1e3)
        gate_target = (torch.arange(max_len, device=spec_target.device)[None, :]
                       >= (spec_target_len[:, None] - 1)).to(gate_pred.dtype)
        rnn_mel_loss = F.mse_loss(spec_pred_dec, spec_target)
        postnet_mel_loss = F.mse_loss(spec_pred_postnet, spec_target)
        gate_loss = F.binary_cross_entropy_with_logits(gate_pred, gate_target)
        return rnn_mel_loss + postnet_mel_loss + gate_loss, gate_target


class MelLoss(nn.Module):
    """Masked MSE between predicted and target mel (frames beyond the target are ignored)."""

    def forward(self, *, spect_predicted, spect_tgt, spect_len=None):
        spect_tgt = spect_tgt.detach()
        T = spect_tgt.size(2)
        if spect_predicted.size(2) < T:
            spect_predicted = F.pad(spect_predicted, (0, T - spect_predicted.size(2)))
        spect_predicted = spect_predicted[..., :T]
        if spect_len is None:
            mask = torch.ones_like(spect_tgt[:, :1])
        else:
            mask = get_mask_from_lengths(spect_len, T)[:, None].to(spect_tgt.dtype)
        err = (spect_predicted - spect_tgt) ** 2 * mask
        return err.sum() / (mask.sum() * spect_tgt.size(1))


class DurationLoss(nn.Module):
    """MSE between predicted log-durations and log(1 + target durations) over valid tokens."""

    def __init__(self, loss_scale: float = 0.1):
        super().__init__()
        self.loss_scale = loss_scale

    def forward(self, *, log_durs_predicted, durs_tgt, len):
        mask = get_mask_from_lengths(len, durs_tgt.size(1)).to(log_durs_predicted.dtype)
        err = (log_durs_predicted - torch.log1p(durs_tgt.float())) ** 2 * mask
        return err.sum() / mask.sum() * self.loss_scale


class PitchLoss(nn.Module):
    """MSE between predicted and per-token target pitch over valid tokens."""

    def __init__(self, loss_scale: float = 0.1):
        super().__init__()
        self.loss_scale = loss_scale

    def forward(self, *, pitch_predicted, pitch_tgt, len):
        T = pitch_tgt.size(1)
        pitch_predicted = F.pad(pitch_predicted, (0, max(0, T - pitch_predicted.size(1))))[:, :T]
        mask = get_mask_from_lengths(len, T).to(pitch_tgt.dtype)
        err = (pitch_predicted - pitch_tgt) ** 2 * mask
        return err.sum() / mask.sum() * self.loss_scale


class ForwardSumLoss(nn.Module):
    """CTC over the aligner's log-probabilities: every text token visited in order, marginalised over paths."""

    def __init__(self, blank_logprob: float = -1.0, loss_scale: float = 1.0):
        super().__init__()
        self.blank_logprob = blank_logprob
        self.loss_scale = loss_scale

    def forward(self, *, attn_logprob, in_lens, out_lens):
        key_lens, query_lens = in_lens, out_lens
        logprob = F.pad(attn_logprob, (1, 0), value=self.blank_logprob)  # (B, 1, T_mel, 1 + T_text)
        total = attn_logprob.new_zeros(())
        for b in range(attn_logprob.size(0)):
            target = torch.arange(1, int(key_lens[b]) + 1, device=logprob.device).unsqueeze(0)
            cur = logprob[b].permute(1, 0, 2)[: int(query_lens[b]), :, : int(key_lens[b]) + 1]
            cur = F.log_softmax(cur, dim=-1)
            total = total + F.ctc_loss(cur, target, query_lens[b : b + 1], key_lens[b : b + 1], zero_infinity=True)
        return total / attn_logprob.size(0) * self.loss_scale


class BinLoss(nn.Module):
    """Pulls the soft alignment towards its hard (monotonic) version: -mean log soft[hard == 1]."""

    def forward(self, *, hard_attention, soft_attention):
        log_sum = torch.log(torch.clamp(soft_attention[hard_attention == 1], min=1e-12)).sum()
        return -log_sum / hard_attention.sum()


class FeatureMatchingLoss(nn.Module):
    def forward(self, fmap_r: List[List[torch.Tensor]], fmap_g: List[List[torch.Tensor]]) -> torch.Tensor:
        loss = 0
        for dr, dg in zip(fmap_r, fmap_g):
            for rl, gl in zip(dr, dg):
                loss = loss + torch.mean(torch.abs(rl - gl))
        return loss * 2


class DiscriminatorLoss(nn.Module):
    """Least-squares GAN: real -> 1, fake -> 0. Returns (loss, real losses, fake losses)."""

    def forward(self, disc_real_outputs, disc_generated_outputs):
        loss, r_losses, g_losses = 0, [], []
        for dr, dg in zip(disc_real_outputs, disc_generated_outputs):
            r_loss = torch.mean((1 - dr) ** 2)
            g_loss = torch.mean(dg ** 2)
            loss = loss + r_loss + g_loss
            r_losses.append(r_loss.item())
            g_losses.append(g_loss.item())
        return loss, r_losses, g_losses


class GeneratorLoss(nn.Module):
    """Least-squares GAN for the generator: fake -> 1. Returns (loss, per-discriminator losses)."""

    def forward(self, disc_outputs):
        loss, gen_losses = 0, []
        for dg in disc_outputs:
            l = torch.mean((1 - dg) ** 2)
            gen_losses.append(l)
            loss = loss + l
        return loss, gen_losses
