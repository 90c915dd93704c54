import numpy as np
import pytest
import torch
from torch import nn

from engine.runtime import (
    RuntimeBackendUnavailable,
    compile_for_inference,
    export_onnx,
    fold_batch_norms,
    resolve_backend,
    stack_ensemble,
)


class TwoHeads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        features = torch.relu(self.bn(self.conv(x)))
        pooled = features.mean(dim=(2, 3))
        return features, {"logits": self.fc(pooled), "soft": torch.softmax(pooled, dim=1)}


@pytest.fixture()
def module_and_input() -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    module = TwoHeads()
    with torch.no_grad():
        module.bn.running_mean.uniform_(-0.5, 0.5)
        module.bn.running_var.uniform_(0.5, 2.0)
    return module, torch.randn(1, 3, 16, 16)


def test_eager_and_onnxruntime_agree(module_and_input):
    module, x = module_and_input
    eager = compile_for_inference(module, (x,), backend="eager")
    onnx = compile_for_inference(module, (x,), backend="onnxruntime", num_threads=1)
    assert eager.backend == "eager" and onnx.backend == "onnxruntime"
    other = torch.randn(1, 3, 16, 16)
    features_e, heads_e = eager(other)
    features_o, heads_o = onnx(other.numpy())  # numpy input works too
    assert isinstance(heads_o, dict) and set(heads_o) == {"logits", "soft"}
    assert torch.allclose(features_e, features_o, atol=1e-5)
    for key in heads_e:
        assert torch.allclose(heads_e[key], heads_o[key], atol=1e-5)


def test_eager_matches_module_in_eval_mode(module_and_input):
    module, x = module_and_input
    compiled = compile_for_inference(module, (x,))
    with torch.no_grad():
        expected = module.eval()(x)[1]["logits"]
    # Folded batch norms and channels-last weights change only the rounding.
    torch.testing.assert_close(compiled(x)[1]["logits"], expected, rtol=1e-5, atol=1e-6)


def test_onnx_file_is_written_and_computes_what_the_module_does(module_and_input, tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    module, x = module_and_input
    path = tmp_path / "m.onnx"
    data = export_onnx(module, (x,), path)
    assert path.read_bytes() == data
    # The file on disk, run by ONNX Runtime on an input it was not traced with: the outputs
    # are the module's, flattened in pytree order (features, then the dict by key).
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input0"]
    names = [o.name for o in session.get_outputs()]
    assert names == ["output0", "output1", "output2"]
    other = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    got = session.run(names, {"input0": other.numpy()})
    with torch.inference_mode():
        features, heads = module.eval()(other)
    for expected, actual in zip((features, heads["logits"], heads["soft"]), got, strict=True):
        np.testing.assert_allclose(actual, expected.numpy(), rtol=1e-5, atol=1e-5)


def test_tensorrt_without_cuda_says_why(module_and_input):
    module, x = module_and_input
    with pytest.raises(RuntimeBackendUnavailable, match="CUDA"):
        compile_for_inference(module, (x,), backend="tensorrt", device=torch.device("cpu"))


def test_auto_falls_back_to_eager_on_cpu(module_and_input):
    module, x = module_and_input
    assert resolve_backend("auto", torch.device("cpu")) == "eager"
    compiled = compile_for_inference(module, (x,), backend="auto")
    assert compiled.backend == "eager"


def test_unknown_backend_is_rejected(module_and_input):
    module, x = module_and_input
    with pytest.raises(ValueError, match="unknown backend"):
        compile_for_inference(module, (x,), backend="tflite")


@pytest.mark.needs_cuda
def test_tensorrt_matches_eager_on_cuda(module_and_input):
    pytest.importorskip("torch_tensorrt")
    module, x = module_and_input
    device = torch.device("cuda")
    eager = compile_for_inference(module, (x,), backend="eager", device=device)
    trt = compile_for_inference(module, (x,), backend="tensorrt", device=device)
    np.testing.assert_allclose(
        eager(x)[0].cpu().numpy(), trt(x)[0].cpu().numpy(), atol=1e-3
    )


def test_folding_batch_norms_keeps_the_outputs_and_leaves_the_original_alone():
    from engine.models import create_model

    torch.manual_seed(0)
    model = create_model("form_handstand_test").eval()
    with torch.no_grad():
        for norm in (m for m in model.modules() if isinstance(m, nn.BatchNorm2d)):
            norm.running_mean.uniform_(-0.5, 0.5)
            norm.running_var.uniform_(0.5, 2.0)
            norm.weight.uniform_(0.5, 1.5)
    x = torch.randn(2, 16, 16, 3)
    folded = fold_batch_norms(model)

    def norms(module):
        return sum(isinstance(m, nn.BatchNorm2d) for m in module.modules())

    assert norms(folded) == 0 and norms(model) > 0
    with torch.inference_mode():
        for expected, got in zip(model(x), folded(x), strict=True):
            torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def _form_ensemble(count: int, **kwargs) -> nn.Module:
    from engine.models import create_model
    from engine.models.ensemble import ModelAverage

    members = []
    for seed in range(count):
        torch.manual_seed(seed)
        members.append(create_model("form_handstand_test", **kwargs).eval())
    return ModelAverage(members).eval()


def test_only_an_ensemble_of_form_models_is_stacked():
    from engine.models.form_net import StackedFormNet

    ensemble = _form_ensemble(2)
    assert isinstance(stack_ensemble(ensemble), StackedFormNet)
    single = ensemble.members[0]
    assert stack_ensemble(single) is single
    with_appearance = _form_ensemble(2, appearance_channels=6)
    assert stack_ensemble(with_appearance) is with_appearance


def test_an_ensemble_exports_as_one_stacked_network(tmp_path):
    onnx = pytest.importorskip("onnx")
    ensemble = _form_ensemble(2)
    x = torch.randn(2, 16, 16, 3)
    path = tmp_path / "ensemble.onnx"
    compiled = compile_for_inference(ensemble, (x,), backend="onnxruntime", num_threads=1,
                                     onnx_path=path)

    def convs(network):
        data = export_onnx(network, (x,))
        return sum(node.op_type == "Conv" for node in onnx.load_from_string(data).graph.node)

    exported = sum(node.op_type == "Conv" for node in onnx.load(str(path)).graph.node)
    # One conv per layer, not one per layer and member (the three stem convs are one).
    assert exported == convs(ensemble.members[0]) - 2 and convs(ensemble) == 2 * (exported + 2)
    with torch.inference_mode():
        expected = ensemble(x)
    for want, got in zip(expected, compiled(x), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_an_ensemble_gives_the_same_probabilities_on_every_cpu_backend():
    from engine.features import flip_features
    from engine.form import FormClassifier

    pytest.importorskip("onnxruntime")
    ensemble = _form_ensemble(2)
    features = torch.randn(3, 8, 16, 3).numpy()
    # What the classifier computed before the runtime stacked ensembles: the members one by
    # one, each clip's logits averaged with its mirror image's, then tempered.
    both = torch.from_numpy(np.concatenate([features, flip_features(features)]))
    with torch.inference_mode():
        logits, view_logit, _ = ensemble(both)
    expected = torch.softmax((logits[:3] + logits[3:]) / 2 / 1.5, dim=-1).numpy()
    expected_view = torch.sigmoid((view_logit[:3] + view_logit[3:]) / 2).numpy()
    for backend in ("eager", "onnxruntime"):
        classifier = FormClassifier(ensemble, temperature=1.5, clip_length=8, backend=backend)
        probabilities, view = classifier.scores(features)
        np.testing.assert_allclose(probabilities, expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(view, expected_view, rtol=1e-5, atol=1e-6)
