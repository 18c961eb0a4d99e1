"""Lightning callbacks that `exp_manager` adds from its config; each also works on its own."""

from nemo.utils.callbacks.nemo_model_checkpoint import NeMoModelCheckpoint
from nemo.utils.callbacks.preemption import PreemptionCallback
from nemo.utils.callbacks.resume_config_diff import ResumeConfigDiff
from nemo.utils.callbacks.stateless_timer import StatelessTimer
from nemo.utils.callbacks.timing import TimingCallback

__all__ = ["NeMoModelCheckpoint", "PreemptionCallback", "ResumeConfigDiff", "StatelessTimer", "TimingCallback"]
