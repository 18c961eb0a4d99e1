"""ASR neural modules: preprocessors, augmentation, encoders and decoders."""

from nemo.collections.asr.modules.audio_preprocessing import (  # noqa: F401
    AudioPreprocessor,
    AudioToMelSpectrogramPreprocessor,
    AudioToMelSpectrogramPreprocessorConfig,
    SpectrogramAugmentation,
    SpectrogramAugmentationConfig,
)
from nemo.collections.asr.modules.conformer_encoder import ConformerChangeConfig, ConformerEncoder  # noqa: F401
from nemo.collections.asr.modules.conv_asr import (  # noqa: F401
    ConvASRDecoder,
    ConvASRDecoderConfig,
    ConvASREncoder,
    ConvASREncoderConfig,
    JasperEncoderConfig,
)
from nemo.collections.asr.modules.rnnt import RNNTDecoder, RNNTDecoderJoint, RNNTJoint  # noqa: F401
