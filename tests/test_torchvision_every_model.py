"""Every torchvision model of every task (classification, quantization, segmentation, video,
detection, optical flow), counted forward in each grad mode (grad, ``no_grad``,
``inference_mode``), is complete: no op without a formula.

Inputs are the CLI's curated ones (:func:`opcount.cli.models.default_input_specs`). Models run
on ``meta`` (no data, no compute: the counts equal the CPU's, see
``test_torchvision_published.py``), except detection models, whose NMS and RoI pooling need
real boxes: they run on CPU at 256 x 256 images, their resize set to keep that size. Marked
slow; the fast suite counts ``fasterrcnn_mobilenet_v3_large_fpn`` and ``raft_small`` on CPU
(``test_formulas_torchvision.py``).
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torchvision.models import list_models

from helpers import GRAD_MODES
from opcount import OpCounter
from opcount.cli.inputs import InputSpec
from opcount.cli.models import load_torchvision, torchvision_task

DETECTION_SIZE = 256


def loaded(name: str) -> tuple[torch.nn.Module, tuple[object, ...]]:
    """The model in eval mode and its inputs, on meta or (detection) on CPU."""
    torch.manual_seed(0)
    if torchvision_task(name) == "detection":
        specs = [InputSpec((1, 3, DETECTION_SIZE, DETECTION_SIZE))]
        model = load_torchvision(name, "cpu", specs, None)
        transform = getattr(model.model, "transform", None)
        if transform is not None and hasattr(transform, "min_size"):
            # R-CNN, RetinaNet, FCOS resize to 800 px by default; SSD has its own fixed size
            transform.min_size, transform.max_size = (DETECTION_SIZE,), DETECTION_SIZE
    else:
        model = load_torchvision(name, "meta", None, 1)
    return model.model.eval(), model.args


@pytest.mark.slow
@pytest.mark.parametrize("name", list_models())
def test_every_model_complete_in_every_grad_mode(name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, args = loaded(name)
        for mode in GRAD_MODES:
            with mode(), OpCounter(model, warn=False) as counter:
                model(*args)
            unsupported = counter.unsupported_ops()
            assert unsupported.empty, (mode.__name__, unsupported.to_string())
            assert counter.total_macs > 0
            assert not counter.tracking_problems, counter.tracking_problems


def test_every_task_is_swept() -> None:
    tasks = {torchvision_task(name) for name in list_models()}
    assert tasks == {"classification", "quantization", "segmentation", "video", "detection"} | {
        "optical_flow"
    }
