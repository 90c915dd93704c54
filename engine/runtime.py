"""One place that chooses how a network runs: eager PyTorch, ONNX Runtime or TensorRT.

``compile_for_inference`` takes any ``nn.Module`` with fixed-shape tensor inputs and returns a
callable with the module's calling convention and output structure (a tensor, or tuples/lists/
dicts of tensors), whatever backend executes it. A seed ensemble of form models
(``ModelAverage`` of ``FormNet``s) runs on every backend as one ``StackedFormNet``: one grouped
convolution per layer instead of one convolution per layer and member, the same outputs up to
rounding.

- ``"eager"``: the module in eval mode under ``torch.inference_mode``, with every
  convolution that feeds a batch norm inside an ``nn.Sequential`` folded into one convolution
  and, on the CPU, weights in channels-last layout (a copy; the module passed in is
  untouched). Small networks are dominated by per-operator overhead and layout copies on the
  CPU: the form model's pose image is a permuted (B, T, J, C) tensor, already channels-last.
  Together this takes the form model from about 1.2 to about 0.95 ms per clip
  (``benchmarks/bench_form.py``, one thread).
- ``"onnxruntime"``: exported once to ONNX (TorchScript exporter, fixed shapes, no extra
  dependency) and run by an ONNX Runtime CPU session; outputs come back as CPU tensors.
- ``"tensorrt"``: compiled by torch-tensorrt; needs a CUDA device and the package, otherwise
  ``RuntimeBackendUnavailable`` says which is missing.
- ``"auto"``: TensorRT where CUDA and torch-tensorrt exist, else eager.
"""

from __future__ import annotations

import copy
import io
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval
from torch.utils import _pytree as pytree

from engine.models.ensemble import ModelAverage
from engine.models.form_net import FormNet, StackedFormNet

BACKENDS: tuple[str, ...] = ("eager", "onnxruntime", "tensorrt", "auto")
ONNX_OPSET = 17


class RuntimeBackendUnavailable(RuntimeError):
    """The requested execution backend cannot run here; the message is one line naming why."""


def tensorrt_status(device: torch.device) -> str | None:
    """Why TensorRT cannot run on ``device``, or None when it can."""
    if device.type != "cuda":
        return f"TensorRT needs a CUDA device, got {device}"
    if not torch.cuda.is_available():
        return "TensorRT needs CUDA, but torch.cuda.is_available() is False on this machine"
    try:
        import torch_tensorrt  # noqa: F401
    except ImportError:
        return "TensorRT needs torch-tensorrt; install it with `pip install formcoach[tensorrt]`"
    return None


def resolve_backend(backend: str, device: torch.device) -> str:
    """Turns ``"auto"`` into a concrete backend and checks the name.

    Raises:
        ValueError: unknown backend name.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "auto":
        return "tensorrt" if tensorrt_status(device) is None else "eager"
    return backend


class CompiledModule:
    """A module prepared for inference by one backend; call it like the module.

    Attributes:
        backend: the concrete backend that runs it ("eager", "onnxruntime" or "tensorrt").
    """

    def __init__(
        self,
        backend: str,
        run: Callable[[Sequence[torch.Tensor]], list[torch.Tensor]],
        output_spec: pytree.TreeSpec,
        device: torch.device,
    ) -> None:
        self.backend = backend
        self._run = run
        self._output_spec = output_spec
        self._device = device

    def __call__(self, *inputs: torch.Tensor | np.ndarray) -> Any:
        """Runs the network on ``inputs`` (tensors or arrays shaped like the example inputs)."""
        tensors = [torch.as_tensor(x).to(self._device) for x in inputs]
        return pytree.tree_unflatten(self._run(tensors), self._output_spec)


def fold_batch_norms(module: nn.Module) -> nn.Module:
    """Eval-mode copy of ``module`` with each Conv2d -> BatchNorm2d pair folded into the conv.

    Only pairs that sit next to each other in an ``nn.Sequential`` are folded (then the batch
    norm is replaced by an identity), so the forward pass keeps its meaning exactly up to
    floating-point rounding.

    Args:
        module: any network.

    Returns:
        A new module in eval mode.
    """
    folded = copy.deepcopy(module).eval()
    for sequence in folded.modules():
        if not isinstance(sequence, nn.Sequential):
            continue
        children = list(sequence.named_children())
        for (conv_name, conv), (norm_name, norm) in zip(children, children[1:], strict=False):
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                setattr(sequence, conv_name, fuse_conv_bn_eval(conv, norm))
                setattr(sequence, norm_name, nn.Identity())
    return folded


def stack_ensemble(module: nn.Module) -> nn.Module:
    """The network that runs ``module`` for inference: itself, or its members stacked.

    A ``ModelAverage`` of ``FormNet``s without an appearance stream becomes a
    ``StackedFormNet`` (batch norms folded, outputs equal up to rounding): one operator per
    layer instead of one per layer and member, which saves the per-operator overhead a
    network this small pays on the CPU (the arithmetic still grows with the members). Any
    other module is returned as it is.
    """
    if isinstance(module, ModelAverage) and all(
        isinstance(member, FormNet) and member.appearance_channels == 0
        for member in module.members
    ):
        return StackedFormNet(module.members).eval()
    return module


def _output_spec(module: nn.Module, example_inputs: tuple[torch.Tensor, ...]) -> pytree.TreeSpec:
    with torch.inference_mode():
        outputs = module(*example_inputs)
    leaves, spec = pytree.tree_flatten(outputs)
    if not all(isinstance(leaf, torch.Tensor) for leaf in leaves):
        raise TypeError("compile_for_inference needs a module whose outputs are all tensors")
    return spec


def export_onnx(
    module: nn.Module, example_inputs: tuple[torch.Tensor, ...], path: str | Path | None = None
) -> bytes:
    """Exports ``module`` to ONNX with fixed input shapes; also writes ``path`` when given.

    Inputs are named ``input0..``, the flattened outputs ``output0..``.
    """
    module = module.eval()
    with torch.inference_mode():
        leaves = pytree.tree_leaves(module(*example_inputs))
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated upstream but needs no extra package.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            tuple(example_inputs),
            buffer,
            input_names=[f"input{i}" for i in range(len(example_inputs))],
            output_names=[f"output{i}" for i in range(len(leaves))],
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
    data = buffer.getvalue()
    if path is not None:
        Path(path).write_bytes(data)
    return data


def _onnxruntime_runner(
    module: nn.Module,
    example_inputs: tuple[torch.Tensor, ...],
    num_threads: int | None,
    onnx_path: str | Path | None,
) -> Callable[[Sequence[torch.Tensor]], list[torch.Tensor]]:
    try:
        import onnxruntime
    except ImportError as error:
        raise RuntimeBackendUnavailable(
            "ONNX Runtime is not installed; install it with `pip install formcoach[onnx]`"
        ) from error
    cpu_inputs = tuple(x.detach().cpu() for x in example_inputs)
    model_bytes = export_onnx(module.cpu(), cpu_inputs, onnx_path)
    options = onnxruntime.SessionOptions()
    if num_threads is not None:
        options.intra_op_num_threads = num_threads
        options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        model_bytes, options, providers=["CPUExecutionProvider"]
    )
    names = [node.name for node in session.get_inputs()]

    def run(inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        feed = {name: x.detach().cpu().numpy() for name, x in zip(names, inputs, strict=True)}
        return [torch.from_numpy(out) for out in session.run(None, feed)]

    return run


def _tensorrt_runner(
    module: nn.Module, example_inputs: tuple[torch.Tensor, ...], device: torch.device
) -> Callable[[Sequence[torch.Tensor]], list[torch.Tensor]]:
    reason = tensorrt_status(device)
    if reason is not None:
        raise RuntimeBackendUnavailable(reason)
    import torch_tensorrt

    compiled = torch_tensorrt.compile(
        module.to(device),
        ir="dynamo",
        inputs=[x.to(device) for x in example_inputs],
        enabled_precisions={torch.float32},
    )

    def run(inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        with torch.inference_mode():
            return pytree.tree_leaves(compiled(*inputs))

    return run


def compile_for_inference(
    module: nn.Module,
    example_inputs: tuple[torch.Tensor, ...],
    backend: str = "eager",
    device: torch.device = torch.device("cpu"),  # noqa: B008 - immutable default
    *,
    num_threads: int | None = None,
    onnx_path: str | Path | None = None,
) -> CompiledModule:
    """Prepares ``module`` for inference on fixed-shape inputs with one backend.

    Args:
        module: the network; it is switched to eval mode (a seed ensemble of form models
            runs stacked, see ``stack_ensemble``).
        example_inputs: tensors with the exact shapes and dtypes of later calls.
        backend: "eager", "onnxruntime", "tensorrt" or "auto" (TensorRT where possible, else
            eager).
        device: where eager and TensorRT run; ONNX Runtime always runs on the CPU.
        num_threads: ONNX Runtime intra-op threads (None: its default).
        onnx_path: where to keep the exported ONNX file (ONNX Runtime only).

    Returns:
        A callable ``f(*inputs)`` returning outputs with the module's structure as tensors
        (CPU tensors for ONNX Runtime); ``f.backend`` names the backend used.

    Raises:
        RuntimeBackendUnavailable: the backend cannot run here (message says why).
        ValueError: unknown backend name.
    """
    concrete = resolve_backend(backend, device)
    module = stack_ensemble(module.eval())
    if concrete == "onnxruntime":
        module = module.cpu()
        inputs = tuple(x.detach().cpu() for x in example_inputs)
        spec = _output_spec(module, inputs)
        run = _onnxruntime_runner(module, inputs, num_threads, onnx_path)
        return CompiledModule(concrete, run, spec, torch.device("cpu"))
    module = module.to(device)
    inputs = tuple(x.detach().to(device) for x in example_inputs)
    spec = _output_spec(module, inputs)
    if concrete == "tensorrt":
        return CompiledModule(concrete, _tensorrt_runner(module, inputs, device), spec, device)
    module = fold_batch_norms(module)
    if device.type == "cpu":
        module = module.to(memory_format=torch.channels_last)

    def run_eager(tensors: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        with torch.inference_mode():
            return pytree.tree_leaves(module(*tensors))

    return CompiledModule(concrete, run_eager, spec, device)
