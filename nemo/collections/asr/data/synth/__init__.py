"""Offline English speech corpus made with espeak-ng: `python -m nemo.collections.asr.data.synth --out DIR`.

Python: `synthesize_corpus(out_dir, num_train, num_dev, num_test, seed)` -> {split: manifest path}.
"""

from nemo.collections.asr.data.synth.corpus import DEFAULT_VOICES, plan_corpus, synthesize_corpus  # noqa: F401
from nemo.collections.asr.data.synth.espeak import EspeakNotFoundError  # noqa: F401
