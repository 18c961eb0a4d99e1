"""Train a SentencePiece tokenizer from manifests' `text` fields into NeMo's tokenizer directory layout.

`python -m nemo.collections.common.tokenizers.process_asr_text_tokenizer --manifest m.json --data_root out
--vocab_size 128 --tokenizer spe --spe_type bpe` prints the folder to use as `model.tokenizer.dir`.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Sequence, Union

from nemo.collections.common.tokenizers.sentencepiece_tokenizer import create_spt_model


def write_text_corpus(manifests: Union[str, Sequence[str]], data_root: str) -> str:
    """Write every manifest line's `text` to `<data_root>/text_corpus/document.txt` (reused if present)."""
    paths = [p.strip() for p in manifests.split(",")] if isinstance(manifests, str) else list(manifests)
    corpus = os.path.join(data_root, "text_corpus", "document.txt")
    if os.path.exists(corpus):
        return corpus
    os.makedirs(os.path.dirname(corpus), exist_ok=True)
    tmp = corpus + ".tmp"
    with open(tmp, "w", encoding="utf-8") as out:
        for path in paths:
            with open(path, encoding="utf-8") as f:
                for number, line in enumerate(f, start=1):
                    if not line.strip():
                        continue
                    try:
                        text = json.loads(line).get("text", "")
                    except (json.JSONDecodeError, AttributeError) as err:
                        raise ValueError(f"{path}:{number}: not a JSON object: {err}") from err
                    out.write(text + "\n")
    os.replace(tmp, corpus)
    return corpus


def tokenizer_dir_name(data_root: str, spe_type: str, vocab_size: int, max_length: int = -1, pad=False, bos=False, eos=False) -> str:
    name = f"tokenizer_spe_{spe_type}_v{vocab_size}"
    name += f"_max_{max_length}" if max_length > 0 else ""
    name += "_pad" if pad else ""
    name += "_bos" if bos else ""
    name += "_eos" if eos else ""
    return os.path.join(data_root, name)


def process_asr_text_tokenizer(
    manifests: Union[str, Sequence[str], None] = None,
    data_root: str = ".",
    vocab_size: int = 1024,
    spe_type: str = "bpe",
    data_file: str = None,
    lower_case: bool = True,
    character_coverage: float = 1.0,
    sample_size: int = -1,
    max_sentencepiece_length: int = -1,
    pad: bool = False,
    bos: bool = False,
    eos: bool = False,
    **spt_kwargs,
) -> str:
    """Train a SentencePiece tokenizer; returns its directory (tokenizer.model, tokenizer.vocab, vocab.txt)."""
    if (manifests is None) == (data_file is None):
        raise ValueError("give exactly one of `manifests` or `data_file`")
    if data_file is None:
        data_file = write_text_corpus(manifests, data_root)
    out_dir = tokenizer_dir_name(data_root, spe_type, vocab_size, max_sentencepiece_length, pad, bos, eos)
    if os.path.exists(os.path.join(out_dir, "tokenizer.model")):
        os.remove(os.path.join(out_dir, "tokenizer.model"))
    create_spt_model(
        data_file, vocab_size, sample_size, lower_case, tokenizer_type=spe_type, output_dir=out_dir,
        character_coverage=character_coverage, max_sentencepiece_length=max_sentencepiece_length,
        bos=bos, eos=eos, pad=pad, **spt_kwargs,
    )
    return out_dir


def main(argv=None) -> str:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--manifest", help="comma-separated manifest paths")
    src.add_argument("--data_file", help="plain text, one sentence per line")
    p.add_argument("--data_root", required=True)
    p.add_argument("--vocab_size", type=int, default=1024)
    p.add_argument("--tokenizer", choices=["spe"], default="spe", help="only SentencePiece ('spe') is supported")
    p.add_argument("--spe_type", choices=["bpe", "unigram", "char", "word"], default="bpe")
    p.add_argument("--spe_character_coverage", type=float, default=1.0)
    p.add_argument("--spe_sample_size", type=int, default=-1)
    p.add_argument("--spe_max_sentencepiece_length", type=int, default=-1)
    p.add_argument("--spe_split_digits", action="store_true")
    p.add_argument("--spe_remove_extra_whitespaces", action="store_true")
    p.add_argument("--spe_byte_fallback", action="store_true")
    p.add_argument("--spe_no_split_by_unicode_script", action="store_true")
    p.add_argument("--spe_user_defined_symbols", nargs="+", default=None)
    p.add_argument("--spe_control_symbols", nargs="+", default=None)
    p.add_argument("--spe_bos", action="store_true")
    p.add_argument("--spe_eos", action="store_true")
    p.add_argument("--spe_pad", action="store_true")
    p.add_argument("--no_lower_case", action="store_true")
    a = p.parse_args(argv)
    out_dir = process_asr_text_tokenizer(
        manifests=a.manifest, data_file=a.data_file, data_root=a.data_root, vocab_size=a.vocab_size,
        spe_type=a.spe_type, lower_case=not a.no_lower_case, character_coverage=a.spe_character_coverage,
        sample_size=a.spe_sample_size, max_sentencepiece_length=a.spe_max_sentencepiece_length,
        pad=a.spe_pad, bos=a.spe_bos, eos=a.spe_eos, split_digits=a.spe_split_digits,
        remove_extra_whitespaces=a.spe_remove_extra_whitespaces, byte_fallback=a.spe_byte_fallback,
        split_by_unicode_script=not a.spe_no_split_by_unicode_script,
        user_defined_symbols=a.spe_user_defined_symbols, control_symbols=a.spe_control_symbols,
    )
    print(f"Serialized tokenizer at location : {out_dir}")
    return out_dir


if __name__ == "__main__":
    main()
