"""The drop-in replacements: the tutorials' three examples with the compat imports, checked
against closed forms, and the promise that the model is left exactly as it was found."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch
import torchvision
from torch import nn

from opcount.compat import clever_format, get_model_complexity_info, profile, summary
from opcount.compat.ptflops import macs_to_string, params_to_string
from report_models import TiedLM

RESNET50 = torchvision.models.ResNet50_Weights.DEFAULT.meta
RESNET50_PARAMS = 25_557_032


@pytest.fixture(scope="module")
def resnet50() -> nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet50()


@pytest.fixture(autouse=True)
def _quiet() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ops still waiting for a formula
        yield


# -- the three tutorial examples -------------------------------------------------------------


def test_resnet50_profile_and_clever_format(resnet50: nn.Module, capsys: Any) -> None:
    x = torch.randn(1, 3, 224, 224)
    macs, params = profile(resnet50, inputs=(x,))
    assert isinstance(macs, float)
    assert isinstance(params, float)
    assert round(macs / 1e9, 3) == RESNET50["_ops"] == 4.089  # torchvision's published GMACs
    assert params == RESNET50_PARAMS == RESNET50["num_params"]
    macs_text, params_text = clever_format([macs, params], "%.3f")
    print(f"MACs: {macs_text}, params: {params_text}")
    assert capsys.readouterr().out == "MACs: 4.089G, params: 25.557M\n"


class TwoInputs(nn.Module):
    """The tutorials' two-input model: a conv per input, concatenated, a linear head to 10."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, kernel_size=3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(3, 8, kernel_size=3, stride=2, padding=1)
        self.fc = nn.Linear(16 * 112 * 112, 10)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.conv1(x1), self.conv2(x2)], dim=1)
        return self.fc(torch.flatten(x, 1))


def test_two_input_model_profile(capsys: Any) -> None:
    model = TwoInputs()
    x1, x2 = torch.randn(1, 3, 224, 224), torch.randn(1, 3, 224, 224)
    macs, params = profile(model, inputs=(x1, x2))
    conv = 8 * 112 * 112 * (3 * 3 * 3)  # outputs x taps, per conv
    fc = 16 * 112 * 112 * 10
    assert macs == 2 * conv + fc
    assert params == 2 * (8 * 27 + 8) + (16 * 112 * 112 * 10 + 10)
    print(clever_format([macs, params], "%.3f"))
    assert capsys.readouterr().out == "('7.426M', '2.007M')\n"


def test_resnet50_ptflops(resnet50: nn.Module, capsys: Any) -> None:
    macs, params = get_model_complexity_info(
        resnet50, (3, 224, 224), as_strings=True, print_per_layer_stat=True
    )
    print(f"Computational complexity: {macs}\nNumber of parameters: {params}")
    out = capsys.readouterr().out
    assert (macs, params) == ("4.09 GMACs", "25.56 M")
    assert "layer4.2.conv3" in out  # every layer, as ptflops prints them
    assert out.endswith("Computational complexity: 4.09 GMACs\nNumber of parameters: 25.56 M\n")


def test_ptflops_numbers_on_the_meta_device() -> None:
    # no data needed to count: the same model on the meta device gives the same integers
    with torch.device("meta"):
        model = torchvision.models.resnet50()
    numbers = get_model_complexity_info(
        model, (3, 224, 224), as_strings=False, print_per_layer_stat=False
    )
    assert numbers == (4_089_184_256, RESNET50_PARAMS)  # rounds to torchvision's 4.089


def test_resnet50_summary(resnet50: nn.Module, capsys: Any) -> None:
    x = torch.randn(1, 3, 224, 224)
    text = summary(resnet50, x, max_depth=1, show_input=True, print_summary=True)
    assert capsys.readouterr().out == text + "\n"
    lines = text.splitlines()
    root = next(line for line in lines if line.startswith("(root)"))
    assert root.split()[:4] == ["(root)", "ResNet", "1x3x224x224", "25.56M"]
    assert "4.09 GMACs" in root
    assert "  layer1  " in text
    assert "layer1.0" not in text  # max_depth=1
    assert "Total params: 25,557,032" in lines
    assert "Trainable params: 25,557,032" in lines
    assert "Non-trainable params: 0" in lines


def test_summary_depth_and_output_shapes() -> None:
    model = nn.Sequential(nn.Sequential(nn.Linear(4, 3)), nn.ReLU())
    x = torch.randn(2, 4)
    shallow = summary(model, x)
    deep = summary(model, x, max_depth=2, show_hierarchical=True)
    assert "  0.0 " not in shallow
    assert "    0.0  " in deep
    assert "output shape" in deep
    assert "input shape" not in deep


# -- correct numbers where the originals go wrong ----------------------------------------------


def test_tied_weights_counted_once() -> None:
    model = TiedLM(vocab=100, dim=16)
    ids = torch.randint(0, 100, (2, 7))
    macs, params = profile(model, inputs=(ids,))
    assert params == 100 * 16 + 16 * 16  # thop adds the shared weight twice: 3,456
    assert macs == 2 * 7 * 16 * 16 + 2 * 7 * 16 * 100  # body and head; the lookup has no MACs
    _, ptflops_params = get_model_complexity_info(
        model,
        (7,),
        as_strings=False,
        print_per_layer_stat=False,
        input_constructor=lambda shape: torch.randint(0, 100, (1, *shape)),
    )
    assert ptflops_params == params


class Functional(nn.Module):
    """Work the hook-based counters miss: functional calls, `@`, attention."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(8, 8))

    def forward(self, x: torch.Tensor, *, heads: int = 2, note: str = "") -> torch.Tensor:
        y = x @ self.weight  # (2, 5, 8) @ (8, 8): 2*5*8*8 MACs
        q = y.view(2, 5, heads, 8 // heads).transpose(1, 2)
        out = nn.functional.scaled_dot_product_attention(q, q, q)  # 2 * (2*h*5*5*d) MACs
        return out.transpose(1, 2).reshape(2, 5, 8)


def test_functional_matmul_and_attention_are_counted_with_keyword_inputs() -> None:
    x = torch.randn(2, 5, 8)
    expected = 2 * 5 * 8 * 8 + 2 * (2 * 2 * 5 * 5 * 4)
    model = Functional()
    macs, params = profile(model, inputs=(x,), kwargs={"heads": 2, "note": "not a tensor"})
    assert (macs, params) == (expected, 64)
    assert profile(model, inputs={"x": x, "heads": 2})[0] == expected
    ptflops_macs, _ = get_model_complexity_info(
        model,
        (5, 8),
        as_strings=False,
        print_per_layer_stat=False,
        input_constructor=lambda shape: {"x": torch.randn(2, *shape), "heads": 2},
    )
    assert ptflops_macs == expected  # the whole batch of 2, not divided by it
    text = summary(model, x, kwargs={"heads": 2, "note": "n"})
    assert "Total params: 64" in text


class Mystery(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ x.transpose(-1, -2)


def test_custom_rules_replace_the_module_count() -> None:
    model = nn.Sequential(nn.Linear(4, 4, bias=False), Mystery())
    x = torch.randn(3, 4)
    linear = 3 * 4 * 4

    def count_mystery(module: nn.Module, inputs: Any, output: Any) -> None:
        module.total_ops += torch.DoubleTensor([1000.0])

    macs, _ = profile(model, inputs=(x,), custom_ops={Mystery: count_mystery})
    assert macs == linear + 1000
    assert not hasattr(model[1], "total_ops")

    def ptflops_hook(module: nn.Module, inputs: Any, output: Any) -> None:
        module.__flops__ += 500

    macs_pt, _ = get_model_complexity_info(
        model,
        (4,),
        as_strings=False,
        print_per_layer_stat=False,
        custom_modules_hooks={Mystery: ptflops_hook},
        ignore_modules=[nn.Linear],
    )
    assert macs_pt == 500
    assert not hasattr(model[1], "__flops__")


def test_layer_info() -> None:
    model = nn.Sequential(nn.Linear(4, 4, bias=False), nn.Sequential(nn.Linear(4, 2)))
    macs, _, info = profile(model, inputs=(torch.randn(1, 4),), ret_layer_info=True)
    assert macs == 16 + 8
    assert info["0"][:2] == (16.0, 16.0)
    assert info["1"][0] == 8.0
    assert info["1"][2]["0"][:2] == (8.0, 10.0)


# -- the model is left as found ----------------------------------------------------------------


def _state(model: nn.Module) -> dict[str, Any]:
    return {
        "training": [m.training for m in model.modules()],
        "tensors": {k: v.clone() for k, v in model.state_dict().items()},
        "attrs": [sorted(vars(m)) for m in model.modules()],
        "hooks": [
            len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
            for m in model.modules()
        ],
    }


def test_model_left_unchanged_by_every_compat_function() -> None:
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.5), nn.Flatten(), nn.LazyLinear(2)
    )
    x = torch.randn(2, 3, 6, 6)
    model(x)  # materialise the lazy layer
    model.train()
    model[2].eval()  # mixed modes must come back as they were, module by module
    before = _state(model)
    global_hooks = (
        len(nn.modules.module._global_forward_hooks),
        len(nn.modules.module._global_forward_pre_hooks),
    )

    def rule(module: nn.Module, inputs: Any, output: Any) -> None:
        module.total_ops += 1

    profile(model, inputs=(x,), custom_ops={nn.Conv2d: rule})
    get_model_complexity_info(model, (3, 6, 6), print_per_layer_stat=False)
    summary(model, x)
    after = _state(model)
    assert after["training"] == before["training"]
    assert after["attrs"] == before["attrs"]
    assert after["hooks"] == before["hooks"]
    assert after["tensors"].keys() == before["tensors"].keys()
    for name, value in before["tensors"].items():
        assert torch.equal(after["tensors"][name], value), name  # batch-norm stats untouched
    assert global_hooks == (
        len(nn.modules.module._global_forward_hooks),
        len(nn.modules.module._global_forward_pre_hooks),
    )


def test_model_restored_when_the_forward_raises() -> None:
    class Broken(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("boom")

    model = nn.Sequential(nn.Linear(2, 2), Broken())
    model.train()
    with pytest.raises(RuntimeError, match="boom"):
        profile(model, inputs=(torch.randn(1, 2),), custom_ops={nn.Linear: lambda m, i, o: None})
    assert all(m.training for m in model.modules())
    assert not hasattr(model[0], "total_ops")
    assert not model[0]._forward_hooks


# -- formatting --------------------------------------------------------------------------------


def test_clever_format() -> None:
    assert clever_format(4_089_184_256.0, "%.3f") == "4.089G"
    assert clever_format([1e12, 1e9, 2_500, 12]) == ("1.00T", "1.00G", "2.50K", "12.00")
    assert clever_format((25_557_032,)) == "25.56M"


def test_ptflops_strings() -> None:
    assert macs_to_string(4_089_184_256) == "4.09 GMACs"
    assert macs_to_string(4_089_184_256, "MMac", 1) == "4089.2 MMACs"
    assert macs_to_string(512) == "512 MACs"
    assert params_to_string(25_557_032) == "25.56 M"
    assert params_to_string(25_557_032, "K") == "25557.03 K"
    assert params_to_string(12) == "12"
