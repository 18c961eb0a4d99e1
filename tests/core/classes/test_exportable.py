"""Exportable: ONNX checked in onnxruntime against PyTorch, TorchScript reloaded (spec core §11)."""

import numpy as np
import onnxruntime as ort
import pytest
import torch
from omegaconf import OmegaConf

from nemo.core import Exportable, ModelPT, NeuralModule
from nemo.core.classes.exportable import ExportFormat, get_export_format
from nemo.core.neural_types import AcousticEncodedRepresentation, LogitsType, NeuralType


class Net(ModelPT, Exportable):
    def __init__(self, cfg, trainer=None):
        super().__init__(cfg, trainer)
        self.conv = torch.nn.Conv1d(4, 8, 3, padding=1)
        self.out = torch.nn.Linear(8, 3)

    @property
    def input_types(self):
        return {"features": NeuralType(("B", "D", "T"), AcousticEncodedRepresentation())}

    @property
    def output_types(self):
        return {"logits": NeuralType(("B", "T", "D"), LogitsType())}

    def input_example(self, max_batch=None, max_dim=None):
        return (torch.randn(2, 4, 10),)

    def forward(self, features):
        return self.out(torch.relu(self.conv(features)).transpose(1, 2))

    def setup_training_data(self, cfg):
        pass

    def setup_validation_data(self, cfg):
        pass


def test_export_format_from_extension():
    assert get_export_format("a.ONNX") is ExportFormat.ONNX and get_export_format("b.ts") is ExportFormat.TORCHSCRIPT
    with pytest.raises(ValueError, match="extension"):
        get_export_format("c.txt")


def test_onnx_matches_pytorch_with_dynamic_axes(tmp_path):
    torch.manual_seed(0)
    net = Net(OmegaConf.create({}))
    net.train()
    paths, descriptions = net.export(str(tmp_path / "net.onnx"), check_trace=True)
    assert paths == [str(tmp_path / "net.onnx")] and "ExportFormat.ONNX" in descriptions[0]
    assert net.training and all(p.requires_grad for p in net.parameters())
    session = ort.InferenceSession(paths[0], providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["features"]
    x = torch.randn(3, 4, 17)
    net.eval()
    expected = net(x).detach().numpy()
    got = session.run(None, {"features": x.numpy()})[0]
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_torchscript_export(tmp_path):
    net = Net(OmegaConf.create({}))
    paths, _ = net.export(str(tmp_path / "net.ts"), check_trace=True)
    loaded = torch.jit.load(paths[0])
    x = torch.randn(1, 4, 6)
    torch.testing.assert_close(loaded(x), net.eval()(x))


def test_export_without_example_is_clear(tmp_path):
    class Bare(NeuralModule, Exportable):
        def forward(self, x):
            return x

    with pytest.raises(Exception, match="input_example"):
        Bare().export(str(tmp_path / "b.onnx"))
