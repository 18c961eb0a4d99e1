"""Model mixins for the ASR collection."""

from nemo.collections.asr.parts.mixins.audio_data import ASRAudioDataMixin  # noqa: F401
from nemo.collections.asr.parts.mixins.mixins import ASRBPEMixin, ASRModuleMixin  # noqa: F401
from nemo.collections.asr.parts.mixins.transcription import (  # noqa: F401
    ASRTranscriptionMixin,
    InternalTranscribeConfig,
    TranscribeConfig,
)
