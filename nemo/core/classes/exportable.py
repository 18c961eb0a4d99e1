"""Exportable: ONNX and TorchScript export of a model or its sub-networks, checked on request."""

import inspect
import os
from enum import Enum
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch

from nemo.utils.exceptions import NeMoBaseException


class ExportFormat(Enum):
    ONNX = 1
    TORCHSCRIPT = 2


_EXTENSIONS = {".onnx": ExportFormat.ONNX, ".pt": ExportFormat.TORCHSCRIPT, ".ts": ExportFormat.TORCHSCRIPT}


def get_export_format(filename: str) -> ExportFormat:
    ext = os.path.splitext(filename)[1].lower()
    if ext not in _EXTENSIONS:
        raise ValueError(f"Export file {filename} extension does not correspond to any export format!")
    return _EXTENSIONS[ext]


def _as_tuple(example) -> Tuple[tuple, dict]:
    if isinstance(example, torch.Tensor):
        return (example,), {}
    example = list(example)
    kwargs = example.pop() if example and isinstance(example[-1], dict) else {}
    return tuple(example), kwargs


def _flatten(outputs) -> List[torch.Tensor]:
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    flat = []
    for o in outputs:
        flat.extend(_flatten(o))
    return flat


class Exportable:
    """Mixin for modules and models that can be written as ONNX or TorchScript."""

    @property
    def input_module(self):
        return self

    @property
    def output_module(self):
        return self

    @property
    def supported_export_formats(self) -> List[ExportFormat]:
        return [ExportFormat.ONNX, ExportFormat.TORCHSCRIPT]

    @property
    def disabled_deployment_input_names(self) -> List[str]:
        return []

    @property
    def disabled_deployment_output_names(self) -> List[str]:
        return []

    @property
    def input_types_for_export(self):
        return self.input_module.input_types

    @property
    def output_types_for_export(self):
        return self.output_module.output_types

    @property
    def input_names(self) -> Optional[List[str]]:
        types = self.input_types_for_export
        return None if types is None else [n for n in types if n not in self.disabled_deployment_input_names]

    @property
    def output_names(self) -> Optional[List[str]]:
        types = self.output_types_for_export
        return None if types is None else [n for n in types if n not in self.disabled_deployment_output_names]

    def list_export_subnets(self) -> List[str]:
        return ["self"]

    def get_export_subnet(self, subnet: str = "self"):
        return self if subnet == "self" else getattr(self, subnet)

    def get_export_config(self) -> Dict:
        return getattr(self, "export_config", {})

    def set_export_config(self, args: Dict) -> None:
        config = dict(self.get_export_config())
        config.update(args)
        self.export_config = config

    def _prepare_for_export(self, **kwargs) -> None:
        """Hook: replace modules that don't export well; the default changes nothing."""

    def _export_teardown(self) -> None:
        """Hook: undo `_prepare_for_export`."""

    def export(
        self,
        output: str,
        input_example=None,
        verbose: bool = False,
        do_constant_folding: bool = True,
        onnx_opset_version: Optional[int] = None,
        check_trace: Union[bool, List[torch.Tensor]] = False,
        dynamic_axes: Optional[Dict[str, Sequence[int]]] = None,
        check_tolerance: float = 0.01,
        export_modules_as_functions: bool = False,
        keep_initializers_as_inputs: Optional[bool] = None,
        use_dynamo: bool = False,
    ) -> Tuple[List[str], List[str]]:
        """Export every subnet; returns the written paths and one description per subnet."""
        paths, descriptions = [], []
        directory, filename = os.path.split(output)
        for subnet_name in self.list_export_subnets():
            subnet = self.get_export_subnet(subnet_name)
            path = output if subnet_name == "self" else os.path.join(directory, f"{subnet_name}-{filename}")
            fmt = subnet._export_one(
                path, input_example, verbose, do_constant_folding, onnx_opset_version, check_trace,
                dynamic_axes, check_tolerance, export_modules_as_functions, keep_initializers_as_inputs, use_dynamo,
            )
            paths.append(path)
            descriptions.append(f"{type(subnet).__module__}.{type(subnet).__qualname__} exported to {fmt}")
        return paths, descriptions

    def _export_one(self, output, input_example, verbose, do_constant_folding, opset, check_trace,
                    dynamic_axes, check_tolerance, export_modules_as_functions, keep_initializers_as_inputs, use_dynamo):
        fmt = get_export_format(output)
        if fmt not in self.supported_export_formats:
            raise NeMoBaseException(f"{type(self).__name__} does not support {fmt}")
        if input_example is None:
            input_example = self.input_module.input_example()
        if input_example is None:
            raise NeMoBaseException(f"{type(self).__name__}.input_example() returned None: pass input_example to export()")
        args, kwargs = _as_tuple(input_example)
        was_training = self.training
        grad_flags = [p.requires_grad for p in self.parameters()]
        original_forward = None
        if hasattr(type(self), "forward_for_export"):
            original_forward = self.forward
            self.forward = self.forward_for_export
        try:
            self.eval()
            for p in self.parameters():
                p.requires_grad_(False)
            for m in self.modules():
                if isinstance(m, Exportable) and m is not self:
                    m._prepare_for_export(noreplace=True)
            self._prepare_for_export()
            with torch.inference_mode(False), torch.no_grad():
                expected = _flatten(self.forward(*args, **kwargs))
                if fmt is ExportFormat.ONNX:
                    self._to_onnx(output, args, kwargs, verbose, do_constant_folding, opset, dynamic_axes,
                                  export_modules_as_functions, keep_initializers_as_inputs, use_dynamo)
                    if check_trace:
                        check_onnx(output, args, kwargs, expected, check_tolerance, self.input_names)
                else:
                    traced = torch.jit.trace(self, args if not kwargs else tuple(args) + tuple(kwargs.values()), strict=False)
                    traced = torch.jit.freeze(traced)
                    traced.save(output)
                    if check_trace:
                        got = _flatten(torch.jit.load(output)(*args, *kwargs.values()))
                        _compare(expected, got, check_tolerance, output)
        finally:
            for m in self.modules():
                if isinstance(m, Exportable) and m is not self:
                    m._export_teardown()
            self._export_teardown()
            if original_forward is not None:
                self.forward = original_forward
            for p, flag in zip(self.parameters(), grad_flags):
                p.requires_grad_(flag)
            self.train(was_training)
        return fmt

    def _to_onnx(self, output, args, kwargs, verbose, do_constant_folding, opset, dynamic_axes,
                 export_modules_as_functions, keep_initializers_as_inputs, use_dynamo) -> None:
        input_names = self.input_names
        output_names = self.output_names
        if dynamic_axes is None and self.input_types_for_export:
            dynamic_axes = {}
            for name, ntype in {**self.input_types_for_export, **(self.output_types_for_export or {})}.items():
                axes = ntype.dynamic_axes() if hasattr(ntype, "dynamic_axes") else []
                if axes and (name in (input_names or []) or name in (output_names or [])):
                    dynamic_axes[name] = axes
        options = dict(
            input_names=input_names, output_names=output_names, verbose=verbose, do_constant_folding=do_constant_folding,
            dynamic_axes=dynamic_axes, opset_version=opset or 17,
            keep_initializers_as_inputs=keep_initializers_as_inputs if keep_initializers_as_inputs is not None else False,
            export_modules_as_functions=export_modules_as_functions,
        )
        if "dynamo" in inspect.signature(torch.onnx.export).parameters:
            options["dynamo"] = bool(use_dynamo)
        full_args = tuple(args) + ((kwargs,) if kwargs else ())
        torch.onnx.export(self, full_args, output, **options)


def _compare(expected: List[torch.Tensor], got: List, tol: float, where: str) -> None:
    if len(expected) != len(got):
        raise NeMoBaseException(f"{where}: export produced {len(got)} outputs, PyTorch {len(expected)}")
    for i, (e, g) in enumerate(zip(expected, got)):
        g = torch.as_tensor(g)
        if e.shape != g.shape or not torch.allclose(e.float(), g.float(), atol=tol, rtol=tol):
            diff = (e.float() - g.float()).abs().max().item() if e.shape == g.shape else "shape"
            raise NeMoBaseException(f"{where}: output {i} differs from PyTorch (max diff {diff}, tolerance {tol})")


def check_onnx(path: str, args, kwargs, expected: List[torch.Tensor], tol: float, input_names=None) -> None:
    """Run the ONNX file in onnxruntime on the example and compare with PyTorch's outputs."""
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    tensors = list(args) + list(kwargs.values())
    feeds = {i.name: t.detach().cpu().numpy() for i, t in zip(session.get_inputs(), tensors)}
    _compare(expected, session.run(None, feeds), tol, path)
