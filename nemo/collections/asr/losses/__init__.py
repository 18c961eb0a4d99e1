"""ASR losses."""

from nemo.collections.asr.losses.ctc import CTCLoss  # noqa: F401
from nemo.collections.asr.losses.rnnt import RNNTLoss, resolve_rnnt_default_loss_name  # noqa: F401
