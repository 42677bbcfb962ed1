"""Resolve the CLI's MODEL argument into a model and its inputs.

MODEL is ``torchvision:NAME``, ``timm:NAME``, ``package.module:callable`` or
``path/to/file.py:callable``; a callable returns an ``nn.Module`` or ``(model, inputs)``.
Models are built inside ``torch.device(device)``, so on ``meta`` no weight is ever allocated.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import OpCountError
from .arity import arity_problem
from .inputs import InputSpec


class UsageError(OpCountError):
    """A bad command line: reported in one line with exit status 2."""


class ModelError(OpCountError):
    """The user's model failed to build or run: exit status 1."""


@dataclass
class LoadedModel:
    """A model ready to count, with the inputs to call it with."""

    name: str
    model: nn.Module
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    published_gmacs: float | None = None


# Default inputs by torchvision task: (extra per-call shape, how inputs are passed).
_VIDEO_FRAMES = 16
_DETECTION_SIZE = (800, 800)
_SEGMENTATION_SIZE = 520
_FLOW_SIZE = (520, 960)


def torchvision_task(name: str) -> str:
    """classification, detection, segmentation, video, optical_flow or quantization."""
    import torchvision.models as tvm

    for task, module in (
        ("quantization", tvm.quantization),
        ("detection", tvm.detection),
        ("segmentation", tvm.segmentation),
        ("video", tvm.video),
        ("optical_flow", tvm.optical_flow),
    ):
        if name in tvm.list_models(module=module):
            return task
    return "classification"


def _crop_size(name: str) -> int | None:
    import torchvision.models as tvm

    try:
        weights = tvm.get_model_weights(name)
        preset = next(iter(weights)).transforms()
    except (ValueError, StopIteration, TypeError, AttributeError):
        return None
    crop = getattr(preset, "crop_size", None)
    return int(crop[0]) if crop else None


def published_gmacs(name: str) -> float | None:
    """torchvision's published GMACs (``_ops``) of the model's default weights, if any."""
    import torchvision.models as tvm

    try:
        weights = tvm.get_model_weights(name)
    except ValueError:
        return None
    default = getattr(weights, "DEFAULT", None) or next(iter(weights), None)
    if default is None:
        return None
    value = default.meta.get("_ops")
    return float(value) if value is not None else None


def default_input_specs(name: str, batch: int) -> list[InputSpec]:
    """One input per positional argument, from the model's task and published crop size."""
    task = torchvision_task(name)
    crop = _crop_size(name) or 224
    if task == "video":
        return [InputSpec((batch, 3, _VIDEO_FRAMES, crop, crop))]
    if task == "segmentation":
        return [InputSpec((batch, 3, _SEGMENTATION_SIZE, _SEGMENTATION_SIZE))]
    if task == "detection":
        return [InputSpec((batch, 3, *_DETECTION_SIZE))]
    if task == "optical_flow":
        return [InputSpec((batch, 3, *_FLOW_SIZE)), InputSpec((batch, 3, *_FLOW_SIZE))]
    return [InputSpec((batch, 3, crop, crop))]


def _check_arity(name: str, model: nn.Module, given: int) -> None:
    """Exit 2 before any input is built when ``given`` inputs do not fit ``model.forward``."""
    problem = arity_problem(name, model, given)
    if problem is not None:
        raise UsageError(problem)


def _require(module: str, extra: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise UsageError(
            f"{module} is not installed; install it with: pip install {extra}"
        ) from error


def _build(fn: Any, device: str, *args: Any, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constructors' own FutureWarnings are noise here
        try:
            with torch.device(device):
                return fn(*args, **kwargs)
        except OpCountError:
            raise
        except Exception as error:
            raise ModelError(
                f"building the model failed: {type(error).__name__}: {error}"
            ) from error


def load_torchvision(
    name: str, device: str, specs: Sequence[InputSpec] | None, batch: int | None
) -> LoadedModel:
    tvm = _require("torchvision.models", "'opcount[vision]'")
    available = tvm.list_models()
    if name not in available:
        close = difflib.get_close_matches(name.lower(), available, n=5, cutoff=0.6)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UsageError(
            f"unknown torchvision model {name!r}.{hint} List them with: opcount --list-models"
        )
    task = torchvision_task(name)
    kwargs: dict[str, Any] = {"weights": None}
    if task in ("detection", "segmentation"):
        kwargs["weights_backbone"] = None
    crop = _crop_size(name)
    if name.startswith("vit_") and crop is not None and specs is None:
        # a ViT's position embeddings fix its input size: build it for the weights' crop
        # (vit_h_14's published weights are at 518 x 518)
        kwargs["image_size"] = crop
    try:
        model = _build(tvm.get_model, device, name, **kwargs)
    except ModelError:
        if device != "meta":
            raise
        # some constructors read tensor values (RegNet's width quantisation): build on the
        # CPU, then move the weights to meta
        model = _build(tvm.get_model, "cpu", name, **kwargs).to("meta")
    if specs is None:
        specs = default_input_specs(name, batch or 1)
    elif batch is not None:
        specs = [s.with_batch(batch) for s in specs]
    # detection models take one list of [3, h, w] images
    detection = task == "detection"
    _check_arity(f"torchvision:{name}", model, 1 if detection else len(specs))
    tensors = [s.make(device) for s in specs]
    args = ([image for t in tensors for image in t],) if detection else tuple(tensors)
    return LoadedModel(f"torchvision:{name}", model, args, {}, published_gmacs(name))


def load_timm(
    name: str, device: str, specs: Sequence[InputSpec] | None, batch: int | None
) -> LoadedModel:
    timm = _require("timm", "timm")
    if name not in timm.list_models():
        close = difflib.get_close_matches(name, timm.list_models(), n=5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UsageError(f"unknown timm model {name!r}.{hint}")
    model = _build(timm.create_model, device, name, pretrained=False)
    if specs is None:
        size = tuple(model.pretrained_cfg.get("input_size", (3, 224, 224)))
        specs = [InputSpec((batch or 1, *size))]
    elif batch is not None:
        specs = [s.with_batch(batch) for s in specs]
    _check_arity(f"timm:{name}", model, len(specs))
    return LoadedModel(f"timm:{name}", model, tuple(s.make(device) for s in specs))


def _resolve_callable(target: str, attribute: str) -> Any:
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise UsageError(f"no such file {target!r}")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise UsageError(f"cannot import {target!r}")
        module = importlib.util.module_from_spec(spec)
        sys.modules.setdefault(path.stem, module)
        try:
            spec.loader.exec_module(module)
        except Exception as error:
            raise ModelError(
                f"importing {target} failed: {type(error).__name__}: {error}"
            ) from error
    else:
        try:
            module = importlib.import_module(target)
        except ModuleNotFoundError as error:
            raise UsageError(f"cannot import module {target!r}: {error}") from error
    if not hasattr(module, attribute):
        raise UsageError(f"{target!r} has no attribute {attribute!r}")
    return getattr(module, attribute)


def load_callable(
    target: str,
    attribute: str,
    device: str,
    specs: Sequence[InputSpec] | None,
    batch: int | None,
) -> LoadedModel:
    fn = _resolve_callable(target, attribute)
    result = _build(fn, device)
    inputs: Any = None
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], nn.Module):
        result, inputs = result
    if not isinstance(result, nn.Module):
        raise UsageError(
            f"{target}:{attribute} returned {type(result).__name__}; it must return an "
            "nn.Module or (model, inputs)"
        )
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = {}
    if specs is not None:
        if batch is not None:
            specs = [s.with_batch(batch) for s in specs]
        _check_arity(f"{target}:{attribute}", result, len(specs))
        args = tuple(s.make(device) for s in specs)
    elif inputs is None:
        raise UsageError(
            f"{target}:{attribute} returned no inputs; pass --input (e.g. --input 1x3x224x224) "
            "or return (model, inputs)"
        )
    elif isinstance(inputs, dict):
        kwargs = dict(inputs)
    elif isinstance(inputs, (tuple, list)):
        args = tuple(inputs)
    else:
        args = (inputs,)
    return LoadedModel(f"{target}:{attribute}", result, args, kwargs)


def load_model(
    spec: str,
    device: str = "cpu",
    specs: Sequence[InputSpec] | None = None,
    batch: int | None = None,
) -> LoadedModel:
    """Build the model a MODEL argument names, with its inputs, on ``device``."""
    source, sep, name = spec.rpartition(":")
    if not sep or not source or not name:
        raise UsageError(
            f"model {spec!r} must look like torchvision:NAME, timm:NAME, package.module:callable "
            "or path/to/file.py:callable"
        )
    if source == "torchvision":
        return load_torchvision(name, device, specs, batch)
    if source == "timm":
        return load_timm(name, device, specs, batch)
    return load_callable(source, name, device, specs, batch)
