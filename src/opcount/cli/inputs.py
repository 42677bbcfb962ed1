"""``--input`` specifications: ``1x3x224x224``, ``1x128:int64``, ``2x3x32x32:float16``."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import OpCountError

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float": torch.float32,
    "float16": torch.float16,
    "half": torch.float16,
    "bfloat16": torch.bfloat16,
    "float64": torch.float64,
    "int64": torch.int64,
    "long": torch.int64,
    "int32": torch.int32,
    "int": torch.int32,
    "int8": torch.int8,
    "uint8": torch.uint8,
    "bool": torch.bool,
}


class InputSpecError(OpCountError):
    """A malformed ``--input`` value."""


@dataclass(frozen=True)
class InputSpec:
    """Shape and dtype of one model input."""

    shape: tuple[int, ...]
    dtype: torch.dtype = torch.float32

    def with_batch(self, batch: int) -> InputSpec:
        """The same input with its first dimension set to ``batch``."""
        if not self.shape:
            return self
        return InputSpec((batch, *self.shape[1:]), self.dtype)

    def make(self, device: torch.device | str, dtype: torch.dtype | None = None) -> torch.Tensor:
        """A tensor of this spec: random floats; integer inputs are zeros, a valid token or
        class id for any vocabulary."""
        target = self.dtype
        if dtype is not None and target.is_floating_point:
            target = dtype
        if target.is_floating_point or target.is_complex:
            return torch.randn(self.shape, dtype=target, device=device)
        return torch.zeros(self.shape, dtype=target, device=device)


def parse_input(text: str) -> InputSpec:
    """Parse ``"1x3x224x224"`` or ``"1x128:int64"``; the error names the bad value."""
    shape_text, _, dtype_text = text.strip().partition(":")
    if dtype_text and dtype_text not in DTYPES:
        raise InputSpecError(
            f"--input {text!r}: unknown dtype {dtype_text!r}; use one of {', '.join(DTYPES)}"
        )
    parts = shape_text.lower().split("x")
    if not shape_text or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise InputSpecError(
            f"--input {text!r} is not a shape like 1x3x224x224 (positive sizes joined by 'x', "
            "optionally ':int64')"
        )
    return InputSpec(
        tuple(int(p) for p in parts), DTYPES[dtype_text] if dtype_text else torch.float32
    )
