"""The device table: dense peaks (never the sparse figures datasheets print beside them), names
as torch.cuda.get_device_name() gives them, and clear errors for what it does not know."""

from __future__ import annotations

import pytest
import torch

from opcount import OpCountError, peak_flops
from opcount.devices import DEVICES, device_from_name, device_spec, dtype_key, memory_bandwidth

REQUIRED = (
    "v100-sxm", "a100-sxm-40gb", "a100-sxm-80gb", "a100-pcie", "a10g", "l4", "l40s", "h100-sxm",
    "h100-pcie", "h100-nvl", "h200", "b200", "rtx-3090", "rtx-4090", "mi250x", "mi300x",
)  # fmt: skip


def test_the_table_has_every_required_device_with_a_source() -> None:
    for name in REQUIRED:
        spec = DEVICES[name]
        assert spec.source
        assert spec.bandwidth > 0
        assert spec.matrix_flops["float32"] > 0
        assert spec.vector_flops["float32"] > 0


@pytest.mark.parametrize(
    ("device", "dtype", "dense"),
    [
        # the sheets' sparse figures are 1,979 / 624 / 1,513 / 733 / 2,614.9 TFLOPS
        ("h100-sxm", torch.bfloat16, 989.4e12),
        ("a100-sxm-80gb", torch.bfloat16, 312e12),
        ("h100-pcie", torch.float16, 756.5e12),
        ("l40s", "fp8", 733e12),
        ("mi300x", "bf16", 1307.4e12),
        ("v100-sxm", torch.float16, 125e12),
        ("h100-sxm", "tf32", 494.7e12),
    ],
)
def test_dense_matrix_peaks(device: str, dtype: str | torch.dtype, dense: float) -> None:
    assert peak_flops(device, dtype) == dense


def test_float32_matmul_runs_on_the_fp32_units_not_tf32() -> None:
    # PyTorch leaves TF32 off for matmuls by default
    assert peak_flops("h100-sxm", torch.float32) == 67e12
    assert peak_flops("h100-sxm", torch.float32, matrix=False) == 67e12


def test_vector_peaks_and_their_fallback() -> None:
    assert peak_flops("h100-sxm", torch.bfloat16, matrix=False) == 133.8e12
    # no half-precision vector figure for the L4: the float32 vector peak stands in
    assert peak_flops("l4", torch.bfloat16, matrix=False) == peak_flops(
        "l4", "float32", matrix=False
    )


def test_bandwidth() -> None:
    assert memory_bandwidth("h100-sxm") == 3.35e12
    assert memory_bandwidth(DEVICES["h200"]) == 4.8e12


@pytest.mark.parametrize(
    ("gpu_name", "entry"),
    [
        ("NVIDIA H100 80GB HBM3", "h100-sxm"),
        ("NVIDIA H100 PCIe", "h100-pcie"),
        ("NVIDIA H100 NVL", "h100-nvl"),
        ("NVIDIA H200", "h200"),
        ("NVIDIA A100-SXM4-40GB", "a100-sxm-40gb"),
        ("NVIDIA A100-SXM4-80GB", "a100-sxm-80gb"),
        ("NVIDIA A100 80GB PCIe", "a100-pcie"),
        ("NVIDIA A10G", "a10g"),
        ("NVIDIA L4", "l4"),
        ("NVIDIA L40S", "l40s"),
        ("Tesla V100-SXM2-32GB", "v100-sxm"),
        ("NVIDIA GeForce RTX 4090", "rtx-4090"),
        ("AMD Instinct MI300X", "mi300x"),
    ],
)
def test_device_names_as_torch_reports_them(gpu_name: str, entry: str) -> None:
    assert device_from_name(gpu_name).name == entry


def test_unknown_device_and_dtype_are_refused_by_name() -> None:
    with pytest.raises(OpCountError, match=r"unknown device 'tpu-v9'.*h100-sxm"):
        device_spec("tpu-v9")
    with pytest.raises(OpCountError, match="unknown device 'NVIDIA T4'"):
        device_from_name("NVIDIA T4")
    with pytest.raises(OpCountError, match="no matrix peak for dtype 'bfloat16' on v100-sxm"):
        peak_flops("v100-sxm", torch.bfloat16)
    with pytest.raises(OpCountError, match=r"no peak is listed for dtype torch\.complex64"):
        dtype_key(torch.complex64)
    with pytest.raises(OpCountError, match="device must be a name"):
        device_spec(3)  # type: ignore[arg-type]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message without a GPU")
def test_auto_without_cuda_says_so() -> None:
    with pytest.raises(OpCountError, match="needs a CUDA device"):
        device_spec("auto")
