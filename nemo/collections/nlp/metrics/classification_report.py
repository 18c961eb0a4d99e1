"""`ClassificationReport`: per-class and micro/macro/weighted precision, recall and F1 (in percent),
accumulated over an epoch (a torchmetrics `Metric`, so it syncs across processes)."""

from typing import Dict, Optional, Tuple

import torch
from torchmetrics import Metric

METRIC_EPS = 1e-6


class ClassificationReport(Metric):
    """`update(predictions, labels)` counts tp/fp/fn per class; `compute()` returns
    `(precision, recall, f1, report_text)` for `mode` in micro, macro, weighted or all."""

    full_state_update = True

    def __init__(self, num_classes: int, label_ids: Optional[Dict[str, int]] = None, mode: str = "macro", dist_sync_on_step: bool = False, process_group=None):
        super().__init__(dist_sync_on_step=dist_sync_on_step, process_group=process_group)
        if mode not in ("macro", "micro", "weighted", "all"):
            raise ValueError(f"mode must be one of macro, micro, weighted, all; got {mode!r}")
        self.num_classes = num_classes
        self.label_ids = label_ids
        self.mode = mode
        for name in ("tp", "fn", "fp", "num_examples_per_class"):
            self.add_state(name, default=torch.zeros(num_classes), dist_reduce_fx="sum", persistent=False)

    def update(self, predictions: torch.Tensor, labels: torch.Tensor) -> None:
        predictions = predictions.reshape(-1).long()
        labels = labels.reshape(-1).long()
        classes = torch.arange(self.num_classes, device=labels.device).unsqueeze(1)  # (C, 1)
        pred_c, label_c = predictions.unsqueeze(0) == classes, labels.unsqueeze(0) == classes  # (C, N)
        tp = (pred_c & label_c).sum(1).float()
        fp = (pred_c & ~label_c).sum(1).float()
        fn = (~pred_c & label_c).sum(1).float()
        self.tp += tp
        self.fp += fp
        self.fn += fn
        self.num_examples_per_class += tp + fn

    def compute(self) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, str]:
        tp, fp, fn, support = self.tp, self.fp, self.fn, self.num_examples_per_class
        precision = 100 * tp / (tp + fp + METRIC_EPS)
        recall = 100 * tp / (tp + fn + METRIC_EPS)
        f1 = 2 * precision * recall / (precision + recall + METRIC_EPS)
        micro_p = 100 * tp.sum() / (tp.sum() + fp.sum() + METRIC_EPS)
        micro_r = 100 * tp.sum() / (tp.sum() + fn.sum() + METRIC_EPS)
        micro_f1 = 2 * micro_p * micro_r / (micro_p + micro_r + METRIC_EPS)
        present = max(int((support > 0).sum().item()), 1)
        macro_p, macro_r, macro_f1 = precision.sum() / present, recall.sum() / present, f1.sum() / present
        total = support.sum().clamp(min=METRIC_EPS)
        w_p, w_r, w_f1 = ((m * support).sum() / total for m in (precision, recall, f1))

        names = {v: k for k, v in (self.label_ids or {}).items()}
        rows = []
        for i in range(self.num_classes):
            label = f"{names[i]} (label_id: {i})" if i in names else f"label_id: {i}"
            rows.append((label, precision[i], recall[i], f1[i], int(support[i].item())))
        width = max([len(r[0]) for r in rows] + [len("weighted avg")]) + 2
        lines = [f"{'label':<{width}}{'precision':>12}{'recall':>12}{'f1':>12}{'support':>10}"]
        for label, p, r, f, s in rows:
            lines.append(f"{label:<{width}}{p:>12.2f}{r:>12.2f}{f:>12.2f}{s:>10d}")
        lines.append("-" * (width + 46))
        n = int(support.sum().item())
        for label, p, r, f in (("micro avg", micro_p, micro_r, micro_f1), ("macro avg", macro_p, macro_r, macro_f1), ("weighted avg", w_p, w_r, w_f1)):
            lines.append(f"{label:<{width}}{p:>12.2f}{r:>12.2f}{f:>12.2f}{n:>10d}")
        report = "\n".join(lines)
        if self.mode == "micro":
            return micro_p, micro_r, micro_f1, report
        if self.mode == "macro":
            return macro_p, macro_r, macro_f1, report
        if self.mode == "weighted":
            return w_p, w_r, w_f1, report
        return precision, recall, f1, report
