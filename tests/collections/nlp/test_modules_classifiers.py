"""SequenceClassifier / TokenClassifier: NeMo's arguments, key names, shapes and init."""

import pytest
import torch

from nemo.collections.nlp.modules import SequenceClassifier, TokenClassifier
from nemo.collections.nlp.modules.common.classifiers import MultiLayerPerceptron


def test_sequence_classifier_keys_shapes_and_cls_conditioning():
    head = SequenceClassifier(hidden_size=8, num_classes=3, num_layers=2, activation="relu", log_softmax=False,
                              dropout=0.0, use_transformer_init=True, idx_conditioned_on=0)
    assert sorted(head.state_dict()) == ["mlp.layer0.bias", "mlp.layer0.weight", "mlp.layer2.bias", "mlp.layer2.weight"]
    assert head.mlp.layer2.weight.shape == (3, 8)
    h = torch.randn(4, 5, 8)
    out = head(hidden_states=h)
    assert out.shape == (4, 3)
    h2 = h.clone()
    h2[:, 1:] = 0  # only position 0 matters
    assert torch.allclose(head(hidden_states=h2), out)


def test_transformer_init_is_normal_002_with_zero_bias():
    torch.manual_seed(0)
    head = SequenceClassifier(hidden_size=256, num_classes=256, num_layers=1)
    w = head.mlp.layer0.weight
    assert abs(w.std().item() - 0.02) < 0.002 and head.mlp.layer0.bias.abs().max() == 0


def test_log_softmax_and_layers():
    mlp = MultiLayerPerceptron(6, 4, num_layers=3, activation="gelu", log_softmax=True)
    assert sorted(n for n, _ in mlp.named_children()) == ["layer0", "layer2", "layer4"]
    out = mlp(torch.randn(2, 6))
    assert torch.allclose(out.exp().sum(-1), torch.ones(2), atol=1e-5)
    with pytest.raises(ValueError, match="activation"):
        MultiLayerPerceptron(6, 4, activation="swishy")


def test_token_classifier_per_token():
    head = TokenClassifier(hidden_size=8, num_classes=5)
    assert sorted(head.state_dict()) == ["mlp.layer0.bias", "mlp.layer0.weight"]
    assert head(hidden_states=torch.randn(2, 7, 8)).shape == (2, 7, 5)
