"""Transducer modules: the LSTM prediction network (`RNNTDecoder`) and the joint network (`RNNTJoint`).

State-dict keys follow NeMo: `decoder.prediction.embed.weight`, `decoder.prediction.dec_rnn.lstm.*`,
`joint.pred.*`, `joint.enc.*`, `joint.joint_net.{1|2}.*` (index 2 when the joint has dropout).
"""

from typing import Any, Dict, List, Optional, Tuple

import torch

from nemo.collections.common.parts.rnn import label_collate, rnn
from nemo.core.classes.common import typecheck
from nemo.core.classes.exportable import Exportable
from nemo.core.classes.module import NeuralModule
from nemo.core.neural_types import (
    AcousticEncodedRepresentation,
    ElementType,
    EmbeddedTextType,
    LabelsType,
    LengthsType,
    LogprobsType,
    NeuralType,
)

__all__ = ["RNNTDecoder", "RNNTJoint", "RNNTDecoderJoint"]


class RNNTDecoder(NeuralModule, Exportable):
    """Prediction network: token embedding (blank = pad = zero vector) -> `pred_rnn_layers` LSTM layers.

    `forward(targets, target_length)` runs on [SOS] + targets and returns (B, H, U+1); `predict` is
    the stateful step the decoders use. The blank id is `vocab_size`.
    """

    def __init__(
        self,
        prednet: Dict[str, Any],
        vocab_size: int,
        normalization_mode: Optional[str] = None,
        random_state_sampling: bool = False,
        blank_as_pad: bool = True,
    ):
        super().__init__()
        self.pred_hidden = int(prednet["pred_hidden"])
        self.pred_rnn_layers = int(prednet["pred_rnn_layers"])
        self.vocab_size = int(vocab_size)
        self.blank_idx = self.vocab_size
        self.blank_as_pad = bool(blank_as_pad)
        self.random_state_sampling = bool(random_state_sampling)
        rnn_hidden_size = int(prednet.get("rnn_hidden_size", -1) or -1)
        hidden = rnn_hidden_size if rnn_hidden_size > 0 else self.pred_hidden
        self.rnn_hidden_size = hidden
        if self.blank_as_pad:
            embed = torch.nn.Embedding(self.vocab_size + 1, self.pred_hidden, padding_idx=self.blank_idx)
        else:
            embed = torch.nn.Embedding(self.vocab_size, self.pred_hidden)
        self.prediction = torch.nn.ModuleDict({
            "embed": embed,
            "dec_rnn": rnn(
                input_size=self.pred_hidden,
                hidden_size=hidden,
                num_layers=self.pred_rnn_layers,
                norm=normalization_mode,
                forget_gate_bias=prednet.get("forget_gate_bias", 1.0),
                t_max=prednet.get("t_max", None),
                dropout=prednet.get("dropout", 0.0),
                weights_init_scale=prednet.get("weights_init_scale", 1.0),
                hidden_hidden_bias_scale=prednet.get("hidden_hidden_bias_scale", 0.0),
                proj_size=self.pred_hidden if self.pred_hidden < hidden else 0,
            ),
        })
        self._rnnt_export = False

    # ------------------------------------------------------------------ types
    @property
    def input_types(self):
        return {
            "targets": NeuralType(("B", "T"), LabelsType()),
            "target_length": NeuralType(("B",), LengthsType()),
            "states": [NeuralType(("D", "B", "D"), ElementType(), optional=True)],
        }

    @property
    def output_types(self):
        return {
            "outputs": NeuralType(("B", "D", "T"), EmbeddedTextType()),
            "prednet_lengths": NeuralType(("B",), LengthsType()),
            "states": [NeuralType(("D", "B", "D"), ElementType(), optional=True)],
        }

    @property
    def blank_index(self) -> int:
        return self.blank_idx

    # ---------------------------------------------------------------- compute
    @typecheck()
    def forward(self, targets, target_length, states=None):
        """Prediction-net outputs (B, H, U+1) on [SOS] + targets (no SOS when exporting)."""
        y = label_collate(targets)
        g, states = self.predict(y, state=states, add_sos=not self._rnnt_export)
        return g.transpose(1, 2), target_length, states

    def predict(
        self,
        y: Optional[torch.Tensor] = None,
        state: Optional[List[torch.Tensor]] = None,
        add_sos: bool = True,
        batch_size: Optional[int] = None,
    ) -> Tuple[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
        """One or more prediction steps: y (B, U) ids (None = the SOS zero vector) -> (B, U[+1], H), (h, c)."""
        weight = self.prediction["embed"].weight
        if y is not None:
            if y.device != weight.device:
                y = y.to(weight.device)
            y = self.prediction["embed"](y)
        else:
            batch = (1 if state is None else state[0].size(1)) if batch_size is None else batch_size
            y = torch.zeros((batch, 1, self.pred_hidden), device=weight.device, dtype=weight.dtype)
        if add_sos:
            start = torch.zeros((y.shape[0], 1, y.shape[2]), device=y.device, dtype=y.dtype)
            y = torch.cat([start, y], dim=1)
        if state is None and self.random_state_sampling and self.training:
            state = self.initialize_state(y)
        if y.shape[1] == 1 and not self.training and not torch.is_grad_enabled() and self._plain_lstm():
            return self._lstm_step(y[:, 0], state)
        g, hid = self.prediction["dec_rnn"](y.transpose(0, 1), None if state is None else tuple(state))
        return g.transpose(0, 1), hid

    def _plain_lstm(self) -> bool:
        lstm = self.prediction["dec_rnn"].lstm
        return lstm.proj_size == 0 and lstm.bias and not lstm.bidirectional

    def _lstm_step(self, x: torch.Tensor, state):
        """One LSTM time step as one matrix product per layer ([x, h] against [W_ih | W_hh], cached): the same
        function as `nn.LSTM` on a length-1 sequence, without oneDNN's per-call weight reordering."""
        lstm = self.prediction["dec_rnn"].lstm
        batch = x.shape[0]
        if state is None:
            zeros = x.new_zeros(lstm.num_layers, batch, lstm.hidden_size)
            state = (zeros, zeros)
        h_prev, c_prev = state
        hs, cs = [], []
        for layer, (weight, bias) in enumerate(self._step_weights(lstm)):
            gates = torch.addmm(bias, torch.cat([x, h_prev[layer]], dim=1), weight)
            i, f, g, o = gates.chunk(4, dim=1)
            c = torch.sigmoid(f) * c_prev[layer] + torch.sigmoid(i) * torch.tanh(g)
            x = torch.sigmoid(o) * torch.tanh(c)
            hs.append(x)
            cs.append(c)
        return x.unsqueeze(1), (torch.stack(hs), torch.stack(cs))

    def _step_weights(self, lstm):
        """Per layer ([W_ih | W_hh]^T, b_ih + b_hh), rebuilt whenever a weight changed (version or storage)."""
        params = list(lstm.parameters())
        key = tuple((p.data_ptr(), p._version, p.dtype, p.device) for p in params)
        cached = getattr(self, "_step_cache", None)
        if cached is None or cached[0] != key:
            with torch.no_grad():
                layers = []
                for layer in range(lstm.num_layers):
                    w = torch.cat([getattr(lstm, f"weight_ih_l{layer}"), getattr(lstm, f"weight_hh_l{layer}")], dim=1)
                    b = getattr(lstm, f"bias_ih_l{layer}") + getattr(lstm, f"bias_hh_l{layer}")
                    layers.append((w.t().contiguous(), b))
            cached = (key, layers)
            self._step_cache = cached
        return cached[1]

    # ----------------------------------------------------------- beam search
    def score_hypothesis(self, hypothesis, cache: Dict[Tuple[int, ...], Any]):
        """Prediction output (1, 1, H) and state after a hypothesis' last token (blank = start over), cached by
        token sequence; returns (y, state, last token as a (1,) tensor)."""
        if hypothesis.dec_state is not None:
            device = hypothesis.dec_state[0].device
        else:
            device = self.prediction["embed"].weight.device
        last = int(hypothesis.y_sequence[-1])
        target = torch.full([1, 1], fill_value=last, device=device, dtype=torch.long)
        key = tuple(int(t) for t in hypothesis.y_sequence)
        if key not in cache:
            if last == self.blank_idx:
                y, state = self.predict(None, state=None, add_sos=False, batch_size=1)
            else:
                y, state = self.predict(target, state=hypothesis.dec_state, add_sos=False, batch_size=1)
            cache[key] = (y[:, -1:, :], state)
        y, state = cache[key]
        return y, state, target[:, -1]

    def batch_score_hypothesis(self, hypotheses, cache: Dict[Tuple[int, ...], Any]):
        """`score_hypothesis` for many hypotheses in one prediction step: ([(1, H)...], [state per hypothesis])."""
        if not hypotheses:
            raise ValueError("No hypotheses was provided for the batch!")
        device = self.prediction["embed"].weight.device
        final: List[Any] = [None] * len(hypotheses)
        pending = []
        for i, hyp in enumerate(hypotheses):
            key = tuple(int(t) for t in hyp.y_sequence)
            if key in cache:
                final[i] = cache[key]
            else:
                pending.append((i, key, int(hyp.y_sequence[-1]), hyp.dec_state))
        if pending:
            tokens = torch.tensor([p[2] for p in pending], device=device, dtype=torch.long).view(len(pending), 1)
            states = self.batch_initialize_states([p[3] for p in pending])
            out, states = self.predict(tokens, state=states, add_sos=False, batch_size=len(pending))
            for row, (i, key, _, _) in enumerate(pending):
                final[i] = cache[key] = (out[row], self.batch_select_state(states, row))
        return [f[0] for f in final], [f[1] for f in final]

    # ----------------------------------------------------------------- states
    def initialize_state(self, y: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Zero (or, when training with random_state_sampling, random) (h, c), each (L, B, H)."""
        batch = y.size(0)
        shape = (self.pred_rnn_layers, batch, self.pred_hidden)
        make = torch.randn if (self.random_state_sampling and self.training) else torch.zeros
        return make(shape, dtype=y.dtype, device=y.device), make(shape, dtype=y.dtype, device=y.device)

    def batch_initialize_states(self, decoder_states: List[List[torch.Tensor]]) -> List[torch.Tensor]:
        """Stack per-utterance states [(L, H), (L, H)] into batched [(L, B, H), (L, B, H)]."""
        return [torch.stack([s[i] for s in decoder_states], dim=1) for i in range(len(decoder_states[0]))]

    def batch_select_state(self, batch_states: Optional[List[torch.Tensor]], idx: int) -> Optional[List[torch.Tensor]]:
        """The state of utterance `idx`: [h (L, H), c (L, H)]."""
        if batch_states is None:
            return None
        return [s[:, idx] for s in batch_states]

    def batch_concat_states(self, batch_states: List[List[torch.Tensor]]) -> List[torch.Tensor]:
        """Per-utterance [(L, H), (L, H)] states -> batched [(L, B, H), (L, B, H)]."""
        return [torch.stack([item[i] for item in batch_states], dim=1) for i in range(len(batch_states[0]))]

    @staticmethod
    def batch_replace_states_mask(src_states, dst_states, mask: torch.Tensor, other_src_states=None) -> None:
        """dst[:, b] = src[:, b] where mask[b] (else other_src[:, b] when given), in place."""
        m = mask.view(1, -1, 1)
        for i, (src, dst) in enumerate(zip(src_states, dst_states)):
            other = dst if other_src_states is None else other_src_states[i]
            torch.where(m, src.to(dst.dtype), other.to(dst.dtype), out=dst)

    @staticmethod
    def batch_replace_states_all(src_states, dst_states, batch_size: Optional[int] = None) -> None:
        """Copy all (or the first batch_size) utterances of src into dst, in place."""
        for src, dst in zip(src_states, dst_states):
            if batch_size is None:
                dst.copy_(src)
            else:
                dst[:, :batch_size].copy_(src[:, :batch_size])

    @staticmethod
    def clone_state(state):
        return tuple(s.clone() for s in state)

    # ----------------------------------------------------------------- export
    def input_example(self, max_batch: int = 1, max_dim: int = 1):
        """(targets (B, U) int32, target_length (B,), (h, c)) for tracing."""
        device = self.prediction["embed"].weight.device
        targets = torch.full((max_batch, max_dim), fill_value=self.blank_idx, dtype=torch.int32, device=device)
        target_length = torch.randint(0, max_dim, size=(max_batch,), dtype=torch.int32, device=device)
        states = tuple(self.initialize_state(targets.float()))
        return targets, target_length, states

    def _prepare_for_export(self, **kwargs) -> None:
        self._rnnt_export = True

    def _export_teardown(self) -> None:
        self._rnnt_export = False


class RNNTJoint(NeuralModule, Exportable):
    """Joint network: enc (H1) and pred (H2) projected to joint_hidden, summed, activation, -> V+1(+extra).

    `num_extra_outputs` adds TDT duration logits after blank. On the CPU with `log_softmax: null` the
    output is log-softmaxed over the whole last axis (NeMo's rule); `fuse_loss_wer` computes loss and
    WER over sub-batches of `fused_batch_size` so the (B, T, U, V) tensor stays small.
    """

    def __init__(
        self,
        jointnet: Dict[str, Any],
        num_classes: int,
        num_extra_outputs: int = 0,
        vocabulary: Optional[List] = None,
        log_softmax: Optional[bool] = None,
        preserve_memory: bool = False,
        fuse_loss_wer: bool = False,
        fused_batch_size: Optional[int] = None,
        experimental_fuse_loss_wer: Any = None,
        masking_prob: float = -1.0,
    ):
        super().__init__()
        self.vocabulary = list(vocabulary) if vocabulary is not None else None
        self._vocab_size = int(num_classes)
        self._num_extra_outputs = int(num_extra_outputs)
        self._num_classes = self._vocab_size + 1 + self._num_extra_outputs
        self.masking_prob = float(masking_prob)
        if self.masking_prob >= 1.0:
            raise ValueError(f"RNNTJoint: masking_prob must be below 1, got {masking_prob}")
        if experimental_fuse_loss_wer is not None:
            fuse_loss_wer = experimental_fuse_loss_wer
        self._fuse_loss_wer = bool(fuse_loss_wer)
        self._fused_batch_size = fused_batch_size
        if self._fuse_loss_wer and fused_batch_size is None:
            raise ValueError("If `fuse_loss_wer` is set, then `fused_batch_size` cannot be None!")
        self._loss = None
        self._wer = None
        self.log_softmax = log_softmax
        self.preserve_memory = bool(preserve_memory)
        self.encoder_hidden = int(jointnet["encoder_hidden"])
        self.pred_hidden = int(jointnet["pred_hidden"])
        self.joint_hidden = int(jointnet["joint_hidden"])
        self.activation = str(jointnet["activation"]).lower()
        self.pred, self.enc, self.joint_net = self._joint_net_modules(
            self._num_classes, self.pred_hidden, self.encoder_hidden, self.joint_hidden, self.activation,
            jointnet.get("dropout", 0.0),
        )
        self._rnnt_export = False
        self.temperature = 1.0
        self.hypotheses = None

    @staticmethod
    def _joint_net_modules(num_classes, pred_n_hidden, enc_n_hidden, joint_n_hidden, activation, dropout):
        activations = {"relu": lambda: torch.nn.ReLU(inplace=True), "sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh}
        if activation not in activations:
            raise ValueError(f"Unsupported activation for joint step {activation!r}; use one of {sorted(activations)}")
        layers = [activations[activation]()] + ([torch.nn.Dropout(p=dropout)] if dropout else [])
        layers.append(torch.nn.Linear(joint_n_hidden, num_classes))
        return (torch.nn.Linear(pred_n_hidden, joint_n_hidden), torch.nn.Linear(enc_n_hidden, joint_n_hidden),
                torch.nn.Sequential(*layers))

    # ------------------------------------------------------------------ types
    @property
    def input_types(self):
        return {
            "encoder_outputs": NeuralType(("B", "D", "T"), AcousticEncodedRepresentation()),
            "decoder_outputs": NeuralType(("B", "D", "T"), EmbeddedTextType()),
            "encoder_lengths": NeuralType(("B",), LengthsType(), optional=True),
            "transcripts": NeuralType(("B", "T"), LabelsType(), optional=True),
            "transcript_lengths": NeuralType(("B",), LengthsType(), optional=True),
            "compute_wer": NeuralType(optional=True),
        }

    @property
    def output_types(self):
        if not self._fuse_loss_wer:
            return {"outputs": NeuralType(("B", "T", "T", "D"), LogprobsType())}
        return {
            "loss": NeuralType(elements_type=ElementType(), optional=True),
            "wer": NeuralType(elements_type=ElementType(), optional=True),
            "wer_numer": NeuralType(elements_type=ElementType(), optional=True),
            "wer_denom": NeuralType(elements_type=ElementType(), optional=True),
        }

    @property
    def disabled_deployment_input_names(self):
        return {"encoder_lengths", "transcripts", "transcript_lengths", "compute_wer"}

    # ---------------------------------------------------------------- compute
    def project_encoder(self, encoder_output: torch.Tensor) -> torch.Tensor:
        """(B, T, H1) -> (B, T, joint_hidden)."""
        return self.enc(encoder_output)

    def project_prednet(self, prednet_output: torch.Tensor) -> torch.Tensor:
        """(B, U, H2) -> (B, U, joint_hidden)."""
        return self.pred(prednet_output)

    def joint(self, f: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """f (B, T, H1), g (B, U, H2) -> (B, T, U, V+1+extra)."""
        return self.joint_after_projection(self.project_encoder(f), self.project_prednet(g))

    def joint_after_projection(self, f: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """Projected f (B, T, H), g (B, U, H) -> (B, T, U, V+1+extra)."""
        f = f.unsqueeze(dim=2)
        g = g.unsqueeze(dim=1)
        if self.training and self.masking_prob > 0:
            keep = torch.rand([g.shape[0], 1, g.shape[2], 1], device=g.device) > self.masking_prob
            g = g * keep
        res = self.joint_net(f + g)
        return self._normalize(res)

    def _normalize(self, res: torch.Tensor) -> torch.Tensor:
        """log_softmax when asked, or on the CPU when `log_softmax` is None (the loss kernels expect it there)."""
        if (self.log_softmax is None and not res.is_cuda) or self.log_softmax:
            if self.temperature != 1.0:
                res = res / self.temperature
            res = res.log_softmax(dim=-1)
        return res

    @typecheck()
    def forward(
        self,
        encoder_outputs: torch.Tensor,
        decoder_outputs: Optional[torch.Tensor],
        encoder_lengths: Optional[torch.Tensor] = None,
        transcripts: Optional[torch.Tensor] = None,
        transcript_lengths: Optional[torch.Tensor] = None,
        compute_wer: bool = False,
        keep_hypotheses: bool = False,
    ):
        """Joint of (B, D, T) encoder and (B, D, U) decoder outputs; fused mode returns (loss, wer, num, denom)."""
        encoder_outputs = encoder_outputs.transpose(1, 2)
        if decoder_outputs is not None:
            decoder_outputs = decoder_outputs.transpose(1, 2)
        if not self._fuse_loss_wer:
            if decoder_outputs is None:
                raise ValueError("decoder_outputs passed is None, and `fuse_loss_wer` is not set. "
                                 "decoder_outputs can only be None for fused step!")
            return self.joint(encoder_outputs, decoder_outputs)
        return self._fused_loss_wer(encoder_outputs, decoder_outputs, encoder_lengths, transcripts,
                                    transcript_lengths, compute_wer, keep_hypotheses)

    def _fused_loss_wer(self, enc, dec, enc_lens, transcripts, transcript_lens, compute_wer, keep_hypotheses):
        if self._loss is None or self._wer is None:
            raise ValueError("`fuse_loss_wer` flag is set, but `loss` and `wer` modules were not provided! ")
        if enc_lens is None or transcript_lens is None:
            raise ValueError("`fuse_loss_wer` is set, therefore encoder and target lengths must be provided as well!")
        losses, target_lengths, hypotheses = [], [], []
        wers, nums, denoms = [], [], []
        batch = int(enc.size(0))
        step = int(self._fused_batch_size)
        for begin in range(0, batch, step):
            end = min(begin + step, batch)
            sub_enc = enc[begin:end]
            sub_tr = transcripts[begin:end]
            sub_enc_lens = enc_lens[begin:end]
            sub_tr_lens = transcript_lens[begin:end]
            max_t, max_u = int(sub_enc_lens.max()), int(sub_tr_lens.max())
            if dec is not None:
                sub_enc = sub_enc[:, :max_t]
                sub_dec = dec[begin:end, : max_u + 1]
                sub_joint = self.joint(sub_enc, sub_dec)
                sub_tr = sub_tr[:, :max_u]
                reduction = self._loss.reduction
                self._loss.reduction = None
                losses.append(self._loss(log_probs=sub_joint, targets=sub_tr, input_lengths=sub_enc_lens,
                                         target_lengths=sub_tr_lens))
                self._loss.reduction = reduction
                target_lengths.append(sub_tr_lens)
                del sub_joint
            if compute_wer:
                self._wer.update(predictions=sub_enc.transpose(1, 2).detach(), predictions_lengths=sub_enc_lens,
                                 targets=sub_tr.detach(), targets_lengths=sub_tr_lens)
                if keep_hypotheses and hasattr(self._wer, "get_hypotheses"):
                    hypotheses.extend(self._wer.get_hypotheses())
                w, n, d = self._wer.compute()
                self._wer.reset()
                wers.append(w), nums.append(n), denoms.append(d)
        loss = self._loss.reduce(losses, target_lengths) if dec is not None else None
        if compute_wer:
            wer, num, denom = sum(wers) / len(wers), sum(nums), sum(denoms)
        else:
            wer = num = denom = None
        self.hypotheses = hypotheses if keep_hypotheses else None
        return loss, wer, num, denom

    def get_hypotheses(self):
        """Hypotheses of the last fused forward with keep_hypotheses=True."""
        if self.hypotheses is None:
            raise ValueError("No hypotheses were generated during the last forward pass. "
                             "Did you set keep_hypotheses=True in forward()?")
        return self.hypotheses

    # ------------------------------------------------------------- properties
    @property
    def num_classes_with_blank(self) -> int:
        return self._num_classes

    @property
    def num_extra_outputs(self) -> int:
        return self._num_extra_outputs

    @property
    def loss(self):
        return self._loss

    def set_loss(self, loss) -> None:
        if not self._fuse_loss_wer:
            raise ValueError("Attempting to set loss module even though `fuse_loss_wer` is not set!")
        self._loss = loss

    @property
    def wer(self):
        return self._wer

    def set_wer(self, wer) -> None:
        if not self._fuse_loss_wer:
            raise ValueError("Attempting to set WER module even though `fuse_loss_wer` is not set!")
        self._wer = wer

    @property
    def fuse_loss_wer(self) -> bool:
        return self._fuse_loss_wer

    def set_fuse_loss_wer(self, fuse_loss_wer, loss=None, metric=None) -> None:
        self._fuse_loss_wer = bool(fuse_loss_wer)
        self._loss = loss
        self._wer = metric

    @property
    def fused_batch_size(self):
        return self._fused_batch_size

    def set_fused_batch_size(self, fused_batch_size) -> None:
        self._fused_batch_size = fused_batch_size

    # ----------------------------------------------------------------- export
    def input_example(self, max_batch: int = 1, max_dim: int = 8192):
        """Random (B, H1, T) encoder and (B, H2, 1) decoder outputs."""
        device = self.enc.weight.device
        return (torch.randn(max_batch, self.encoder_hidden, max_dim, device=device),
                torch.randn(max_batch, self.pred_hidden, 1, device=device))

    def _prepare_for_export(self, **kwargs) -> None:
        self._rnnt_export = True
        self._fuse_before_export = self._fuse_loss_wer
        self._fuse_loss_wer = False

    def _export_teardown(self) -> None:
        self._rnnt_export = False
        self._fuse_loss_wer = getattr(self, "_fuse_before_export", self._fuse_loss_wer)


class RNNTDecoderJoint(torch.nn.Module, Exportable):
    """Decoder + joint as one exportable graph: (encoder_outputs, targets, target_length, h, c) ->
    (outputs (B, T, U, V+1+extra), prednet_lengths, h', c')."""

    def __init__(self, decoder: RNNTDecoder, joint: RNNTJoint):
        super().__init__()
        self.decoder = decoder
        self.joint = joint

    @property
    def input_types(self):
        state = NeuralType(("D", "B", "D"), ElementType())
        return {
            "encoder_outputs": NeuralType(("B", "D", "T"), AcousticEncodedRepresentation()),
            "targets": NeuralType(("B", "T"), LabelsType()),
            "target_length": NeuralType(("B",), LengthsType()),
            "input_states_1": state,
            "input_states_2": state,
        }

    @property
    def output_types(self):
        state = NeuralType(("D", "B", "D"), ElementType())
        return {
            "outputs": NeuralType(("B", "T", "T", "D"), LogprobsType()),
            "prednet_lengths": NeuralType(("B",), LengthsType()),
            "output_states_1": state,
            "output_states_2": state,
        }

    def input_example(self, max_batch: int = 1, max_dim: int = 1):
        device = self.joint.enc.weight.device
        encoder_outputs = torch.randn(max_batch, self.joint.encoder_hidden, 8, device=device)
        targets, target_length, (h, c) = self.decoder.input_example(max_batch=max_batch, max_dim=max_dim)
        return encoder_outputs, targets, target_length, h, c

    def forward(self, encoder_outputs, targets, target_length, input_states_1, input_states_2):
        g, target_length, (h, c) = self.decoder(targets=targets, target_length=target_length,
                                                states=(input_states_1, input_states_2))
        out = self.joint.joint(encoder_outputs.transpose(1, 2), g.transpose(1, 2))
        return out, target_length, h, c

    def _prepare_for_export(self, **kwargs) -> None:
        self.decoder._prepare_for_export()
        self.joint._prepare_for_export()

    def _export_teardown(self) -> None:
        self.decoder._export_teardown()
        self.joint._export_teardown()
