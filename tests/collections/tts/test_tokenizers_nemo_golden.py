"""Token tables, ids and G2P symbols equal NVIDIA NeMo 3.0.0's (data/nemo_tts_tokenizers.json, written by NeMo
running tokenizer_cases.py), so NeMo-trained TTS embeddings and `.nemo` files line up id for id."""

import json
from pathlib import Path

import pytest

from tests.collections.tts.tokenizer_cases import run_cases

GOLDEN = json.loads((Path(__file__).parent / "data" / "nemo_tts_tokenizers.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def ours():
    return run_cases()


@pytest.mark.parametrize("group", ["chars", "phonemes", "g2p"])
def test_same_as_nemo(ours, group):
    expected = GOLDEN["cases"][group]
    assert sorted(ours[group]) == sorted(expected)
    for key, value in expected.items():
        assert ours[group][key] == value, key
