"""Convolutional ASR encoder (Jasper/QuartzNet) and the CTC decoder head (spec §7.1, §7.5)."""

from dataclasses import dataclass, field
from typing import List, Optional

import torch
import torch.nn.functional as F
from omegaconf import DictConfig, ListConfig, OmegaConf
from torch import nn

from nemo.collections.asr.parts.submodules.jasper import (
    JasperBlock,
    MaskedConv1d,
    init_weights,
    jasper_activations,
    refuse_quantize,
    to_channels_last,
)
from nemo.core.classes.common import typecheck
from nemo.core.classes.exportable import Exportable
from nemo.core.classes.module import NeuralModule
from nemo.core.neural_types import (
    AcousticEncodedRepresentation,
    LengthsType,
    LogprobsType,
    NeuralType,
    SpectrogramType,
)
from nemo.utils.exceptions import ConfigError

_REQUIRED_BLOCK_KEYS = ("filters", "repeat", "kernel", "stride", "dilation", "dropout", "residual")


class ConvASREncoder(NeuralModule, Exportable):
    """A stack of JasperBlocks under `encoder` (keys `encoder.{i}.mconv...`, `encoder.{i}.res...`)."""

    def __init__(
        self,
        jasper,
        activation: str,
        feat_in: int,
        normalization_mode: str = "batch",
        residual_mode: str = "add",
        norm_groups: int = -1,
        conv_mask: bool = True,
        frame_splicing: int = 1,
        init_mode: Optional[str] = "xavier_uniform",
        quantize: bool = False,
    ):
        super().__init__()
        refuse_quantize(quantize)
        self._time_major = True  # CPU convs run channels-last inside the encoder: same values, less time
        if isinstance(jasper, (ListConfig, DictConfig)):
            jasper = OmegaConf.to_container(jasper, resolve=True)
        if activation not in jasper_activations:
            raise ConfigError(f"unknown activation {activation!r} (encoder.activation); known: {sorted(jasper_activations)}")
        act = jasper_activations[activation]()
        if hasattr(act, "inplace"):
            act.inplace = True
        feat_in = feat_in * frame_splicing
        self._feat_in = feat_in
        self._subsampling_factor = 1
        residual_panes: List[int] = []
        blocks = []
        for layer_idx, lcfg in enumerate(jasper):
            missing = [k for k in _REQUIRED_BLOCK_KEYS if k not in lcfg]
            if missing:
                raise ConfigError(f"encoder.jasper[{layer_idx}] is missing required keys {missing}")
            # A block's `residual_mode` also becomes the default for the blocks after it, as in NeMo, whose
            # checkpoints are trained that way.
            residual_mode = lcfg.get("residual_mode", residual_mode)
            dense = lcfg.get("residual_dense", False)
            if dense:
                residual_panes.append(feat_in)
            blocks.append(
                JasperBlock(
                    feat_in,
                    lcfg["filters"],
                    repeat=lcfg["repeat"],
                    kernel_size=lcfg["kernel"],
                    stride=lcfg["stride"],
                    dilation=lcfg["dilation"],
                    dropout=lcfg["dropout"],
                    residual=lcfg["residual"],
                    groups=lcfg.get("groups", 1),
                    separable=lcfg.get("separable", False),
                    heads=lcfg.get("heads", -1),
                    residual_mode=residual_mode,
                    normalization=normalization_mode,
                    norm_groups=norm_groups,
                    activation=act,
                    residual_panes=list(residual_panes) if dense else [],
                    conv_mask=conv_mask,
                    se=lcfg.get("se", False),
                    se_reduction_ratio=lcfg.get("se_reduction_ratio", 8),
                    se_context_window=lcfg.get("se_context_size", -1),
                    se_interpolation_mode=lcfg.get("se_interpolation_mode", "nearest"),
                    kernel_size_factor=lcfg.get("kernel_size_factor", 1.0),
                    stride_last=lcfg.get("stride_last", False),
                    future_context=lcfg.get("future_context", -1),
                    quantize=quantize,
                    layer_idx=layer_idx,
                )
            )
            feat_in = lcfg["filters"]
            stride = lcfg["stride"]
            self._subsampling_factor *= int(stride[0] if isinstance(stride, (list, tuple)) else stride)
        self._feat_out = feat_in
        self.encoder = nn.Sequential(*blocks)
        self.apply(lambda m: init_weights(m, mode=init_mode))

    @property
    def input_types(self):
        return {
            "audio_signal": NeuralType(("B", "D", "T"), SpectrogramType()),
            "length": NeuralType(("B",), LengthsType()),
        }

    @property
    def output_types(self):
        return {
            "outputs": NeuralType(("B", "D", "T"), AcousticEncodedRepresentation()),
            "encoded_lengths": NeuralType(("B",), LengthsType()),
        }

    @property
    def subsampling_factor(self) -> int:
        return self._subsampling_factor

    def input_example(self, max_batch: int = 1, max_dim: int = 8192):
        """A random (1, feat_in, 8192) spectrogram and its full length, for export."""
        device = next(self.parameters()).device
        signal = torch.randn(max_batch, self._feat_in, max_dim, device=device)
        length = torch.full((max_batch,), max_dim, dtype=torch.long, device=device)
        return signal, length

    @property
    def disabled_deployment_input_names(self):
        """Exported graphs run unmasked over the whole input, so `length` is not an input."""
        return ["length"]

    def _prepare_for_export(self, **kwargs):
        """Export runs without masking: masked convs become plain convs over the whole input."""
        for m in self.modules():
            if isinstance(m, MaskedConv1d):
                m.use_mask = False
        self._time_major_saved, self._time_major = self._time_major, False

    def _export_teardown(self):
        """Turn masking back on after export."""
        for m in self.modules():
            if isinstance(m, MaskedConv1d):
                m.use_mask = True
        self._time_major = getattr(self, "_time_major_saved", True)

    @typecheck()
    def forward(self, audio_signal: torch.Tensor, length: Optional[torch.Tensor] = None):
        if self._time_major and audio_signal.device.type == "cpu" and not torch.jit.is_tracing():
            audio_signal = to_channels_last(audio_signal)
        outputs, lens = self.encoder(([audio_signal], length))
        out = outputs[-1].contiguous()
        if length is None:
            return out
        return out, lens


class ConvASRDecoder(NeuralModule, Exportable):
    """1x1 conv to vocabulary + blank (blank last), then log-softmax: (B, C, T) -> (B, T, V+1)."""

    def __init__(
        self,
        feat_in: int,
        num_classes: int,
        init_mode: Optional[str] = "xavier_uniform",
        vocabulary: Optional[List[str]] = None,
        add_blank: bool = True,
    ):
        super().__init__()
        if vocabulary is None and num_classes < 0:
            raise ValueError("Neither of the vocabulary and num_classes are set! At least one of them need to be set.")
        if num_classes <= 0:
            num_classes = len(vocabulary)
        if vocabulary is not None:
            vocabulary = list(vocabulary)
            if num_classes != len(vocabulary):
                raise ValueError(
                    f"If vocabulary is specified, it's length should be equal to the num_classes. "
                    f"Instead len(vocabulary):{len(vocabulary)} vs num_classes:{num_classes}"
                )
        self.__vocabulary = vocabulary
        self._feat_in = feat_in
        self._num_classes = num_classes + 1 if add_blank else num_classes
        self.decoder_layers = nn.Sequential(nn.Conv1d(feat_in, self._num_classes, kernel_size=1, bias=True))
        self.apply(lambda m: init_weights(m, mode=init_mode))
        self.temperature = 1.0

    @property
    def input_types(self):
        return {"encoder_output": NeuralType(("B", "D", "T"), AcousticEncodedRepresentation())}

    @property
    def output_types(self):
        return {"logprobs": NeuralType(("B", "T", "D"), LogprobsType())}

    @typecheck()
    def forward(self, encoder_output: torch.Tensor) -> torch.Tensor:
        logits = self.decoder_layers(encoder_output).transpose(1, 2)
        if self.temperature != 1.0:
            logits = logits / self.temperature
        return F.log_softmax(logits, dim=-1)

    def input_example(self, max_batch: int = 1, max_dim: int = 256):
        """A random (1, feat_in, 256) encoder output, for export."""
        device = next(self.parameters()).device
        return (torch.randn(max_batch, self._feat_in, max_dim, device=device),)

    @property
    def vocabulary(self):
        return self.__vocabulary

    @property
    def num_classes_with_blank(self) -> int:
        return self._num_classes


@dataclass
class JasperEncoderConfig:
    """One block of a ConvASREncoder's `jasper` list."""

    filters: int = 512
    repeat: int = 1
    kernel: List[int] = field(default_factory=lambda: [11])
    stride: List[int] = field(default_factory=lambda: [1])
    dilation: List[int] = field(default_factory=lambda: [1])
    dropout: float = 0.0
    residual: bool = False
    groups: int = 1
    separable: bool = False
    heads: int = -1
    residual_mode: str = "add"
    residual_dense: bool = False
    se: bool = False
    se_reduction_ratio: int = 8
    se_context_size: int = -1
    se_interpolation_mode: str = "nearest"
    kernel_size_factor: float = 1.0
    stride_last: bool = False


@dataclass
class ConvASREncoderConfig:
    """Structured config for ConvASREncoder."""

    _target_: str = "nemo.collections.asr.modules.ConvASREncoder"
    jasper: Optional[List[JasperEncoderConfig]] = field(default_factory=list)
    activation: str = "???"
    feat_in: int = "???"  # type: ignore[assignment]
    normalization_mode: str = "batch"
    residual_mode: str = "add"
    norm_groups: int = -1
    conv_mask: bool = True
    frame_splicing: int = 1
    init_mode: Optional[str] = "xavier_uniform"


@dataclass
class ConvASRDecoderConfig:
    """Structured config for ConvASRDecoder."""

    _target_: str = "nemo.collections.asr.modules.ConvASRDecoder"
    feat_in: int = "???"  # type: ignore[assignment]
    num_classes: int = "???"  # type: ignore[assignment]
    init_mode: Optional[str] = "xavier_uniform"
    vocabulary: Optional[List[str]] = field(default_factory=list)
    add_blank: bool = True
