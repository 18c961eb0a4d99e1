"""NeMo's batched transducer beam decoders `BeamBatchedRNNTInfer` (malsd_batch, maes_batch) and `BeamBatchedTDTInfer`
(malsd_batch on TDT): the decoding-strategy front of the batched computers, returning NeMo's `Hypothesis`
(best) or `NBestHypotheses` per utterance; re-exported from rnnt_beam_decoding / tdt_beam_decoding."""

from typing import List, Optional, Sequence, Tuple, Union

import torch

from nemo.collections.asr.parts.submodules.rnnt_maes_batched_computer import ModifiedAESBatchedRNNTComputer
from nemo.collections.asr.parts.submodules.rnnt_malsd_batched_computer import ModifiedALSDBatchedRNNTComputer
from nemo.collections.asr.parts.submodules.tdt_malsd_batched_computer import ModifiedALSDBatchedTDTComputer
from nemo.collections.asr.parts.utils.batched_beam_decoding_utils import BlankLMScoreMode, PruningMode
from nemo.collections.asr.parts.utils.rnnt_utils import Hypothesis, NBestHypotheses
from nemo.core.classes.common import Typing
from nemo.core.neural_types import AcousticEncodedRepresentation, HypothesisType, LengthsType, NeuralType

__all__ = ["BeamBatchedRNNTInfer", "BeamBatchedTDTInfer"]


class TransducerSearchPorts(Typing):
    """The ports every transducer search shares: encoder output (B, D, T) and lengths in, hypotheses out."""

    @property
    def input_types(self):
        return {
            "encoder_output": NeuralType(("B", "D", "T"), AcousticEncodedRepresentation()),
            "encoded_lengths": NeuralType(tuple("B"), LengthsType()),
            "partial_hypotheses": [NeuralType(elements_type=HypothesisType(), optional=True)],
        }

    @property
    def output_types(self):
        return {"predictions": [NeuralType(elements_type=HypothesisType())]}


class _BatchedBeamInfer(TransducerSearchPorts):
    """Runs a batched computer in eval/inference mode and converts its hypotheses."""

    decoding_computer = None

    def disable_cuda_graphs(self) -> bool:
        return False

    def maybe_enable_cuda_graphs(self) -> bool:
        return False

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, encoder_output: torch.Tensor, encoded_lengths: torch.Tensor,
                partial_hypotheses: Optional[List[Hypothesis]] = None
                ) -> Tuple[List[Union[Hypothesis, NBestHypotheses]]]:
        """(B, D, T) encoder output -> ([best Hypothesis or NBestHypotheses per utterance],)."""
        if partial_hypotheses is not None:
            raise ValueError("partial_hypotheses are not supported by batched transducer beam search "
                             "(malsd_batch / maes_batch), as in NeMo")
        decoder_training, joint_training = self.decoder.training, self.joint.training
        try:
            self.decoder.eval()
            self.joint.eval()
            with torch.inference_mode():
                x = encoder_output.transpose(1, 2)
                dtype = next(self.joint.parameters()).dtype
                if x.dtype != dtype:
                    x = x.to(dtype)
                hyps, _ = self.decoding_computer(x=x, out_len=encoded_lengths)
                if self.return_best_hypothesis:
                    out = hyps.to_hyps_list(score_norm=self.score_norm)
                else:
                    out = hyps.to_nbest_hyps_list(score_norm=self.score_norm)
        finally:
            self.decoder.train(decoder_training)
            self.joint.train(joint_training)
        return (out,)

    def set_decoding_type(self, decoding_type: str):
        """Kept for NeMo's API (token offsets play no part: the LM works on token ids)."""
        self.decoding_type = decoding_type


class BeamBatchedRNNTInfer(_BatchedBeamInfer):
    """RNN-T beam search vectorised over batch x beam: `malsd_batch` (NeMo's default batched search) or
    `maes_batch`."""

    def __init__(
        self,
        decoder_model,
        joint_model,
        blank_index: int,
        beam_size: int,
        search_type: str = "malsd_batch",
        score_norm: bool = True,
        maes_num_steps: Optional[int] = 2,
        maes_expansion_gamma: Optional[float] = 2.3,
        maes_expansion_beta: Optional[int] = 2,
        max_symbols_per_step: Optional[int] = 10,
        preserve_alignments: bool = False,
        fusion_models: Optional[Sequence] = None,
        fusion_models_alpha: Optional[Sequence[float]] = None,
        blank_lm_score_mode: Optional[str] = BlankLMScoreMode.LM_WEIGHTED_FULL,
        pruning_mode: Optional[str] = PruningMode.LATE,
        allow_cuda_graphs: Optional[bool] = True,
        return_best_hypothesis: Optional[bool] = True,
    ):
        self.decoder, self.joint = decoder_model, joint_model
        self._blank_index = int(blank_index)
        self.beam_size = int(beam_size)
        self.score_norm = bool(score_norm)
        self.return_best_hypothesis = bool(return_best_hypothesis)
        if search_type == "maes_batch":
            if fusion_models is not None and len(fusion_models) > 1:
                raise ValueError("maes_batch fuses one model: give ngram_lm_model or boosting_tree, not both")
            self.decoding_computer = ModifiedAESBatchedRNNTComputer(
                decoder=decoder_model, joint=joint_model, blank_index=blank_index, beam_size=beam_size,
                maes_num_steps=maes_num_steps, maes_expansion_beta=maes_expansion_beta,
                maes_expansion_gamma=maes_expansion_gamma, preserve_alignments=preserve_alignments,
                ngram_lm_model=fusion_models[0] if fusion_models else None,
                ngram_lm_alpha=fusion_models_alpha[0] if fusion_models_alpha else 0.0,
                blank_lm_score_mode=blank_lm_score_mode, pruning_mode=pruning_mode,
                allow_cuda_graphs=allow_cuda_graphs)
            return
        if search_type != "malsd_batch":
            raise ValueError(f"Batched RNN-T beam search type {search_type!r} is unknown; use 'malsd_batch' or "
                             "'maes_batch'")
        self.decoding_computer = ModifiedALSDBatchedRNNTComputer(
            decoder=decoder_model, joint=joint_model, blank_index=blank_index, beam_size=beam_size,
            max_symbols_per_step=max_symbols_per_step, preserve_alignments=preserve_alignments,
            fusion_models=fusion_models, fusion_models_alpha=fusion_models_alpha,
            blank_lm_score_mode=blank_lm_score_mode, pruning_mode=pruning_mode, allow_cuda_graphs=allow_cuda_graphs)


class BeamBatchedTDTInfer(_BatchedBeamInfer):
    """TDT beam search vectorised over batch x beam (`malsd_batch`)."""

    def __init__(
        self,
        decoder_model,
        joint_model,
        durations: list,
        blank_index: int,
        beam_size: int,
        search_type: str = "malsd_batch",
        score_norm: bool = True,
        max_symbols_per_step: Optional[int] = None,
        preserve_alignments: bool = False,
        fusion_models: Optional[Sequence] = None,
        fusion_models_alpha: Optional[Sequence[float]] = None,
        blank_lm_score_mode: Optional[str] = BlankLMScoreMode.NO_SCORE,
        pruning_mode: Optional[str] = PruningMode.EARLY,
        allow_cuda_graphs: Optional[bool] = True,
        return_best_hypothesis: Optional[bool] = True,
    ):
        self.decoder, self.joint = decoder_model, joint_model
        self._blank_index = int(blank_index)
        self.beam_size = int(beam_size)
        self.durations = list(durations)
        self.score_norm = bool(score_norm)
        self.return_best_hypothesis = bool(return_best_hypothesis)
        if search_type != "malsd_batch":
            raise ValueError(f"Batched TDT beam search type {search_type!r} is not provided (NeMo has only "
                             "'malsd_batch' for TDT)")
        self.decoding_computer = ModifiedALSDBatchedTDTComputer(
            decoder=decoder_model, joint=joint_model, durations=durations, blank_index=blank_index,
            beam_size=beam_size, max_symbols_per_step=max_symbols_per_step, preserve_alignments=preserve_alignments,
            fusion_models=fusion_models, fusion_models_alpha=fusion_models_alpha,
            blank_lm_score_mode=blank_lm_score_mode, pruning_mode=pruning_mode, allow_cuda_graphs=allow_cuda_graphs)
