"""Word and segment timestamps built from token offsets, and frame offsets -> seconds (NeMo's layout)."""

from typing import Callable, Dict, List, Optional, Set

from nemo.utils import logging

__all__ = ["flatten_char_offsets", "get_words_offsets", "get_segment_offsets", "process_timestamp_outputs"]


def flatten_char_offsets(char_offsets: List[Dict]) -> List[Dict]:
    """One entry per character/token: transducer offsets carry a list under `char`."""
    if not char_offsets:
        return char_offsets
    flat = []
    for item in char_offsets:
        if isinstance(item["char"], list):
            for ch in item["char"]:
                piece = dict(item)
                piece["char"] = ch
                flat.append(piece)
        else:
            flat.append(item)
    return flat


def _word_start_rule(tokenizer_type: str, delimiter: str, punctuation: Set[str]) -> Callable[[str, str, Optional[str]], bool]:
    """When does a token open a new word: (token, its text, next non-delimiter text) -> bool."""
    def delimiter_before_word(text, following):
        return text == delimiter and following not in punctuation

    if tokenizer_type in ("bpe", "wpe") and delimiter == " ":
        if tokenizer_type == "wpe":
            return lambda token, text, following: bool(text and not text.startswith("##")) or delimiter_before_word(text, following)
        # a SentencePiece piece whose text differs from the piece itself starts with the word marker
        return lambda token, text, following: token != text or delimiter_before_word(text, following)
    if delimiter == " ":
        return lambda token, text, following: delimiter_before_word(text, following)
    return lambda token, text, following: text == delimiter


def _word(text: str, first: Dict, last: Dict) -> Dict:
    out = {"word": text, "start_offset": first["start_offset"], "end_offset": last["end_offset"]}
    if "start" in first:
        out["start"] = first["start"]
    if "end" in last:
        out["end"] = last["end"]
    return out


def get_words_offsets(
    char_offsets: List[Dict],
    encoded_char_offsets: List[Dict],
    decode_tokens_to_str: Callable[[List[str]], str],
    word_delimiter_char: str = " ",
    tokenizer_type: str = "bpe",
    supported_punctuation: Optional[Set] = None,
) -> List[Dict]:
    """Group token offsets into words; punctuation attaches to the word before it.

    `char_offsets` hold decoded token texts, `encoded_char_offsets` the raw tokens (pieces).
    """
    punctuation = set(supported_punctuation or ())
    chars = flatten_char_offsets(char_offsets)
    encoded = flatten_char_offsets(encoded_char_offsets) if encoded_char_offsets is not None else chars
    starts_word = _word_start_rule(tokenizer_type, word_delimiter_char, punctuation)
    words: List[Dict] = []
    pending: List[str] = []
    first = 0
    for i, (item, enc) in enumerate(zip(chars, encoded)):
        text, token = item["char"], enc["char"]
        is_punct = bool(punctuation) and text in punctuation and text != word_delimiter_char
        following = None
        j = i
        while not following and j < len(chars) - 1:
            j += 1
            following = chars[j]["char"]
            following = following if following != word_delimiter_char else None
        if starts_word(token, text, following) and not is_punct:
            if pending:
                words.append(_word(decode_tokens_to_str(pending), chars[first], chars[i - 1]))
            pending = []
            if text != word_delimiter_char:
                pending.append(token)
                first = i
        elif is_punct and not pending and words:
            last = words[-1]
            last["end_offset"] = item["end_offset"]
            if last["word"].endswith(" "):
                last["word"] = last["word"][:-1]
            last["word"] += text
        elif is_punct and pending:
            if pending[-1] in (" ", "_", "▁"):
                pending = pending[:-1]
            pending.append(token)
        else:
            if not pending:
                first = i
            pending.append(token)
    if not words:
        if pending:
            words.append(_word(decode_tokens_to_str(pending), chars[0], chars[-1]))
        return words
    words[0]["start_offset"] = chars[0]["start_offset"]
    if "start" in chars[0]:
        words[0]["start"] = chars[0]["start"]
    if pending:
        words.append(_word(decode_tokens_to_str(pending), chars[first], chars[-1]))
    return words


def get_segment_offsets(
    word_offsets: List[Dict],
    segment_delimiter_tokens: List[str],
    supported_punctuation: Optional[Set] = None,
    segment_gap_threshold: Optional[int] = None,
) -> List[Dict]:
    """Group words into segments, closed by a delimiter (".", "?", "!") or a gap of `segment_gap_threshold` frames."""
    delimiters = list(segment_delimiter_tokens or [])
    if supported_punctuation and not set(delimiters) & set(supported_punctuation) and not segment_gap_threshold:
        logging.warning(f"Specified segment seperators are not in supported punctuation {supported_punctuation}. "
                        "If the seperators are not punctuation marks, ignore this warning. Otherwise, specify "
                        "'segment_gap_threshold' parameter in decoding config to form segments.")

    def segment(texts, first, last):
        out = {"segment": " ".join(texts), "start_offset": first["start_offset"], "end_offset": last["end_offset"]}
        if "start" in first:
            out["start"] = first["start"]
        if "end" in last:
            out["end"] = last["end"]
        return out

    segments: List[Dict] = []
    texts: List[str] = []
    first = 0
    for i, item in enumerate(word_offsets):
        word = item["word"]
        if segment_gap_threshold and texts:
            if item["start_offset"] - word_offsets[i - 1]["end_offset"] >= segment_gap_threshold:
                segments.append(segment(texts, word_offsets[first], word_offsets[i - 1]))
                texts, first = [word], i
                continue
        elif word and (word[-1] in delimiters or word in delimiters):
            texts.append(word)
            segments.append(segment(texts, word_offsets[first], item))
            texts, first = [], i + 1
            continue
        texts.append(word)
    if texts:
        segments.append(segment(texts, word_offsets[first], word_offsets[-1]))
    return segments


def process_timestamp_outputs(outputs, subsampling_factor: int = 1, window_stride: float = 0.01):
    """Add `start`/`end` seconds (offset x window_stride x subsampling_factor) to char/word/segment entries."""
    from nemo.collections.asr.parts.utils.rnnt_utils import Hypothesis

    if outputs is None:
        return outputs
    if isinstance(outputs, Hypothesis):
        outputs = [outputs]
    if not outputs:
        return outputs
    if not isinstance(outputs[0], Hypothesis):
        raise ValueError(f"Expected Hypothesis object, got {type(outputs[0])}")
    for hyp in outputs:
        if not isinstance(hyp.timestamp, dict):
            raise ValueError("timestamps were requested but a hypothesis has no timestamp dictionary "
                             f"(got {type(hyp.timestamp).__name__}); was compute_timestamps enabled?")
        for key in ("word", "char", "segment"):
            for entry in hyp.timestamp.get(key, []):
                entry["start"] = entry["start_offset"] * window_stride * subsampling_factor
                entry["end"] = entry["end_offset"] * window_stride * subsampling_factor
    return outputs
