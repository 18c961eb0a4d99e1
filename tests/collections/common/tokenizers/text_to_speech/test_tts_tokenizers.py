"""The phoneme tokenizer takes its G2P as NeMo's does (required, any callable); `common` loads no TTS code."""

import subprocess
import sys

import pytest

from nemo.collections.common.tokenizers.text_to_speech.tts_tokenizers import EnglishPhonemesTokenizer


def test_g2p_is_required():
    with pytest.raises(TypeError, match="g2p"):
        EnglishPhonemesTokenizer()


def test_any_callable_g2p_and_no_tts_import():
    code = (
        "import sys\n"
        "from nemo.collections.common.tokenizers.text_to_speech.tts_tokenizers import EnglishPhonemesTokenizer\n"
        "tok = EnglishPhonemesTokenizer(lambda text: ['HH', 'AH0', ' ', 'b', 'y'], chars=True)\n"
        "print([tok.tokens[i] for i in tok.encode('hi by')])\n"
        "print(sorted(m for m in sys.modules if m.startswith('nemo.collections.') and not m.startswith('nemo.collections.common')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == ["['HH', 'AH', ' ', 'b', 'y']", "[]"]
