"""English->German parallel text from the gettext translations Debian packages ship.

Every `/usr/share/locale/de/LC_MESSAGES/*.mo` maps English UI/message strings (msgid) to German
(msgstr). This script reads them with Python's `gettext` module, cleans them (drops plural forms'
extra entries, format-only strings, keyboard accelerators, very short/long or untranslated
entries, duplicates) and splits the pairs into train/dev/test by a hash of the English side:

    out_dir/{train,dev,test}.{en,de}    one sentence per line, parallel
    out_dir/sources.json                which .mo files contributed how many pairs

    python examples/nlp/machine_translation/make_gettext_corpus.py --out_dir data/gettext_en_de

More packages -> more data: `apt-get install cinnamon-l10n krita-l10n gnupg-l10n` (see Makefile).
Each message keeps the licence of the package it came from (/usr/share/doc/<package>/copyright).
"""

import argparse
import glob
import gettext
import hashlib
import json
import os
import re
import sys
from collections import Counter

FORMAT = re.compile(r"%(\([^)]*\))?[-#0 +']*\d*(\.\d+)?[hlLqjzt]*[diouxXeEfFgGcrsa%]|\{[^}]*\}|\$\{[^}]*\}|%\d")
TAGS = re.compile(r"<[^>]+>")


def clean(text: str) -> str:
    text = TAGS.sub(" ", text)
    text = re.sub(r"(?<=\w)_(?=\w)|^_|&(?=\w)", "", text)  # accelerators: _File, &Open
    text = text.replace("\\n", " ").replace("\n", " ").replace("\t", " ")
    return " ".join(text.split())


def keep(en: str, de: str, min_words: int, max_words: int) -> bool:
    if en == de or not en or not de:
        return False
    n = len(en.split())
    if not min_words <= n <= max_words or len(de.split()) > 3 * max_words:
        return False
    letters = sum(c.isalpha() for c in en)
    if letters < 0.6 * len(en.replace(" ", "")):  # mostly codes, paths or placeholders
        return False
    if len(FORMAT.findall(en)) > 1 or re.search(r"https?://|/[a-z]+/|\\[a-z]|--[a-z]", en):
        return False
    return True


def read_pairs(locale_dir: str, min_words: int, max_words: int):
    pairs, sources = {}, Counter()
    for path in sorted(glob.glob(os.path.join(locale_dir, "*.mo"))):
        name = os.path.basename(path)
        if name.startswith("iso_"):  # language/country name lists, not sentences
            continue
        try:
            with open(path, "rb") as f:
                catalog = gettext.GNUTranslations(f)._catalog
        except Exception as e:  # a broken or non-gettext file
            print(f"skipping {path}: {e}", file=sys.stderr)
            continue
        for key, de in catalog.items():
            if isinstance(key, tuple):  # plural form: keep the singular (index 0) only
                if key[1] != 0:
                    continue
                key = key[0].split("\x00")[0]
            if not key:
                continue
            en = clean(key.split("\x04")[-1])  # drop msgctxt
            de = clean(de)
            if keep(en, de, min_words, max_words) and en not in pairs:
                pairs[en] = de
                sources[name] += 1
    return pairs, sources


def bucket(en: str) -> float:
    return int(hashlib.sha1(en.encode("utf-8")).hexdigest()[:8], 16) / 0xFFFFFFFF


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out_dir", required=True)
    p.add_argument("--locale_dir", default="/usr/share/locale/de/LC_MESSAGES")
    p.add_argument("--min_words", type=int, default=2)
    p.add_argument("--max_words", type=int, default=20)
    p.add_argument("--dev_size", type=int, default=500)
    p.add_argument("--test_size", type=int, default=500)
    args = p.parse_args(argv)

    pairs, sources = read_pairs(args.locale_dir, args.min_words, args.max_words)
    if len(pairs) < args.dev_size + args.test_size + 100:
        sys.exit(f"error: only {len(pairs)} pairs under {args.locale_dir}; install packages with German translations")
    ordered = sorted(pairs, key=bucket)
    splits = {
        "dev": ordered[: args.dev_size],
        "test": ordered[args.dev_size: args.dev_size + args.test_size],
        "train": ordered[args.dev_size + args.test_size:],
    }
    os.makedirs(args.out_dir, exist_ok=True)
    for split, keys in splits.items():
        keys = sorted(keys, key=lambda k: hashlib.md5(k.encode()).hexdigest())
        for lang, side in (("en", keys), ("de", [pairs[k] for k in keys])):
            with open(os.path.join(args.out_dir, f"{split}.{lang}"), "w", encoding="utf-8") as f:
                f.write("\n".join(side) + "\n")
    summary = {"pairs": len(pairs), **{f"{k}_size": len(v) for k, v in splits.items()}, "sources": dict(sources.most_common())}
    with open(os.path.join(args.out_dir, "sources.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(json.dumps({k: v for k, v in summary.items() if k != "sources"}, indent=2))
    print("top sources:", ", ".join(f"{k} {v}" for k, v in sources.most_common(8)))


if __name__ == "__main__":
    main()
