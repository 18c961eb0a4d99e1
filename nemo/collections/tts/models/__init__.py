"""TTS models: spectrogram generators (`Tacotron2Model`, `FastPitchModel`) and vocoders (`HifiGanModel`,
`GriffinLimModel`) behind the `SpectrogramGenerator` / `Vocoder` inference API."""

from nemo.collections.tts.models.base import SpectrogramGenerator, Vocoder  # noqa: F401
from nemo.collections.tts.models.fastpitch import FastPitchModel  # noqa: F401
from nemo.collections.tts.models.griffin_lim import GriffinLimModel  # noqa: F401
from nemo.collections.tts.models.hifigan import HifiGanModel  # noqa: F401
from nemo.collections.tts.models.tacotron2 import Tacotron2Model  # noqa: F401
