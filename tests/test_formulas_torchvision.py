"""torchvision's operators against closed forms (conventions in formulas/torchvision_ops.py),
their lazy registration, ``aten.detach_`` free, and two real models complete in every mode."""

from __future__ import annotations

import subprocess
import sys
import warnings

import torch
import torchvision
from torchvision.ops import (
    batched_nms,
    deform_conv2d,
    nms,
    ps_roi_align,
    ps_roi_pool,
    roi_align,
    roi_pool,
)

from helpers import GRAD_MODES, count, only_row, op_rows, rows_in_every_mode
from opcount import OpCounter
from opcount.formulas.costs import cost

K, C = 3, 4


def boxes(n: int) -> torch.Tensor:
    """``n`` boxes ``[x1, y1, x2, y2]`` inside a 32 x 32 image."""
    torch.manual_seed(0)
    corner = torch.rand(n, 2) * 16
    return torch.cat([corner, corner + 1 + torch.rand(n, 2) * 15], dim=1)


def rois(*rows: list[float]) -> torch.Tensor:
    """``[batch index, x1, y1, x2, y2]`` rows."""
    return torch.tensor(rows, dtype=torch.float32)


def test_nms_counts_every_pair() -> None:
    n = 10
    dets, scores = boxes(n), torch.rand(n)
    for row in rows_in_every_mode(lambda: nms(dets, scores, 0.5), "torchvision.nms"):
        # sort 10 scores: 10 * ceil(log2 10) = 40 compares; 10 areas; 45 pairs' IoU
        assert row.flops == 40 * cost("sort_compare") + 10 * cost("roi_area") + 45 * cost("nms_iou")
        assert (row.macs, row.status) == (0, "counted")


def test_batched_nms_is_complete_and_runs_nms_over_all_boxes() -> None:
    n = 12
    dets, scores, classes = boxes(n), torch.rand(n), torch.arange(n) % 3
    counter = count(lambda: batched_nms(dets, scores, classes, 0.5))
    assert counter.complete, counter.unsupported_ops()
    # the coordinate trick offsets the boxes by class, then one nms over all 12:
    # 12 * ceil(log2 12) = 48 compares, 12 areas, 66 pairs
    row = only_row(counter, "torchvision.nms")
    assert row.flops == 48 * cost("sort_compare") + 12 * cost("roi_area") + 66 * cost("nms_iou")


def align_per_sample() -> int:
    """FLOPs of one bilinear sample of one channel: four taps."""
    return 4 * cost("resize_tap")


def test_roi_align_fixed_sampling_ratio_and_backward() -> None:
    x = torch.randn(2, C, 16, 16, requires_grad=True)
    r = rois([0, 1, 1, 9, 9], [1, 2, 0, 14, 7], [0, 0, 0, 15, 15])

    def run() -> None:
        roi_align(x, r, (5, 5), spatial_scale=1.0, sampling_ratio=2).sum().backward()

    counter = count(run)
    # 3 RoIs x 25 bins x 2 x 2 samples = 300 sample positions, each sampling 4 channels;
    # 3 x 4 x 25 outputs divide by their sample count
    expected = 300 * (C * align_per_sample() + cost("roi_sample_weights")) + 300 * cost(
        "pool_divide"
    )
    forward = only_row(counter, "torchvision.roi_align")
    assert (forward.flops, forward.macs, forward.category) == (expected, 0, "pool")
    assert only_row(counter, "torchvision._roi_align_backward").flops == expected


def test_roi_align_adaptive_grid_reads_the_boxes() -> None:
    x = torch.randn(1, C, 32, 32)
    # aligned=False, scale 1: a 10 x 7 box at 2 x 2 bins samples ceil(7/2) x ceil(10/2) = 4 x 5
    # per bin; a box smaller than one pixel is clamped to 1 x 1: one sample per bin
    r = rois([0, 0, 0, 10, 7], [0, 3, 3, 3.5, 3.2])
    row = only_row(
        count(lambda: roi_align(x, r, (2, 2), 1.0, sampling_ratio=0, aligned=False)),
        "torchvision.roi_align",
    )
    positions = 4 * (4 * 5) + 4 * 1
    assert row.flops == positions * (C * align_per_sample() + cost("roi_sample_weights")) + (
        2 * 4 * C * cost("pool_divide")
    )


def test_ps_roi_align_samples_one_channel_per_bin() -> None:
    x = torch.randn(1, 8, 16, 16, requires_grad=True)  # 8 channels / (2 x 2 bins) = 2 per bin
    r = rois([0, 1, 1, 9, 9], [0, 2, 2, 12, 6])

    def run() -> None:
        ps_roi_align(x, r, (2, 2), 1.0, sampling_ratio=3).sum().backward()

    counter = count(run)
    # 2 RoIs x 4 bins x 3 x 3 samples = 72 positions, 2 channels each; 2 x 4 x 2 outputs
    expected = 72 * (2 * align_per_sample() + cost("roi_sample_weights")) + 16 * cost("pool_divide")
    assert only_row(counter, "torchvision.ps_roi_align").flops == expected
    assert only_row(counter, "torchvision._ps_roi_align_backward").flops == expected


def test_roi_pool_bins_and_backward() -> None:
    x = torch.randn(1, C, 8, 8, requires_grad=True)
    # box (0, 0)-(3, 5) covers columns 0..3 and rows 0..5 (4 x 6, the last ones included);
    # 2 x 2 bins of 3 rows x 2 columns: 24 elements per channel compared
    r = rois([0, 0, 0, 3, 5])

    def run() -> None:
        roi_pool(x, r, (2, 2), 1.0).sum().backward()

    counter = count(run)
    assert only_row(counter, "torchvision.roi_pool").flops == C * 24 * cost("pool_max")
    # one add per output gradient, at its argmax: 1 x 4 x 2 x 2
    backward = only_row(counter, "torchvision._roi_pool_backward")
    assert backward.flops == 16 * cost("pool_max_backward")


def test_roi_pool_bins_are_clipped_to_the_map() -> None:
    x = torch.randn(1, 1, 4, 4)
    # box (2, 2)-(7, 7): 6 x 6 from (2, 2), of which rows and columns 2..3 lie inside;
    # 2 x 2 bins of 3: the first bins cover 2..3 (2 each), the second ones nothing
    row = only_row(
        count(lambda: roi_pool(x, rois([0, 2, 2, 7, 7]), (2, 2), 1.0)), "torchvision.roi_pool"
    )
    assert row.flops == 2 * 2 * cost("pool_max")


def test_ps_roi_pool_and_backward() -> None:
    x = torch.randn(1, 8, 8, 8, requires_grad=True)  # 2 channels per bin
    # box (0, 0)-(4, 6): 4 x 6 (the end excluded); 2 x 2 bins of 3 rows x 2 columns: 24
    r = rois([0, 0, 0, 4, 6])

    def run() -> None:
        ps_roi_pool(x, r, (2, 2), 1.0).sum().backward()

    counter = count(run)
    forward = only_row(counter, "torchvision.ps_roi_pool")
    assert forward.flops == 2 * 24 * cost("pool_add") + 8 * cost("pool_divide")
    backward = only_row(counter, "torchvision._ps_roi_pool_backward")
    assert backward.flops == 8 * cost("pool_divide") + 2 * 24 * cost("add")


def test_deform_conv2d_forward_and_backward() -> None:
    n, c_in, c_out, k, size = 2, 4, 6, 3, 8
    x = torch.randn(n, c_in, size, size, requires_grad=True)
    weight = torch.randn(c_out, c_in, k, k, requires_grad=True)
    bias = torch.randn(c_out, requires_grad=True)
    offset = torch.randn(n, 2 * k * k, size, size, requires_grad=True)
    mask = torch.rand(n, k * k, size, size, requires_grad=True)

    def run() -> None:
        deform_conv2d(x, offset, weight, bias, padding=(1, 1), mask=mask).sum().backward()

    counter = count(run)
    macs = n * c_out * size * size * c_in * k * k  # the convolution's: 27,648
    columns = n * c_in * k * k * size * size  # sampled values: 4,608
    outputs = n * c_out * size * size
    forward = only_row(counter, "torchvision.deform_conv2d")
    assert forward.macs == macs == 27_648
    assert forward.flops == 2 * macs + columns * (cost("deform_sample") + cost("mul")) + (
        outputs * cost("bias_add")
    )
    backward = only_row(counter, "torchvision._deform_conv2d_backward")
    per_column = (
        2 * cost("deform_sample")
        + cost("deform_sample_backward")
        + 2 * cost("deform_offset_grad")
        + 5 * cost("mul")
        + cost("add")
    )
    assert backward.macs == 2 * macs
    assert backward.flops == 4 * macs + columns * per_column + outputs * cost("add")


def test_deform_conv2d_without_mask_or_bias() -> None:
    x, weight = torch.randn(1, 2, 6, 6), torch.randn(3, 2, 3, 3)
    offset = torch.zeros(1, 18, 4, 4)
    row = only_row(count(lambda: deform_conv2d(x, offset, weight)), "torchvision.deform_conv2d")
    macs = 3 * 4 * 4 * 2 * 9
    # no mask multiply; torchvision passes a zero bias for none, and the kernel adds it
    expected = 2 * macs + 2 * 9 * 16 * cost("deform_sample") + 3 * 16 * cost("bias_add")
    assert (row.macs, row.flops) == (macs, expected)


def test_detach_in_place_is_free() -> None:
    x = torch.randn(3)
    with torch.inference_mode():
        y = x * 2
        counter = count(lambda: y.detach_())
    row = only_row(counter, "aten.detach_")
    assert (row.status, row.flops) == ("free", 0)


def test_importing_opcount_does_not_import_torchvision() -> None:
    code = "import sys, opcount; import opcount.formulas; print('torchvision' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_detection_and_flow_models_complete_on_cpu() -> None:
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        detector = torchvision.models.get_model(
            "fasterrcnn_mobilenet_v3_large_fpn", weights=None, weights_backbone=None
        ).eval()
        flow = torchvision.models.get_model("raft_small", weights=None).eval()
    images = [torch.rand(3, 128, 128)]
    frames = torch.rand(1, 3, 128, 128), torch.rand(1, 3, 128, 128)
    for mode in GRAD_MODES:
        with mode(), OpCounter(detector) as counted_detector:
            detector(images)
        with mode(), OpCounter(flow) as counted_flow:
            flow(*frames)
        for counter in (counted_detector, counted_flow):
            assert counter.complete, (mode.__name__, counter.unsupported_ops())
        assert len(op_rows(counted_detector, "torchvision.roi_align")) > 0
        assert len(op_rows(counted_detector, "torchvision.nms")) > 0
