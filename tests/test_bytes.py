"""Bytes moved per row, against closed forms: ``bytes_read`` and ``bytes_written`` are the
element size times the distinct elements of the tensors an op reads and writes (an expanded,
stride-0 input counts its storage once; views move nothing; ``out=`` tensors are written, not
read; an in-place op reads its operands and writes its first)."""

from __future__ import annotations

import torch

from helpers import count, only_row


def test_matmul_reads_both_operands_and_writes_the_product() -> None:
    m, k, n = 3, 5, 7
    a, b = torch.randn(m, k), torch.randn(k, n)
    row = only_row(count(lambda: a @ b), "aten.mm")
    assert (row["bytes_read"], row["bytes_written"]) == (4 * (m * k + k * n), 4 * m * n)


def test_element_size_follows_the_dtype() -> None:
    a, b = torch.randn(2, 3, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64)
    row = only_row(count(lambda: a @ b), "aten.mm")
    assert (row["bytes_read"], row["bytes_written"]) == (8 * (6 + 12), 8 * 8)


def test_expanded_operand_counts_its_storage_once() -> None:
    a, b = torch.randn(4, 1), torch.randn(4, 5)
    counter = count(lambda: a.expand(4, 5) + b)
    expand = only_row(counter, "aten.expand")
    assert (expand["status"], expand["bytes_read"], expand["bytes_written"]) == ("free", 0, 0)
    add = only_row(counter, "aten.add")
    # the expanded [4, 5] view has 4 distinct elements; b has 20; the sum writes 20
    assert (add["bytes_read"], add["bytes_written"]) == (4 * (4 + 20), 4 * 20)


def test_scalar_expanded_to_a_matrix_is_one_element() -> None:
    s, x = torch.tensor(2.0), torch.randn(3, 3)
    add = only_row(count(lambda: s.expand(3, 3) * x), "aten.mul")
    assert (add["bytes_read"], add["bytes_written"]) == (4 * (1 + 9), 4 * 9)


def test_python_number_operand_reads_nothing() -> None:
    """``x + 1.0`` dispatches add.Tensor with the number where the schema says Tensor."""
    x = torch.randn(3, 5)
    row = only_row(count(lambda: x + 1.0), "aten.add")
    assert (row["bytes_read"], row["bytes_written"], row["shapes"]) == (4 * 15, 4 * 15, "[[3, 5]]")
    assert (row["status"], row["flops"]) == ("counted", 15)


def test_a_view_moves_nothing() -> None:
    x = torch.randn(6, 4)
    counter = count(lambda: x.view(4, 6).transpose(0, 1))
    rows = counter.to_dataframe()
    assert list(rows["op"]) == ["aten.view", "aten.transpose"]
    assert set(rows["status"]) == {"free"}
    assert rows["bytes_read"].sum() == rows["bytes_written"].sum() == 0


def test_in_place_op_reads_both_and_writes_its_first_operand() -> None:
    x, y = torch.randn(3, 5), torch.randn(3, 5)
    row = only_row(count(lambda: x.add_(y)), "aten.add_")
    assert (row["bytes_read"], row["bytes_written"]) == (4 * (15 + 15), 4 * 15)


def test_out_argument_is_written_not_read() -> None:
    a, b, result = torch.randn(2, 6), torch.randn(2, 6), torch.empty(2, 6)
    row = only_row(count(lambda: torch.add(a, b, out=result)), "aten.add")
    assert row["overload"] == "out"
    assert (row["bytes_read"], row["bytes_written"]) == (4 * (12 + 12), 4 * 12)


def test_non_contiguous_input_counts_the_elements_it_covers() -> None:
    # a transposed matrix is not contiguous but has no stride-0 dim: every element is distinct
    x = torch.randn(5, 3)
    row = only_row(count(lambda: x.t().exp()), "aten.exp")
    assert (row["bytes_read"], row["bytes_written"]) == (4 * 15, 4 * 15)
