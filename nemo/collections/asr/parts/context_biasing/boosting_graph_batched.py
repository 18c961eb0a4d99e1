"""GPUBoostingTreeModel: key phrases as an Aho-Corasick trie laid out like an n-gram LM (NeMo's boosting tree).

Each token that continues a phrase earns a bonus (`context_score`; deeper tokens `context_score * depth_scaling
+ log(depth)`); leaving a phrase half-way takes the bonus back through the failure (back-off) arc, a completed
phrase keeps it. It plugs into beam search as a fusion model with weight `boosting_tree_alpha`.
"""

import math
from collections import deque
from typing import List, Optional, Sequence

from nemo.collections.asr.parts.submodules.decoding_configs import BoostingTreeModelConfig  # noqa: F401 (NeMo path)
from nemo.collections.asr.parts.submodules.ngram_lm.ngram_lm_batched import NGramGPULanguageModel, SuffixTree
from nemo.core.classes.exceptions import ConfigError


def boosting_config_is_empty(cfg) -> bool:
    """True when the config names no phrases and no built model."""
    if cfg is None:
        return True
    get = cfg.get if hasattr(cfg, "get") else (lambda k, d=None: getattr(cfg, k, d))
    return (get("model_path") is None and get("key_phrases_file") is None and not get("key_phrases_list")
            and not get("key_phrase_items_list"))


class _Node:
    __slots__ = ("token", "children", "token_score", "node_score", "is_end", "fail", "depth", "state")

    def __init__(self, token: int, token_score: float, node_score: float, depth: int):
        self.token, self.children = token, {}
        self.token_score, self.node_score = token_score, node_score
        self.is_end, self.fail, self.depth, self.state = False, None, depth, 0


def _build_trie(phrases: Sequence[Sequence[int]], scores: Sequence[float], context_score: float,
                depth_scaling: float, uniform_weights: bool) -> _Node:
    root = _Node(-1, 0.0, 0.0, 0)
    for tokens, score in zip(phrases, scores):
        phrase_score = score if score != 0.0 else context_score
        node = root
        for i, tok in enumerate(tokens):
            if i > 0 and not uniform_weights:
                token_score = phrase_score * depth_scaling + math.log(i + 1)
            else:
                token_score = phrase_score
            child = node.children.get(tok)
            if child is None:
                child = _Node(tok, token_score, node.node_score + token_score, i + 1)
                node.children[tok] = child
            else:
                child.token_score = max(child.token_score, token_score)
                child.node_score = node.node_score + child.token_score
            if i == len(tokens) - 1:
                child.is_end = True
            node = child
    root.fail = root
    queue = deque()
    for child in root.children.values():
        child.fail = root
        queue.append(child)
    while queue:
        node = queue.popleft()
        for tok, child in node.children.items():
            f = node.fail
            while tok not in f.children and f is not root:
                f = f.fail
            child.fail = f.children[tok] if tok in f.children and f.children[tok] is not child else root
            queue.append(child)
    return root


def _tree_from_trie(root: _Node, vocab_size: int, unk_score: float, final_eos_score: float,
                    uniform_weights: bool) -> SuffixTree:
    """Number the trie's nodes breadth-first and lay them out as LM states and arcs."""
    order: List[_Node] = []
    queue = deque([root])
    while queue:
        node = queue.popleft()
        node.state = len(order)
        order.append(node)
        queue.extend(node.children[t] for t in sorted(node.children))
    max_depth = max(n.depth for n in order)
    t = SuffixTree(vocab_size, max_depth + 1, [], [], [], [], [], [], [], [], [])
    for node in order:
        t.state_order.append(node.depth + 1)
        t.state_backoff_to.append(node.fail.state if node is not root else 0)
        keep = node.is_end and not uniform_weights
        t.state_backoff_w.append(0.0 if node is root or keep else node.fail.node_score - node.node_score)
        t.state_final.append(final_eos_score if node.is_end else 0.0)
        t.state_arcs.append([0, 0])
    for label in range(vocab_size):
        child = root.children.get(label)
        t.arc_from.append(0)
        t.arc_label.append(label)
        t.arc_to.append(child.state if child is not None else 0)
        t.arc_weight.append(child.token_score if child is not None else unk_score)
    t.state_arcs[0] = [0, vocab_size]
    for node in order[1:]:
        if not node.children:
            continue
        start = len(t.arc_from)
        for label in sorted(node.children):
            child = node.children[label]
            weight = child.token_score + (child.node_score if uniform_weights and child.is_end else 0.0)
            t.arc_from.append(node.state)
            t.arc_label.append(label)
            t.arc_to.append(child.state)
            t.arc_weight.append(weight)
        t.state_arcs[node.state] = [start, len(t.arc_from)]
    return t


class GPUBoostingTreeModel(NGramGPULanguageModel):
    """Phrase-boosting tree with the n-gram LM's batched `advance` / `get_final` API."""

    @classmethod
    def from_phrases(cls, phrases: Sequence[Sequence[int]], vocab_size: int, context_score: float = 1.0,
                     depth_scaling: float = 2.0, unk_score: float = 0.0, final_eos_score: float = 1.0,
                     scores: Optional[Sequence[float]] = None, uniform_weights: bool = False):
        """A tree over token-id phrases."""
        phrases = [list(p) for p in phrases if len(p)]
        if not phrases:
            raise ConfigError("boosting tree: no non-empty key phrases")
        for p in phrases:
            bad = [tok for tok in p if not 0 <= tok < vocab_size]
            if bad:
                raise ConfigError(f"boosting tree: phrase token ids {bad} are outside the vocabulary of {vocab_size}")
        root = _build_trie(phrases, scores or [0.0] * len(phrases), context_score, depth_scaling, uniform_weights)
        tree = _tree_from_trie(root, vocab_size, unk_score, final_eos_score, uniform_weights)
        return cls.from_suffix_tree(tree, separate_bos_state=False)

    @classmethod
    def from_config(cls, cfg, tokenizer) -> "GPUBoostingTreeModel":
        """Build from `BoostingTreeModelConfig` keys; `tokenizer.text_to_ids` spells the phrases."""
        get = cfg.get if hasattr(cfg, "get") else (lambda k, d=None: getattr(cfg, k, d))
        model_path = get("model_path")
        if model_path is not None and str(model_path).endswith(".nemo"):
            import os

            if os.path.exists(model_path):
                return cls.from_nemo(model_path, vocab_size=tokenizer.vocab_size)
        phrases_file, phrases_list = get("key_phrases_file"), get("key_phrases_list")
        items = get("key_phrase_items_list")
        if phrases_file and (phrases_list or items):
            raise ConfigError("boosting_tree: give key_phrases_file or key_phrases_list/key_phrase_items_list, not both")
        if phrases_file:
            try:
                with open(phrases_file, "r", encoding="utf-8") as f:
                    texts = [line.strip() for line in f if line.strip()]
            except OSError as e:
                raise ConfigError(f"boosting_tree.key_phrases_file: cannot read {phrases_file}: {e}") from e
        else:
            texts = list(phrases_list or [])
            for item in items or []:
                texts.append(item["phrase"] if isinstance(item, dict) or hasattr(item, "get") else item.phrase)
        if not texts:
            raise ConfigError("boosting_tree: no key phrases given (key_phrases_file, key_phrases_list)")
        per_phrase = float(get("score_per_phrase", 0.0) or 0.0)
        token_lists = [list(tokenizer.text_to_ids(text)) for text in texts]
        scores = [round(per_phrase / len(text), 2) for text in texts]
        model = cls.from_phrases(
            token_lists, vocab_size=tokenizer.vocab_size, context_score=float(get("context_score", 1.0)),
            depth_scaling=float(get("depth_scaling", 2.0)), unk_score=float(get("unk_score", 0.0)),
            final_eos_score=float(get("final_eos_score", 1.0)), scores=scores,
            uniform_weights=bool(get("uniform_weights", False)))
        if model_path is not None:
            model.save_to(str(model_path))
        return model

    def get_final(self, states):
        """Score after the last token: `final_eos_score` where a phrase just completed, else 0."""
        return self.final_weights[states.long()]
