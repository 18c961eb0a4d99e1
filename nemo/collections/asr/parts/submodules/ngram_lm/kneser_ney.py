"""Modified Kneser-Ney n-gram estimation (Chen & Goodman, interpolated; the estimator KenLM's lmplz implements,
not compared with lmplz output here, as no KenLM binary is available) in pure Python.

Input: sentences as lists of token ids. Output: an `NGramTable` ready for `write_arpa`; for every context the
probabilities of all words (seen ones stored, unseen ones through back-off) sum to one.
"""

import math
from collections import Counter, defaultdict
from typing import Dict, Iterable, List, Sequence, Tuple

from nemo.collections.asr.parts.submodules.ngram_lm.arpa import NGramTable
from nemo.collections.asr.parts.submodules.ngram_lm.constants import BOS_ID, EOS_ID, UNK_ID

FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)  # KenLM's --discount_fallback values


def count_ngrams(sentences: Iterable[Sequence[int]], order: int) -> List[Counter]:
    """Raw counts of every n-gram (n = 1..order) of `<s> sentence </s>`; index 0 is unused."""
    if order < 1:
        raise ValueError(f"n-gram order must be >= 1, got {order}")
    raw = [Counter() for _ in range(order + 1)]
    for sentence in sentences:
        toks = (BOS_ID, *[int(t) for t in sentence], EOS_ID)
        for i in range(len(toks)):
            for n in range(1, order + 1):
                if i + n > len(toks):
                    break
                raw[n][toks[i:i + n]] += 1
    return raw


def adjusted_counts(raw: List[Counter]) -> List[Counter]:
    """Kneser-Ney counts: raw counts at the top order and for n-grams opening with <s>, otherwise the
    number of distinct words seen to the left."""
    order = len(raw) - 1
    adj = [Counter() for _ in range(order + 1)]
    adj[order] = Counter(raw[order])
    for n in range(order - 1, 0, -1):
        left = Counter()
        for gram in raw[n + 1]:
            left[gram[1:]] += 1
        for gram, c in raw[n].items():
            adj[n][gram] = c if gram[0] == BOS_ID else left[gram]
    adj[1].pop((BOS_ID,), None)
    return adj


def discounts(counts: Counter) -> Tuple[float, float, float]:
    """D1, D2, D3+ from the count-of-counts (Chen & Goodman); KenLM's fallback where they are undefined."""
    n = Counter(min(c, 4) for c in counts.values() if c > 0)
    n1, n2, n3, n4 = n[1], n[2], n[3], n[4]
    if min(n1, n2, n3, n4) == 0:
        return FALLBACK_DISCOUNTS
    y = n1 / (n1 + 2 * n2)
    d = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
    if not (0 < d[0] < 1 and 0 < d[1] < 2 and 0 < d[2] < 3):
        return FALLBACK_DISCOUNTS
    return d


def estimate_kneser_ney(sentences: Iterable[Sequence[int]], order: int) -> NGramTable:
    """An interpolated modified Kneser-Ney LM of `order` over `sentences` (lists of ids >= 0).

    The unigram level interpolates with a uniform distribution over the seen words, </s> and <unk>; readers
    spread <unk>'s mass over the vocabulary ids the LM never saw.
    """
    raw = count_ngrams(sentences, order)
    adj = adjusted_counts(raw)
    table = NGramTable(max_order=order, ngrams={n: {} for n in range(1, order + 1)})
    words = {g[0] for g in adj[1]} | {EOS_ID, UNK_ID}
    uniform = 1.0 / len(words)
    lower_prob: Dict[Tuple[int, ...], float] = {}
    backoffs: Dict[int, Dict[Tuple[int, ...], float]] = {n: {} for n in range(order + 1)}
    for n in range(1, order + 1):
        d = discounts(adj[n])
        by_context: Dict[Tuple[int, ...], List[Tuple[Tuple[int, ...], int]]] = defaultdict(list)
        for gram, c in adj[n].items():
            by_context[gram[:-1]].append((gram, c))
        probs: Dict[Tuple[int, ...], float] = {}
        for context, grams in by_context.items():
            total = sum(c for _, c in grams)
            kinds = Counter(min(c, 3) for _, c in grams)
            gamma = (d[0] * kinds[1] + d[1] * kinds[2] + d[2] * kinds[3]) / total
            backoffs[n - 1][context] = gamma
            for gram, c in grams:
                lower = uniform if n == 1 else lower_prob[gram[1:]]
                probs[gram] = max(c - d[min(c, 3) - 1], 0.0) / total + gamma * lower
        if n == 1:
            probs[(UNK_ID,)] = backoffs[0][()] * uniform
        lower_prob = probs
        table.ngrams[n] = {g: [math.log(p) if p > 0 else float("-inf"), 0.0] for g, p in probs.items()}
    table.ngrams[1][(BOS_ID,)] = [float("-inf"), 0.0]
    for n in range(1, order):
        for gram, entry in table.ngrams[n].items():
            gamma = backoffs[n].get(gram)
            entry[1] = math.log(gamma) if gamma else 0.0
    for n in table.ngrams:
        table.ngrams[n] = {g: (p, b) for g, (p, b) in table.ngrams[n].items()}
    return table
