"""Loss: base class for NeMo loss modules (an nn.Module with type declarations)."""

import torch

from nemo.core.classes.common import Serialization, Typing


class Loss(torch.nn.modules.loss._Loss, Typing, Serialization):
    """Base class of losses; subclasses implement `forward`."""
