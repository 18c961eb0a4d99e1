"""WordNet lexicographer-category classification data, and a bag-of-words baseline.

Each WordNet 3.0 noun synset carries a lexicographer file (noun.animal, noun.artifact, ...). The
task: given a synset's definition (its gloss without the quoted examples), predict that category.
Reads Debian's `wordnet-base` package (`apt-get install wordnet-base`, /usr/share/wordnet/data.noun)
and writes NeMo's text classification files:

    out_dir/train.tsv, dev.tsv, test.tsv   `sentence<TAB>label` with a header line
    out_dir/labels.txt                      one category name per line (line i = label i)
    out_dir/LICENSE.wordnet                 WordNet's licence (permissive; keep it with the data)

then trains and scores a bag-of-words logistic-regression baseline on the same split:

    python examples/nlp/text_classification/make_wordnet_dataset.py --out_dir data/wordnet10

Splits are decided by a hash of the synset offset, so they are stable across runs.
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
from collections import Counter, defaultdict
from typing import Dict, List, Tuple

# WordNet's lexicographer file numbers for nouns (lexnames(5WN)).
NOUN_LEXNAMES = {
    3: "Tops", 4: "act", 5: "animal", 6: "artifact", 7: "attribute", 8: "body", 9: "cognition",
    10: "communication", 11: "event", 12: "feeling", 13: "food", 14: "group", 15: "location", 16: "motive",
    17: "object", 18: "person", 19: "phenomenon", 20: "plant", 21: "possession", 22: "process",
    23: "quantity", 24: "relation", 25: "shape", 26: "state", 27: "substance", 28: "time",
}
DEFAULT_CLASSES = ("animal", "artifact", "food", "person", "plant", "location", "substance", "act", "communication", "state")


def read_noun_glosses(data_noun: str) -> List[Tuple[str, str, str]]:
    """(synset offset, category, definition) for every noun synset."""
    rows = []
    with open(data_noun, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("  "):  # licence header
                continue
            head, _, gloss = line.partition(" | ")
            fields = head.split()
            offset, lexfile = fields[0], int(fields[1])
            definition = re.split(r';\s*"', gloss.strip(), maxsplit=1)[0].strip().rstrip(";").strip()
            definition = " ".join(definition.replace("\t", " ").split())
            if definition:
                rows.append((offset, NOUN_LEXNAMES.get(lexfile, str(lexfile)), definition))
    return rows


def split_of(offset: str, dev_fraction: float, test_fraction: float) -> str:
    x = int(hashlib.sha1(offset.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "dev" if x < dev_fraction else "test" if x < dev_fraction + test_fraction else "train"


def build(data_noun: str, classes, per_class_train: int, dev_fraction: float, test_fraction: float, per_class_eval: int):
    by_split: Dict[str, Dict[str, List[str]]] = defaultdict(lambda: defaultdict(list))
    seen = set()
    for offset, category, definition in read_noun_glosses(data_noun):
        if category not in classes or definition.lower() in seen:
            continue
        seen.add(definition.lower())
        by_split[split_of(offset, dev_fraction, test_fraction)][category].append((offset, definition))
    data = {}
    for split, cap in (("train", per_class_train), ("dev", per_class_eval), ("test", per_class_eval)):
        rows = []
        for label, category in enumerate(classes):
            items = sorted(by_split[split][category], key=lambda r: hashlib.sha1(r[0].encode()).hexdigest())
            rows.extend((definition, label) for _, definition in items[:cap])
        rows.sort(key=lambda r: hashlib.sha1(r[0].encode()).hexdigest())
        data[split] = rows
    return data


def tokenize(text: str) -> List[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def bag_of_words_baseline(data, num_classes: int, epochs: int = 300, min_count: int = 2) -> Dict[str, float]:
    """Multinomial logistic regression on word counts (L2, Adam, full batch); accuracy per split."""
    import torch

    counts = Counter(w for s, _ in data["train"] for w in set(tokenize(s)))
    vocab = {w: i for i, w in enumerate(sorted(w for w, c in counts.items() if c >= min_count))}

    def featurize(rows):
        x = torch.zeros(len(rows), len(vocab))
        for i, (s, _) in enumerate(rows):
            for w in tokenize(s):
                if w in vocab:
                    x[i, vocab[w]] += 1.0
        return torch.log1p(x), torch.tensor([l for _, l in rows])

    torch.manual_seed(0)
    x_train, y_train = featurize(data["train"])
    model = torch.nn.Linear(len(vocab), num_classes)
    opt = torch.optim.Adam(model.parameters(), lr=0.05, weight_decay=1e-4)
    for _ in range(epochs):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x_train), y_train).backward()
        opt.step()
    result = {"vocab_size": len(vocab)}
    with torch.no_grad():
        for split in ("train", "dev", "test"):
            x, y = featurize(data[split])
            result[f"{split}_accuracy"] = (model(x).argmax(-1) == y).float().mean().item()
    return result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out_dir", required=True)
    p.add_argument("--wordnet_dir", default="/usr/share/wordnet")
    p.add_argument("--classes", default=",".join(DEFAULT_CLASSES), help="comma-separated noun categories")
    p.add_argument("--per_class_train", type=int, default=600)
    p.add_argument("--per_class_eval", type=int, default=100)
    p.add_argument("--dev_fraction", type=float, default=0.1)
    p.add_argument("--test_fraction", type=float, default=0.1)
    args = p.parse_args(argv)

    data_noun = os.path.join(args.wordnet_dir, "data.noun")
    if not os.path.isfile(data_noun):
        sys.exit(f"error: {data_noun} not found; install WordNet 3.0 with `apt-get install wordnet-base`")
    classes = [c.strip() for c in args.classes.split(",") if c.strip()]
    unknown = sorted(set(classes) - set(NOUN_LEXNAMES.values()))
    if unknown:
        sys.exit(f"error: unknown categories {unknown}; known: {sorted(NOUN_LEXNAMES.values())}")
    data = build(data_noun, classes, args.per_class_train, args.dev_fraction, args.test_fraction, args.per_class_eval)
    os.makedirs(args.out_dir, exist_ok=True)
    for split, rows in data.items():
        with open(os.path.join(args.out_dir, f"{split}.tsv"), "w", encoding="utf-8") as f:
            f.write("sentence\tlabel\n")
            f.writelines(f"{s}\t{l}\n" for s, l in rows)
    with open(os.path.join(args.out_dir, "labels.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(classes) + "\n")
    licence = "/usr/share/doc/wordnet-base/copyright"
    if os.path.isfile(licence):
        shutil.copyfile(licence, os.path.join(args.out_dir, "LICENSE.wordnet"))
    baseline = bag_of_words_baseline(data, len(classes))
    summary = {"classes": classes, **{f"{k}_size": len(v) for k, v in data.items()}, "bag_of_words": baseline}
    with open(os.path.join(args.out_dir, "baseline.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
