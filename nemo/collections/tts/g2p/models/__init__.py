"""G2P models: `EnglishG2p` (dictionary-based ARPABET)."""

from nemo.collections.tts.g2p.models.en_us_arpabet import EnglishG2p  # noqa: F401
