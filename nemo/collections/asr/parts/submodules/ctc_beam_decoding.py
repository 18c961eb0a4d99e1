"""CTC beam search decoders behind `strategy: beam` / `beam_batch` (spec: NeMo's config keys and Hypothesis).

Both strategies run the batched search of `ctc_batched_beam_decoding`, with or without an n-gram LM
(`ngram_lm_model`: ARPA or LM `.nemo`, or an `NGramGPULanguageModel`) and phrase boosting (`boosting_tree`).
"""

from typing import List, Optional, Union

import torch

from nemo.collections.asr.parts.submodules.ctc_batched_beam_decoding import BatchedBeamCTCComputer
from nemo.collections.asr.parts.submodules.decoding_configs import (  # noqa: F401
    BeamCTCInferConfig,
    FlashlightConfig,
    PyCTCDecodeConfig,
    WfstCTCInferConfig,
)
from nemo.collections.asr.parts.submodules.ngram_lm import DEFAULT_TOKEN_OFFSET, NGramGPULanguageModel
from nemo.collections.asr.parts.utils.rnnt_utils import Hypothesis, NBestHypotheses
from nemo.core.classes.exceptions import ConfigError

__all__ = ["AbstractBeamCTCInfer", "BeamBatchedCTCInfer", "BeamCTCInfer", "DEFAULT_TOKEN_OFFSET"]


def load_ngram_lm(lm, vocab_size: int) -> NGramGPULanguageModel:
    """An LM object from a path (`.nemo` or ARPA) or an already built model, checked against `vocab_size`."""
    if isinstance(lm, NGramGPULanguageModel):
        if lm.vocab_size != vocab_size:
            raise ConfigError(f"ngram_lm_model: the LM has {lm.vocab_size} tokens, the ASR model {vocab_size}")
        return lm
    import os

    path = str(lm)
    if not os.path.exists(path):
        raise ConfigError(f"decoding.beam.ngram_lm_model: file not found: {path}")
    return NGramGPULanguageModel.from_file(path, vocab_size=vocab_size)


class AbstractBeamCTCInfer:
    """Shared setup of the CTC beam decoders: blank id, beam size, vocabulary / tokenizer hooks."""

    def __init__(self, blank_id: int, beam_size: int):
        if beam_size < 1:
            raise ValueError(f"decoding.beam.beam_size must be >= 1, got {beam_size}")
        self.blank_id = blank_id
        self.beam_size = beam_size
        self.vocab = None
        self.decoding_type = None
        self.tokenizer = None
        self.override_fold_consecutive_value = False

    def set_vocabulary(self, vocab: List[str]):
        self.vocab = vocab

    def set_decoding_type(self, decoding_type: str):
        decoding_type = decoding_type.lower()
        if decoding_type not in ("char", "subword"):
            raise ValueError(f"Unsupported decoding type {decoding_type!r}; use 'char' or 'subword'")
        self.decoding_type = decoding_type

    def set_tokenizer(self, tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)


class BeamBatchedCTCInfer(AbstractBeamCTCInfer):
    """Batched CTC beam search; returns one `Hypothesis` per utterance or `NBestHypotheses`.

    `recombination='sum'` scores a prefix by all of its alignments, `'max'` by its best one (NeMo's rule).
    """

    def __init__(
        self,
        blank_index: int,
        beam_size: int,
        return_best_hypothesis: bool = True,
        preserve_alignments: bool = False,
        compute_timestamps: bool = False,
        ngram_lm_alpha: float = 1.0,
        beam_beta: float = 0.0,
        beam_threshold: float = 20.0,
        ngram_lm_model=None,
        boosting_tree=None,
        boosting_tree_alpha: float = 0.0,
        allow_cuda_graphs: bool = True,
        tokenizer=None,
        recombination: str = "sum",
    ):
        super().__init__(blank_id=blank_index, beam_size=beam_size)
        from nemo.collections.asr.parts.context_biasing.boosting_graph_batched import (
            GPUBoostingTreeModel,
            boosting_config_is_empty,
        )

        self.return_best_hypothesis = return_best_hypothesis
        self.preserve_alignments = preserve_alignments
        self.compute_timestamps = compute_timestamps
        self.allow_cuda_graphs = allow_cuda_graphs
        self.beam_beta = beam_beta
        self.beam_threshold = beam_threshold
        self.ngram_lm_alpha = ngram_lm_alpha
        self.tokenizer = tokenizer
        models, alphas, eos = [], [], []
        if ngram_lm_model is not None:
            models.append(load_ngram_lm(ngram_lm_model, vocab_size=blank_index))
            alphas.append(ngram_lm_alpha)
            eos.append(True)
        if not boosting_config_is_empty(boosting_tree):
            if tokenizer is None:
                raise ConfigError("decoding.beam.boosting_tree needs the model's tokenizer to spell the phrases")
            models.append(GPUBoostingTreeModel.from_config(boosting_tree, tokenizer=tokenizer))
            alphas.append(boosting_tree_alpha)
            eos.append(False)
        self.ngram_lm = models[0] if ngram_lm_model is not None else None
        self.search_algorithm = BatchedBeamCTCComputer(
            blank_index=blank_index, beam_size=beam_size, beam_beta=beam_beta, beam_threshold=beam_threshold,
            fusion_models=models, fusion_models_alpha=alphas, fusion_score_eos=eos, recombination=recombination)

    def disable_cuda_graphs(self) -> bool:
        return False

    def maybe_enable_cuda_graphs(self) -> bool:
        return False

    @torch.no_grad()
    def forward(self, decoder_output: torch.Tensor, decoder_lengths: Optional[torch.Tensor] = None):
        """(B, T, V+1) log-probs -> ([Hypothesis | NBestHypotheses] * B,)."""
        if decoder_output.ndim != 3:
            raise ValueError(f"`decoder_output` must be (B, T, V) log-probs, got shape {tuple(decoder_output.shape)}")
        batch, time = decoder_output.shape[:2]
        if decoder_lengths is None:
            decoder_lengths = torch.full((batch,), time, dtype=torch.long)
        keep = self.preserve_alignments or self.compute_timestamps
        res = self.search_algorithm(decoder_output, decoder_lengths, keep_alignments=keep)
        out: List[Union[Hypothesis, NBestHypotheses]] = []
        for b in range(batch):
            n = int(res.lengths[b])
            hyps = []
            for k in range(res.scores.shape[1]):
                score = float(res.scores[b, k])
                if score == float("-inf"):
                    continue
                hyp = Hypothesis(score=score, y_sequence=torch.tensor(res.tokens[b][k], dtype=torch.long),
                                 timestamp=list(res.token_frames[b][k]), length=n, dec_state=None)
                if keep:
                    hyp.alignments = (decoder_output[b, :n].detach().cpu().clone(),
                                      torch.tensor(res.frame_labels[b][k], dtype=torch.long))
                hyps.append(hyp)
                if self.return_best_hypothesis:
                    break
            out.append(hyps[0] if self.return_best_hypothesis else NBestHypotheses(hyps))
        return (out,)


class BeamCTCInfer(BeamBatchedCTCInfer):
    """`strategy: beam` (search_type `default`/`nemo`): the same batched search; KenLM/pyctcdecode/flashlight
    back-ends are not part of this implementation."""

    def __init__(
        self,
        blank_id: int,
        beam_size: int,
        search_type: str = "default",
        return_best_hypothesis: bool = True,
        preserve_alignments: bool = False,
        compute_timestamps: bool = False,
        ngram_lm_alpha: float = 0.3,
        beam_beta: float = 0.0,
        ngram_lm_model=None,
        flashlight_cfg=None,
        pyctcdecode_cfg=None,
        beam_threshold: float = 20.0,
        boosting_tree=None,
        boosting_tree_alpha: float = 0.0,
        tokenizer=None,
    ):
        if search_type not in ("default", "nemo"):
            raise ConfigError(f"decoding.beam.search_type {search_type!r} is not available in this implementation "
                              "(no pyctcdecode / flashlight); use 'default'")
        self.search_type = search_type
        super().__init__(blank_index=blank_id, beam_size=beam_size, return_best_hypothesis=return_best_hypothesis,
                         preserve_alignments=preserve_alignments, compute_timestamps=compute_timestamps,
                         ngram_lm_alpha=ngram_lm_alpha, beam_beta=beam_beta, beam_threshold=beam_threshold,
                         ngram_lm_model=ngram_lm_model, boosting_tree=boosting_tree,
                         boosting_tree_alpha=boosting_tree_alpha, tokenizer=tokenizer)
