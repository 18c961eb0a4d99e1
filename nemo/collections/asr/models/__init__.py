"""ASR models."""

from nemo.collections.asr.models.asr_model import ASRModel, ExportableEncDecModel  # noqa: F401
from nemo.collections.asr.models.ctc_bpe_models import EncDecCTCModelBPE  # noqa: F401
from nemo.collections.asr.models.ctc_models import EncDecCTCModel  # noqa: F401
from nemo.collections.asr.models.hybrid_rnnt_ctc_bpe_models import EncDecHybridRNNTCTCBPEModel  # noqa: F401
from nemo.collections.asr.models.hybrid_rnnt_ctc_models import EncDecHybridRNNTCTCModel  # noqa: F401
from nemo.collections.asr.models.rnnt_bpe_models import EncDecRNNTBPEModel  # noqa: F401
from nemo.collections.asr.models.rnnt_models import EncDecRNNTModel  # noqa: F401
from nemo.collections.asr.models.hybrid_asr_tts_models import ASRWithTTSModel  # noqa: F401,E402  (TTS loads lazily)
