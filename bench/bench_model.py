"""A plain stack of Linear layers used by the save/restore benchmark."""

import torch

from nemo.core import ModelPT


class BenchModel(ModelPT):
    def __init__(self, cfg, trainer=None):
        super().__init__(cfg, trainer)
        self.layers = torch.nn.ModuleList(torch.nn.Linear(cfg.width, cfg.width) for _ in range(cfg.layers))

    def setup_training_data(self, cfg):
        pass

    def setup_validation_data(self, cfg):
        pass

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x
