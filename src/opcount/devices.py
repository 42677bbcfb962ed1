"""Accelerators' dense peak FLOP/s per dtype and memory bandwidth, each with its datasheet.

One table shared by MFU (``training``) and the roofline estimate (``timing``). **Dense only**:
vendor sheets print 2:4-structured-sparse figures beside the dense ones (H100 SXM bf16 "1,979
TFLOPS" is sparse; dense is 989.4); a tool that copies those reports half the real MFU. Imports
nothing of opcount but ``errors``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Union

import torch

from .errors import OpCountError

# Figures are written as the datasheets print them, in FLOP/s and bytes/s (decimal units:
# 989.4e12 is "989.4 TFLOPS", 3.35e12 is "3.35 TB/s"), so each compares exactly with its sheet.


@dataclass(frozen=True)
class DeviceSpec:
    """One accelerator: dense peak FLOP/s per dtype for matrix (tensor-core) and vector work,
    memory bandwidth in bytes/s, and where the figures come from."""

    name: str
    full_name: str
    matrix_flops: Mapping[str, float]
    vector_flops: Mapping[str, float]
    bandwidth: float
    source: str
    notes: str = ""

    def __post_init__(self) -> None:  # read-only tables: entries are shared by every caller
        object.__setattr__(self, "matrix_flops", MappingProxyType(dict(self.matrix_flops)))
        object.__setattr__(self, "vector_flops", MappingProxyType(dict(self.vector_flops)))


# dtype names used as keys: torch's names, plus "tf32" (float32 matmuls with TF32 allowed) and
# "float8" (every float8 variant).
_DTYPE_KEYS = {
    torch.float64: "float64",
    torch.float32: "float32",
    torch.bfloat16: "bfloat16",
    torch.float16: "float16",
    torch.int8: "int8",
    torch.uint8: "int8",
}
for _name in ("float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz"):
    if hasattr(torch, _name):
        _DTYPE_KEYS[getattr(torch, _name)] = "float8"
_ALIASES = {"fp64": "float64", "fp32": "float32", "bf16": "bfloat16", "fp16": "float16",
            "half": "float16", "fp8": "float8", "tfloat32": "tf32"}  # fmt: skip


def _nvidia(
    name: str,
    full_name: str,
    *,
    fp64: float,
    fp64_tensor: float,
    fp32: float,
    tf32: float | None,
    bf16: float | None,
    fp16: float,
    fp8: float | None = None,
    int8: float | None = None,
    bandwidth: float,
    source: str,
    vector_half: float | None = None,
    notes: str = "",
) -> DeviceSpec:
    """An NVIDIA entry: float32 matmuls run on the FP32 (non-tensor) units, since PyTorch keeps
    TF32 off for matmuls by default; "tf32" names the tensor-core path."""
    matrix = {"float64": fp64_tensor, "float32": fp32, "float16": fp16}
    for key, value in (("tf32", tf32), ("bfloat16", bf16), ("float8", fp8), ("int8", int8)):
        if value is not None:
            matrix[key] = value
    vector = {"float64": fp64, "float32": fp32}
    if vector_half is not None:
        vector["float16"] = vector["bfloat16"] = vector_half
    return DeviceSpec(name, full_name, matrix, vector, bandwidth, source, notes)


_TABLE = (
    _nvidia(
        "v100-sxm", "NVIDIA Tesla V100 SXM2",
        fp64=7.8e12, fp64_tensor=7.8e12, fp32=15.7e12, tf32=None, bf16=None, fp16=125e12,
        vector_half=31.4e12, bandwidth=900e9,
        source="NVIDIA Tesla V100 datasheet (SXM2: 125 TFLOPS tensor, 15.7 FP32, 900 GB/s)",
        notes="no bfloat16 or TF32 tensor cores",
    ),
    _nvidia(
        "a100-sxm-40gb", "NVIDIA A100 SXM4 40GB",
        fp64=9.7e12, fp64_tensor=19.5e12, fp32=19.5e12, tf32=156e12, bf16=312e12,
        fp16=312e12, int8=624e12, vector_half=78e12, bandwidth=1555e9,
        source="NVIDIA A100 datasheet (dense column; sparse figures are twice these), 1,555 GB/s",
    ),
    _nvidia(
        "a100-sxm-80gb", "NVIDIA A100 SXM4 80GB",
        fp64=9.7e12, fp64_tensor=19.5e12, fp32=19.5e12, tf32=156e12, bf16=312e12,
        fp16=312e12, int8=624e12, vector_half=78e12, bandwidth=2039e9,
        source="NVIDIA A100 datasheet (80GB SXM, dense column), 2,039 GB/s",
    ),
    _nvidia(
        "a100-pcie", "NVIDIA A100 PCIe 80GB",
        fp64=9.7e12, fp64_tensor=19.5e12, fp32=19.5e12, tf32=156e12, bf16=312e12,
        fp16=312e12, int8=624e12, vector_half=78e12, bandwidth=1935e9,
        source="NVIDIA A100 datasheet (80GB PCIe, dense column), 1,935 GB/s",
        notes="the 40GB PCIe card has the same peaks and 1,555 GB/s",
    ),
    _nvidia(
        "a10g", "NVIDIA A10G (AWS G5)",
        fp64=0.49e12, fp64_tensor=0.49e12, fp32=35e12, tf32=35e12, bf16=70e12, fp16=70e12,
        int8=140e12, bandwidth=600e9,
        source="AWS publishes no datasheet; figures as reported for the A10G (dense tensor "
        "70 TFLOPS bf16/fp16, 35 TF32, 35 FP32), 600 GB/s GDDR6",
        notes="a variant of the A10 (125 TFLOPS bf16) with half its tensor throughput",
    ),
    _nvidia(
        "l4", "NVIDIA L4",
        fp64=0.49e12, fp64_tensor=0.49e12, fp32=30.3e12, tf32=60e12, bf16=121e12,
        fp16=121e12, fp8=242.5e12, int8=242.5e12, bandwidth=300e9,
        source="NVIDIA L4 datasheet: sparse 120 TF32 / 242 BF16 / 485 FP8, halved; 300 GB/s",
    ),
    _nvidia(
        "l40s", "NVIDIA L40S",
        fp64=1.41e12, fp64_tensor=1.41e12, fp32=91.6e12, tf32=183e12, bf16=362.05e12,
        fp16=362.05e12, fp8=733e12, int8=733e12, bandwidth=864e9,
        source="NVIDIA L40S datasheet (dense: 183 TF32, 362.05 BF16, 733 FP8), 864 GB/s",
    ),
    _nvidia(
        "h100-sxm", "NVIDIA H100 SXM5 80GB",
        fp64=34e12, fp64_tensor=67e12, fp32=67e12, tf32=494.7e12, bf16=989.4e12,
        fp16=989.4e12, fp8=1978.9e12, int8=1978.9e12, vector_half=133.8e12,
        bandwidth=3.35e12,
        source="NVIDIA H100 datasheet (SXM; sheet's bf16 1,979 TFLOPS is sparse: dense 989.4) "
        "and Hopper whitepaper (non-tensor FP16 133.8); 3.35 TB/s",
    ),
    _nvidia(
        "h100-pcie", "NVIDIA H100 PCIe 80GB",
        fp64=26e12, fp64_tensor=51e12, fp32=51e12, tf32=378e12, bf16=756.5e12,
        fp16=756.5e12, fp8=1513e12, int8=1513e12, bandwidth=2.0e12,
        source="NVIDIA H100 datasheet (PCIe; sparse 1,513 BF16 halved), 2 TB/s",
    ),
    _nvidia(
        "h100-nvl", "NVIDIA H100 NVL 94GB",
        fp64=30e12, fp64_tensor=60e12, fp32=60e12, tf32=417.5e12, bf16=835.5e12,
        fp16=835.5e12, fp8=1670.5e12, int8=1670.5e12, bandwidth=3.9e12,
        source="NVIDIA H100 datasheet (NVL, per GPU; sparse 1,671 BF16 halved), 3.9 TB/s",
    ),
    _nvidia(
        "h200", "NVIDIA H200 SXM 141GB",
        fp64=34e12, fp64_tensor=67e12, fp32=67e12, tf32=494.7e12, bf16=989.4e12,
        fp16=989.4e12, fp8=1978.9e12, int8=1978.9e12, vector_half=133.8e12,
        bandwidth=4.8e12,
        source="NVIDIA H200 datasheet (SXM; sparse 1,979 BF16 halved), 4.8 TB/s",
    ),
    _nvidia(
        "b200", "NVIDIA B200 (HGX B200, per GPU)",
        fp64=37e12, fp64_tensor=37e12, fp32=75e12, tf32=1125e12, bf16=2250e12,
        fp16=2250e12, fp8=4500e12, int8=4500e12, bandwidth=8e12,
        source="NVIDIA HGX B200 datasheet, 8 GPUs: sparse 18 PF TF32 / 36 PF BF16 / 72 PF FP8, "
        "600 TF FP32, 296 TF FP64, 64 TB/s; divided by 8 and sparse halved",
    ),
    _nvidia(
        "rtx-3090", "NVIDIA GeForce RTX 3090",
        fp64=0.556e12, fp64_tensor=0.556e12, fp32=35.6e12, tf32=35.6e12, bf16=71e12,
        fp16=71e12, int8=284e12, bandwidth=936e9,
        source="NVIDIA Ampere GA102 whitepaper: FP16/BF16 tensor with FP32 accumulate 71 dense "
        "(142 sparse; PyTorch accumulates in FP32), 936 GB/s",
    ),
    _nvidia(
        "rtx-4090", "NVIDIA GeForce RTX 4090",
        fp64=1.29e12, fp64_tensor=1.29e12, fp32=82.6e12, tf32=82.6e12, bf16=165.2e12,
        fp16=165.2e12, fp8=330.3e12, int8=660.6e12, bandwidth=1008e9,
        source="NVIDIA Ada AD102 whitepaper: tensor with FP32 accumulate 165.2 FP16/BF16 and "
        "330.3 FP8 dense, 1,008 GB/s",
    ),
    DeviceSpec(
        "mi250x", "AMD Instinct MI250X",
        matrix_flops={"float64": 95.7e12, "float32": 95.7e12, "bfloat16": 383e12,
                      "float16": 383e12, "int8": 383e12},
        vector_flops={"float64": 47.9e12, "float32": 47.9e12},
        bandwidth=3.2768e12,
        source="AMD Instinct MI250X datasheet (no sparsity figures), 3.2768 TB/s",
    ),
    DeviceSpec(
        "mi300x", "AMD Instinct MI300X",
        matrix_flops={"float64": 163.4e12, "float32": 163.4e12, "tf32": 653.7e12,
                      "bfloat16": 1307.4e12, "float16": 1307.4e12, "float8": 2614.9e12,
                      "int8": 2614.9e12},
        vector_flops={"float64": 81.7e12, "float32": 163.4e12},
        bandwidth=5.3e12,
        source="AMD Instinct MI300X datasheet (dense column; sparse figures are twice these), "
        "5.3 TB/s",
    ),
)  # fmt: skip

DEVICES: Mapping[str, DeviceSpec] = MappingProxyType({spec.name: spec for spec in _TABLE})
"""Every known device by its short name (``"h100-sxm"``)."""

# torch.cuda.get_device_name() -> entry, most specific pattern first ("H100 PCIe" before "H100")
_NAME_PATTERNS = (
    (r"h100.*nvl", "h100-nvl"),
    (r"h100.*pcie", "h100-pcie"),
    (r"h100", "h100-sxm"),
    (r"h200", "h200"),
    (r"b200", "b200"),
    (r"a100.*pcie", "a100-pcie"),
    (r"a100.*40gb", "a100-sxm-40gb"),
    (r"a100", "a100-sxm-80gb"),
    (r"a10g", "a10g"),
    (r"l40s", "l40s"),
    (r"\bl4\b", "l4"),
    (r"v100", "v100-sxm"),
    (r"rtx 3090", "rtx-3090"),
    (r"rtx 4090", "rtx-4090"),
    (r"mi250x", "mi250x"),
    (r"mi300x", "mi300x"),
)

DeviceLike = Union[str, DeviceSpec]
DtypeLike = Union[str, torch.dtype]


def _known() -> str:
    return ", ".join(DEVICES)


def device_from_name(gpu_name: str) -> DeviceSpec:
    """The entry for a name as ``torch.cuda.get_device_name()`` gives it."""
    lowered = gpu_name.lower()
    for pattern, name in _NAME_PATTERNS:
        if re.search(pattern, lowered):
            return DEVICES[name]
    raise OpCountError(f"unknown device {gpu_name!r}: known devices are {_known()}")


def device_spec(device: DeviceLike) -> DeviceSpec:
    """A :class:`DeviceSpec` from its short name, ``"auto"`` (the current CUDA device) or itself."""
    if isinstance(device, DeviceSpec):
        return device
    if not isinstance(device, str):
        raise OpCountError(f"device must be a name or a DeviceSpec, got {device!r}")
    if device == "auto":
        if not torch.cuda.is_available():
            raise OpCountError("device='auto' needs a CUDA device, and none is available")
        return device_from_name(torch.cuda.get_device_name())
    spec = DEVICES.get(device.lower())
    if spec is None:
        raise OpCountError(f"unknown device {device!r}: known devices are {_known()}")
    return spec


def dtype_key(dtype: DtypeLike) -> str:
    """The table's key for a dtype: ``torch.bfloat16`` -> ``"bfloat16"``, ``"bf16"`` too."""
    if isinstance(dtype, torch.dtype):
        key = _DTYPE_KEYS.get(dtype)
        if key is None:
            raise OpCountError(f"no peak is listed for dtype {dtype}")
        return key
    if isinstance(dtype, str):
        name = dtype.removeprefix("torch.").lower()
        return _ALIASES.get(name, "float8" if name.startswith("float8") else name)
    raise OpCountError(f"dtype must be a torch.dtype or a name, got {dtype!r}")


def peak_flops(device: DeviceLike, dtype: DtypeLike, *, matrix: bool = True) -> float:
    """Dense peak FLOP/s of ``device`` for ``dtype``: tensor-core (matrix) work by default,
    vector work with ``matrix=False``. Vector half-precision work falls back to the float32
    vector peak where the datasheet lists none (elementwise kernels compute in float32)."""
    spec = device_spec(device)
    key = dtype_key(dtype)
    table = spec.matrix_flops if matrix else spec.vector_flops
    value = table.get(key)
    if value is None and not matrix and key in spec.matrix_flops:
        value = spec.vector_flops.get("float32")
    if value is None:
        kind = "matrix" if matrix else "vector"
        raise OpCountError(
            f"no {kind} peak for dtype {key!r} on {spec.name}: it lists {', '.join(sorted(table))}"
        )
    return value


def memory_bandwidth(device: DeviceLike) -> float:
    """Peak memory bandwidth of ``device`` in bytes/s."""
    return device_spec(device).bandwidth
