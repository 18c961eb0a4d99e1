"""ASRModel: shared epoch-end aggregation and training flags; ExportableEncDecModel: encoder+decoder export."""

from abc import ABC
from typing import Dict, List, Optional

import torch

from nemo.core.classes.exportable import Exportable
from nemo.core.classes.modelPT import ModelPT
from nemo.utils import logging


class ASRModel(ModelPT, ABC):
    """Base of speech recognition models: corpus-level WER at epoch end, optional NaN-gradient skipping."""

    @property
    def wer(self):
        """The model's WER metric (over its decoding)."""
        return self._wer

    @wer.setter
    def wer(self, wer) -> None:
        self._wer = wer

    def _in_trainer_loop(self) -> bool:
        """Logging only works inside a Lightning loop; steps may also be called by hand."""
        return self.trainer is not None and getattr(self.trainer, "_results", None) is not None

    def _append_step_output(self, store: list, loaders, dataloader_idx: int, item: Dict[str, torch.Tensor]) -> None:
        """Keep one list per loader when there are several, one flat list otherwise."""
        if isinstance(loaders, (list, tuple)) and len(loaders) > 1:
            store[dataloader_idx].append(item)
        else:
            store.append(item)

    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        """`validation_pass` of the batch, kept for the epoch-end corpus WER."""
        metrics = self.validation_pass(batch, batch_idx, dataloader_idx)
        loaders = self.trainer.val_dataloaders if self.trainer is not None else None
        self._append_step_output(self.validation_step_outputs, loaders, dataloader_idx, metrics)
        return metrics

    def test_step(self, batch, batch_idx, dataloader_idx=0):
        """`validation_pass` under `test_` names, kept for the epoch-end corpus WER."""
        logs = self.validation_pass(batch, batch_idx, dataloader_idx)
        test_logs = {name.replace("val_", "test_"): value for name, value in logs.items()}
        loaders = self.trainer.test_dataloaders if self.trainer is not None else None
        self._append_step_output(self.test_step_outputs, loaders, dataloader_idx, test_logs)
        return test_logs

    def multi_validation_epoch_end(self, outputs: List[Dict[str, torch.Tensor]], dataloader_idx: int = 0):
        """`val_loss` = mean of step losses; `val_wer` = total errors / total reference words."""
        return self._epoch_end(outputs, "val")

    def multi_test_epoch_end(self, outputs: List[Dict[str, torch.Tensor]], dataloader_idx: int = 0):
        return self._epoch_end(outputs, "test")

    @staticmethod
    def _epoch_end(outputs, prefix: str):
        loss_key = f"{prefix}_loss"
        logs = {}
        result = {}
        if outputs and loss_key in outputs[0]:
            loss_mean = torch.stack([x[loss_key] for x in outputs]).mean()
            logs[loss_key] = loss_mean
            result[loss_key] = loss_mean
        if outputs and f"{prefix}_wer_num" in outputs[0]:
            num = torch.stack([x[f"{prefix}_wer_num"] for x in outputs]).sum()
            denom = torch.stack([x[f"{prefix}_wer_denom"] for x in outputs]).sum()
            logs[f"{prefix}_wer"] = num.float() / denom
        result["log"] = logs
        return result

    def on_validation_epoch_end(self) -> Optional[Dict]:
        return super().on_validation_epoch_end(sync_metrics=True)

    def setup_optimization_flags(self) -> None:
        """Read `cfg.skip_nan_grad`: when true, a step whose gradients hold NaN/Inf is skipped."""
        self._skip_nan_grad = bool(self._cfg.get("skip_nan_grad", False))

    def on_after_backward(self) -> None:
        super().on_after_backward()
        if not getattr(self, "_skip_nan_grad", False):
            return
        finite = torch.tensor(1.0, device=self.device)
        for p in self.parameters():
            if p.grad is not None and not torch.isfinite(p.grad).all():
                finite = torch.tensor(0.0, device=self.device)
                break
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(finite, op=torch.distributed.ReduceOp.MIN)
        if finite < 1:
            logging.warning("detected inf or nan values in gradients! Setting gradients to zero.")
            self.zero_grad()


class ExportableEncDecModel(Exportable):
    """Export the encoder and decoder as one graph: (audio_signal, length) -> log-probs."""

    @property
    def input_module(self):
        return self.encoder

    @property
    def output_module(self):
        return self.decoder

    @property
    def input_types_for_export(self):
        """The encoder's export inputs (a Conformer's leave out its streaming caches)."""
        return self.input_module.input_types_for_export

    def forward_for_export(self, audio_signal, length=None):
        encoded = self.input_module(audio_signal=audio_signal, length=length)
        if isinstance(encoded, tuple):
            encoded = encoded[0]
        out = self.output_module(encoder_output=encoded)
        return out.float() if out.dtype in (torch.float16, torch.bfloat16) else out

    def _export_teardown(self):
        for module in (self.input_module, self.output_module):
            if module is not self and hasattr(module, "_export_teardown"):
                module._export_teardown()
