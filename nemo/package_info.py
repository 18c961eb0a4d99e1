"""Package metadata; importing it is free of dependencies."""

MAJOR, MINOR, PATCH = 0, 1, 0
__version__ = f"{MAJOR}.{MINOR}.{PATCH}"
__shortversion__ = f"{MAJOR}.{MINOR}"
__package_name__ = "nemo-models"
__contact_names__ = "nemo-models developers"
__homepage__ = "https://github.com/nemo-models/nemo-models"
__repository_url__ = __homepage__
__description__ = "A clean-room implementation of NVIDIA NeMo's model system"
__license__ = "Apache-2.0"
__keywords__ = "deep learning, asr, nlp, tts, pytorch, lightning"
