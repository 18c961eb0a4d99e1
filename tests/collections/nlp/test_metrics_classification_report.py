"""ClassificationReport: per-class counts and micro/macro/weighted averages in percent."""

import pytest
import torch

from nemo.collections.nlp.metrics import ClassificationReport


def test_micro_macro_weighted():
    preds = torch.tensor([0, 0, 1, 1, 2, 0])
    labels = torch.tensor([0, 1, 1, 1, 2, 2])
    def compute(mode):
        report = ClassificationReport(num_classes=4, mode=mode)
        report.update(preds[:3], labels[:3])
        report.update(preds[3:], labels[3:])
        return report.compute()

    p, r, f1, text = compute("micro")
    assert p.item() == pytest.approx(100 * 4 / 6, abs=1e-3) and r.item() == pytest.approx(100 * 4 / 6, abs=1e-3)
    assert "label_id: 3" in text and "micro avg" in text and "weighted avg" in text
    p, r, f1, _ = compute("macro")
    # per class P: 1/3, 1, 1 ; R: 1, 2/3, 1/2 ; 3 classes have support (class 3 excluded)
    assert p.item() == pytest.approx(100 * (1 / 3 + 1 + 1) / 3, abs=1e-3)
    assert r.item() == pytest.approx(100 * (1 + 2 / 3 + 1 / 2) / 3, abs=1e-3)
    _, r, _, _ = compute("weighted")
    assert r.item() == pytest.approx(100 * (1 * 1 + 2 / 3 * 3 + 1 / 2 * 2) / 6, abs=1e-3)


def test_label_names_states_not_persistent_and_bad_mode():
    report = ClassificationReport(num_classes=2, label_ids={"neg": 0, "pos": 1}, mode="all")
    report.update(torch.tensor([1]), torch.tensor([1]))
    p, _, _, text = report.compute()
    assert p.shape == (2,) and "pos (label_id: 1)" in text
    assert report.state_dict() == {}
    with pytest.raises(ValueError, match="mode"):
        ClassificationReport(num_classes=2, mode="median")
