"""NGramGPULanguageModel: an n-gram LM as tensors (NeMo's NGPU-LM layout) with batched queries.

The LM is a suffix tree: state 0 is the empty context (one arc per vocabulary id, arc id == label), state 1 the
<s> context, every other state an n-gram context whose arcs are contiguous in the arc arrays and whose back-off
leads to its suffix's state. `advance(states)` returns the log-probabilities of every next token and the states
they lead to, for a whole batch at once; decoders (CTC `beam_batch`, transducer `malsd_batch`) use only
`get_init_states`, `advance` and `get_final`. Buffers and config keys are NeMo's, so `.nemo` files cross both ways.
"""

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from omegaconf import MISSING, DictConfig, OmegaConf

from nemo.collections.asr.parts.submodules.ngram_lm.arpa import ArpaFormatError, NGramTable, read_arpa
from nemo.collections.asr.parts.submodules.ngram_lm.constants import BOS_ID, DEFAULT_TOKEN_OFFSET, EOS_ID, UNK_ID
from nemo.core.classes.modelPT import ModelPT
from nemo.utils import logging

NEG_INF = -10000.0  # "no final weight" marker in `final_weights`, as NeMo stores it


@dataclass
class NGramLMConfig:
    """Sizes of the LM's tensors; the weights come from the state dict."""

    num_states: int = MISSING
    num_arcs: int = MISSING
    max_order: int = MISSING
    vocab_size: int = MISSING
    separate_bos_state: bool = True
    use_triton: Optional[bool] = None


@dataclass
class SuffixTree:
    """Plain arrays of an LM before they become the model's tensors."""

    vocab_size: int
    max_order: int
    arc_from: list
    arc_to: list
    arc_label: list
    arc_weight: list
    state_arcs: list  # [start, end) per state
    state_order: list
    state_backoff_to: list
    state_backoff_w: list
    state_final: list


def _context_label(gram: Tuple[int, ...], table: NGramTable) -> str:
    line = table.lines.get(gram)
    return f"line {line}" if line is not None else f"n-gram {gram}"


def build_suffix_tree(table: NGramTable, vocab_size: int, normalize_unk: bool = True, where: str = "ARPA") -> SuffixTree:
    """Lay out `table` as NeMo's suffix tree; unseen vocabulary ids share <unk>'s probability
    (divided among them when `normalize_unk`)."""
    V, N = vocab_size, table.max_order
    t = SuffixTree(V, N, [], [], [], [], [], [], [], [], [])

    def fail(gram, msg):
        raise ArpaFormatError(f"{where}: {_context_label(gram, table)}: {msg}")

    def add_state(order, backoff_to, backoff_w):
        t.state_arcs.append([0, 0])
        t.state_order.append(order)
        t.state_backoff_to.append(backoff_to)
        t.state_backoff_w.append(backoff_w)
        t.state_final.append(NEG_INF)
        return len(t.state_order) - 1

    unigrams = table.ngrams[1]
    unk_prob = unigrams.get((UNK_ID,), (float("-inf"), 0.0))[0]
    bos_backoff = unigrams.get((BOS_ID,), (0.0, 0.0))[1]
    add_state(1, 0, 0.0)  # start state: empty context
    add_state(2, 0, bos_backoff)  # <s>
    t.state_arcs[0] = [0, V]
    arcs = [None] * V
    context: Dict[Tuple[int, ...], int] = {(BOS_ID,): 1}
    for gram in sorted(unigrams):
        label = gram[0]
        weight, backoff = unigrams[gram]
        if label == EOS_ID:
            t.state_final[0] = weight
            continue
        if label < 0:
            continue
        if label >= V:
            fail(gram, f"token id {label} is outside the vocabulary of {V} tokens")
        to = add_state(2, 0, backoff) if N > 1 else 0
        if N > 1:
            context[gram] = to
        arcs[label] = (0, to, label, weight)
    missing = [i for i in range(V) if arcs[i] is None]
    if missing and normalize_unk and len(missing) > 1:
        unk_prob -= math.log(len(missing))
    for i in missing:
        arcs[i] = (0, 0, i, unk_prob)
    for a in arcs:
        _append_arc(t, a)
    for n in range(2, N + 1):
        grams = sorted(table.ngrams[n])
        new_context: Dict[Tuple[int, ...], int] = {}
        top = n == N
        pending = []
        for gram in grams:
            weight, backoff = table.ngrams[n][gram]
            src = context.get(gram[:-1])
            if src is None:
                fail(gram, f"its context {gram[:-1]} is not a {n - 1}-gram of the file")
            label = gram[-1]
            if label == EOS_ID:
                t.state_final[src] = weight
                continue
            if label < 0 or any(g < 0 for g in gram[1:-1]) or gram[0] in (EOS_ID, UNK_ID):
                fail(gram, "<s>, </s> or <unk> in a position an NGPU-LM cannot represent")
            if label >= V:
                fail(gram, f"token id {label} is outside the vocabulary of {V} tokens")
            back = context.get(gram[1:])
            if back is None:
                fail(gram, f"its suffix {gram[1:]} is not a {n - 1}-gram of the file")
            if top:
                pending.append((src, back, label, weight))
                continue
            dst = add_state(t.state_order[src] + 1, back, backoff)
            new_context[gram] = dst
            _add_state_arc(t, (src, dst, label, weight))
        for a in sorted(pending, key=lambda a: (a[0], a[2])):
            _add_state_arc(t, a)
        context = new_context
    return t


def _add_state_arc(t: SuffixTree, arc) -> None:
    """Append an arc of state `arc[0]`; a state's arcs are added consecutively."""
    src = arc[0]
    idx = len(t.arc_from)
    _append_arc(t, arc)
    if t.state_arcs[src][1] == 0:
        t.state_arcs[src] = [idx, idx + 1]
    else:
        t.state_arcs[src][1] = idx + 1


def _append_arc(t: SuffixTree, arc) -> None:
    src, dst, label, weight = arc
    t.arc_from.append(src)
    t.arc_to.append(dst)
    t.arc_label.append(label)
    t.arc_weight.append(weight)


class NGramGPULanguageModel(ModelPT):
    """Batched n-gram LM over token ids (NeMo's NGPU-LM); runs on CPU or GPU with plain torch ops."""

    START_STATE = 0
    DENSE_LIMIT = 1 << 23  # states x vocabulary entries kept as dense tables (scores + int32 next states: 64 MiB)

    def __init__(self, cfg: DictConfig, trainer=None):
        """Allocate empty tensors of the sizes in `cfg`; `from_arpa`/`restore_from` fill them."""
        super().__init__(cfg=cfg, trainer=trainer)
        cfg = self._cfg
        self.use_triton = False
        self.bos_state = 1 if cfg.get("separate_bos_state", True) else self.START_STATE
        self.vocab_size = int(cfg.vocab_size)
        self.num_states = int(cfg.num_states)
        self.num_arcs = int(cfg.num_arcs)
        self.max_order = int(cfg.max_order)
        self.num_arcs_extended = self.num_arcs + self.vocab_size
        big = max(self.num_states, self.num_arcs_extended) >= torch.iinfo(torch.int32).max
        int_dtype = torch.int64 if big else torch.int32
        self.arcs_weights = nn.Parameter(torch.zeros([self.num_arcs_extended]))
        self.backoff_weights = nn.Parameter(torch.zeros([self.num_states]))
        self.final_weights = nn.Parameter(torch.zeros([self.num_states]))
        self.from_states = nn.Buffer(torch.zeros([self.num_arcs_extended], dtype=int_dtype))
        self.to_states = nn.Buffer(torch.zeros([self.num_arcs_extended], dtype=int_dtype))
        self.ilabels = nn.Buffer(torch.zeros([self.num_arcs_extended], dtype=int_dtype))
        self.backoff_to_states = nn.Buffer(torch.zeros([self.num_states], dtype=int_dtype))
        self.start_end_arcs = nn.Buffer(torch.zeros([self.num_states, 2], dtype=int_dtype))
        self.state_order = nn.Buffer(torch.zeros([self.num_states], dtype=int_dtype))
        self._final_resolved = False
        self._dense = None  # (scores [S, V], next states [S, V]) of every state, for small LMs at inference

    # ------------------------------------------------------------------ ModelPT
    @classmethod
    def list_available_models(cls):
        return []

    def setup_training_data(self, train_data_config):
        """An n-gram LM is estimated, not trained: there is no data loader."""

    def setup_validation_data(self, val_data_config):
        """An n-gram LM is estimated, not trained: there is no data loader."""

    def compatible_with_cuda_graphs(self) -> bool:
        return False

    def _load_from_state_dict(self, *args, **kwargs):
        super()._load_from_state_dict(*args, **kwargs)
        self._final_resolved = False  # loaded weights may come unresolved
        self._dense = None

    # ------------------------------------------------------------ constructors
    @classmethod
    def from_file(
        cls,
        lm_path: Union[Path, str],
        vocab_size: int,
        normalize_unk: bool = True,
        use_triton: Optional[bool] = None,
        token_offset: int = DEFAULT_TOKEN_OFFSET,
    ) -> "NGramGPULanguageModel":
        """An LM from a `.nemo` file or an ARPA file (token-level, ids offset by `token_offset`)."""
        if str(lm_path).endswith(".nemo"):
            return cls.from_nemo(lm_path, vocab_size=vocab_size, use_triton=use_triton)
        return cls.from_arpa(lm_path, vocab_size=vocab_size, normalize_unk=normalize_unk,
                             use_triton=use_triton, token_offset=token_offset)

    @classmethod
    def from_nemo(cls, lm_path: Union[Path, str], vocab_size: int, use_triton: Optional[bool] = None):
        """Restore an LM `.nemo` (ours or NeMo's) and check it covers `vocab_size` tokens."""
        from nemo.core.classes.exceptions import ConfigError

        model = cls.restore_from(restore_path=str(lm_path), map_location=torch.device("cpu"))
        if model.vocab_size != vocab_size:
            raise ConfigError(f"{lm_path}: the LM has {model.vocab_size} tokens, the ASR model {vocab_size}")
        return model

    @classmethod
    def from_arpa(
        cls,
        lm_path: Union[Path, str],
        vocab_size: int,
        normalize_unk: bool = True,
        use_triton: Optional[bool] = None,
        token_offset: int = DEFAULT_TOKEN_OFFSET,
        vocabulary: Optional[Sequence[str]] = None,
    ) -> "NGramGPULanguageModel":
        """Read an ARPA file: one character per token (`chr(id + token_offset)`), or words of `vocabulary`."""
        logging.info(f"{cls.__name__}: reading LM from {lm_path}")
        table = read_arpa(str(lm_path), token_offset=token_offset, vocabulary=vocabulary)
        return cls.from_table(table, vocab_size=vocab_size, normalize_unk=normalize_unk, where=str(lm_path))

    @classmethod
    def from_table(cls, table: NGramTable, vocab_size: int, normalize_unk: bool = True, where: str = "LM"):
        """An LM from an in-memory n-gram table (e.g. from `estimate_kneser_ney`)."""
        return cls.from_suffix_tree(build_suffix_tree(table, vocab_size, normalize_unk=normalize_unk, where=where))

    @classmethod
    def from_suffix_tree(cls, tree: SuffixTree, separate_bos_state: bool = True) -> "NGramGPULanguageModel":
        cfg = OmegaConf.structured(NGramLMConfig(
            num_states=len(tree.state_order), num_arcs=len(tree.arc_from), max_order=tree.max_order,
            vocab_size=tree.vocab_size, separate_bos_state=separate_bos_state))
        model = cls(cfg)
        model._fill(tree)
        return model

    @classmethod
    def dummy_unigram_lm(cls, vocab_size: int, use_triton: Optional[bool] = None) -> "NGramGPULanguageModel":
        """A uniform unigram LM (every token and </s> at -log V), for tests."""
        w = -math.log(vocab_size)
        tree = SuffixTree(vocab_size, 1, [0] * vocab_size, [0] * vocab_size, list(range(vocab_size)),
                          [w] * vocab_size, [[0, vocab_size], [vocab_size, vocab_size]], [1, 2], [0, 0],
                          [0.0, 0.0], [w, w])
        return cls.from_suffix_tree(tree)

    def _fill(self, tree: SuffixTree) -> None:
        n_arcs = len(tree.arc_from)
        with torch.no_grad():
            self.arcs_weights.zero_()
            self.arcs_weights[:n_arcs] = torch.tensor(tree.arc_weight, dtype=torch.float32)
            self.backoff_weights.copy_(torch.tensor(tree.state_backoff_w, dtype=torch.float32))
            self.final_weights.copy_(torch.tensor(tree.state_final, dtype=torch.float32))
            dt = self.from_states.dtype
            self.from_states.zero_()
            self.to_states.zero_()
            self.ilabels.zero_()
            self.from_states[:n_arcs] = torch.tensor(tree.arc_from, dtype=dt)
            self.to_states[:n_arcs] = torch.tensor(tree.arc_to, dtype=dt)
            self.ilabels[:n_arcs] = torch.tensor(tree.arc_label, dtype=dt)
            self.backoff_to_states.copy_(torch.tensor(tree.state_backoff_to, dtype=dt))
            self.start_end_arcs.copy_(torch.tensor(tree.state_arcs, dtype=dt).view(-1, 2))
            self.state_order.copy_(torch.tensor(tree.state_order, dtype=dt))
        self._final_resolved = False
        self._dense = None
        self._resolve_final()

    # ----------------------------------------------------------------- queries
    def get_init_states(self, batch_size: int, bos: bool = True) -> torch.Tensor:
        """[B] start states: the <s> context (`bos`) or the empty one."""
        return torch.full([batch_size], self.bos_state if bos else self.START_STATE, dtype=torch.long,
                          device=self.arcs_weights.device)

    def advance(self, states: torch.Tensor, eos_id: Optional[int] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """For states [B]: log-probs [B, V] of every next token and the states [B, V] they lead to.

        With `eos_id`, that column holds the end-of-sentence score and keeps the state."""
        flat = states.reshape(-1).long()
        dense = self._dense_tables() if not torch.is_grad_enabled() else None
        if dense is not None:
            scores, next_states = dense[0][flat], dense[1][flat].long()
        else:
            scores, next_states = self._advance(flat)
        if eos_id is not None:
            scores[:, eos_id] = self.get_final(states.reshape(-1))
            next_states[:, eos_id] = states.reshape(-1)
        return scores.view(*states.shape, self.vocab_size), next_states.view(*states.shape, self.vocab_size)

    def _dense_tables(self):
        """Every state's full next-token row, built once when states x vocabulary fits DENSE_LIMIT entries:
        queries become one gather (the beam search asks for the same few states over and over)."""
        if self.num_states * self.vocab_size > self.DENSE_LIMIT:
            return None
        device = self.arcs_weights.device
        if self._dense is None or self._dense[0].device != device:
            with torch.no_grad():
                scores, nxt = [], []
                for first in range(0, self.num_states, 4096):
                    s, n = self._advance(torch.arange(first, min(first + 4096, self.num_states), device=device))
                    scores.append(s)
                    nxt.append(n.to(torch.int32))
                self._dense = (torch.cat(scores), torch.cat(nxt))
        return self._dense

    def _advance(self, states: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Walk each state's back-off chain; the first state that has an arc for a label decides it."""
        V, device = self.vocab_size, states.device
        n = states.shape[0]
        out_scores = torch.zeros(n, V, dtype=self.arcs_weights.dtype, device=device)
        out_next = torch.full((n, V), -1, dtype=torch.long, device=device)
        flat_scores, flat_next = out_scores.view(-1), out_next.view(-1)
        rows = torch.arange(n, device=device)
        cur = states
        acc = torch.zeros(n, dtype=self.arcs_weights.dtype, device=device)
        start_end = self.start_end_arcs.long()
        to_states, ilabels = self.to_states.long(), self.ilabels.long()
        for _ in range(self.max_order + 1):
            at_start = cur == self.START_STATE
            if bool(at_start.all()):
                break
            keep = ~at_start
            cur_rows, cur_states = rows[keep], cur[keep]
            acc_rows = acc[keep]
            se = start_end[cur_states]
            counts = se[:, 1] - se[:, 0]
            total = int(counts.sum())
            if total:
                owner = torch.repeat_interleave(torch.arange(cur_states.shape[0], device=device), counts)
                first = torch.cumsum(counts, 0) - counts
                arc = se[owner, 0] + torch.arange(total, device=device) - first[owner]
                flat = cur_rows[owner] * V + ilabels[arc]
                fresh = flat_next[flat] < 0
                flat, arc, owner = flat[fresh], arc[fresh], owner[fresh]
                flat_scores[flat] = acc_rows[owner] + self.arcs_weights[arc]
                flat_next[flat] = to_states[arc]
            acc = acc.clone()
            acc[keep] = acc_rows + self.backoff_weights[cur_states]
            cur = cur.clone()
            cur[keep] = self.backoff_to_states[cur_states].long()
        missing = out_next < 0
        out_scores = torch.where(missing, acc[:, None] + self.arcs_weights[:V][None, :], out_scores)
        out_next = torch.where(missing, to_states[:V][None, :].expand(n, V), out_next)
        return out_scores, out_next

    def get_final(self, states: torch.Tensor) -> torch.Tensor:
        """End-of-sentence log-probs for states (back-off resolved)."""
        self._resolve_final()
        return self.final_weights[states.long()]

    def _resolve_final(self) -> None:
        """Give every state its end-of-sentence score, backing off where the state has none of its own."""
        if self._final_resolved:
            return
        with torch.no_grad():
            final = self.final_weights.detach().clone()
            cur = torch.arange(self.num_states, device=final.device)
            acc = torch.zeros_like(final)
            out = final.clone()
            for _ in range(self.max_order + 1):
                todo = (out <= NEG_INF) & (cur != self.START_STATE)
                if not bool(todo.any()):
                    break
                acc = torch.where(todo, acc + self.backoff_weights.detach()[cur], acc)
                cur = torch.where(todo, self.backoff_to_states.long()[cur], cur)
                out = torch.where(todo & (final[cur] > NEG_INF), acc + final[cur], out)
            self.final_weights.copy_(out)
        self._final_resolved = True

    def score_sentences(self, labels: torch.Tensor, labels_lengths: Optional[torch.Tensor] = None,
                        bos: bool = True, eos: bool = False) -> torch.Tensor:
        """Log-prob of every label of [B, L] sequences ([B, L+1] with the </s> score when `eos`)."""
        batch, length = labels.shape
        if labels_lengths is None:
            labels_lengths = torch.full([batch], length, dtype=torch.long, device=labels.device)
        lengths = labels_lengths.long()
        scores = torch.zeros(batch, length + (1 if eos else 0), device=labels.device)
        states = self.get_init_states(batch, bos=bos).to(labels.device)
        for i in range(length):
            step, nxt = self._advance(states)
            lab = labels[:, i].long().clamp(0, self.vocab_size - 1)
            valid = i < lengths
            scores[:, i] = torch.where(valid, step.gather(1, lab[:, None]).squeeze(1), 0.0)
            states = torch.where(valid, nxt.gather(1, lab[:, None]).squeeze(1), states)
        if eos:
            scores.scatter_(1, lengths[:, None], self.get_final(states)[:, None])
        return scores

    def forward(self, labels: torch.Tensor, labels_lengths: Optional[torch.Tensor] = None,
                bos: bool = True, eos: bool = False) -> torch.Tensor:
        return self.score_sentences(labels, labels_lengths, bos=bos, eos=eos)
