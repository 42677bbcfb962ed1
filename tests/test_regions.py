"""opcount.region: nested regions, a decorator, backward inside a region, by_region sums."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import opcount
from opcount import OpCounter, OpCountError, read_csv


def test_no_region_leaves_the_column_empty() -> None:
    model = nn.Linear(4, 3)
    with OpCounter() as c:
        model(torch.randn(2, 4))
    rows = c.to_dataframe()
    assert set(rows["region"]) == {""}
    assert c.by_region()["region"].tolist() == [""]


def test_nested_regions_join_with_a_slash_and_by_region_sums_the_rows() -> None:
    model = nn.Linear(4, 3)
    x = torch.randn(2, 4, requires_grad=True)
    with OpCounter() as c:
        y = model(x)  # outside any region
        with opcount.region("train"):
            with opcount.region("loss"):
                loss = (y * y).sum()
            with opcount.region("back"):
                loss.backward()
        model(x)
    rows = c.to_dataframe()
    assert rows["region"].iloc[0] == ""
    assert set(rows["region"]) == {"", "train/loss", "train/back"}
    loss_rows = rows[rows["region"] == "train/loss"]
    assert set(loss_rows["op"]) == {"aten.mul", "aten.sum"}
    back = rows[rows["region"] == "train/back"]
    # ops autograd ran inside the region, and the seed gradient backward() makes first
    assert set(back.loc[back["phase"] == "forward", "op"]) == {"aten.ones_like"}
    assert (back["phase"] == "backward").sum() > 0
    assert (rows.loc[rows["phase"] == "backward", "region"] == "train/back").all()
    # the last forward, after the regions closed, is outside again
    assert rows["region"].iloc[-1] == ""
    table = c.by_region().set_index("region")
    for column in ("flops", "macs", "bytes_read", "bytes_written", "int_ops"):
        assert int(table[column].sum()) == int(rows[column].sum())
        for name, group in rows.groupby("region"):
            assert int(table.at[name, column]) == int(group[column].sum())
    assert int(table["calls"].sum()) == len(rows)


def test_a_decorated_function_labels_its_ops() -> None:
    @opcount.region("clip")
    def clip(t: torch.Tensor) -> torch.Tensor:
        return t.clamp(-1, 1)

    with OpCounter() as c:
        torch.randn(3).exp()
        clip(torch.randn(3))
        with opcount.region("eval"):
            clip(torch.randn(3))
    rows = c.to_dataframe()
    clamps = rows[rows["op"] == "aten.clamp"]
    assert clamps["region"].tolist() == ["clip", "eval/clip"]
    assert rows.loc[rows["op"] == "aten.exp", "region"].tolist() == [""]


def test_a_counter_entered_inside_a_region_starts_in_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with opcount.region("prefill"), OpCounter() as c:
        torch.randn(3).exp()
    rows = c.to_dataframe()
    assert set(rows["region"]) == {"prefill"}
    path = tmp_path / "rows.csv"
    c.to_csv(path)
    assert read_csv(path)["region"].tolist() == rows["region"].tolist()


def test_regions_after_the_counter_exits_are_not_recorded() -> None:
    with OpCounter() as c:
        torch.randn(3).exp()
    with opcount.region("later"):
        torch.randn(3).exp()
    assert set(c.to_dataframe()["region"]) == {""}
    assert opcount.regions.current() == ""


@pytest.mark.parametrize("name", ["", "a/b", 3])
def test_a_bad_region_name_is_refused(name: object) -> None:
    with pytest.raises(OpCountError, match=repr(name).replace("/", "/")):
        opcount.region(name)  # type: ignore[arg-type]


def test_a_region_left_by_an_exception_is_closed() -> None:
    with pytest.raises(ValueError, match="boom"), opcount.region("x"):
        raise ValueError("boom")
    assert opcount.regions.current() == ""


def test_two_threads_never_label_each_others_ops() -> None:
    import threading

    inside, outside = threading.Barrier(2), threading.Barrier(2)
    results: dict[str, set[str]] = {}

    def labelled() -> None:  # enters a region while the other thread counts
        model = nn.Linear(4, 3)
        with OpCounter() as c, opcount.region("mine"):
            inside.wait(timeout=30)
            model(torch.randn(2, 4))
            outside.wait(timeout=30)
        results["labelled"] = set(c.to_dataframe()["region"])

    def plain() -> None:
        model = nn.Linear(4, 3)
        with OpCounter() as c:
            inside.wait(timeout=30)  # the other thread's region is open from here on
            model(torch.randn(2, 4))
            outside.wait(timeout=30)
        results["plain"] = set(c.to_dataframe()["region"])

    threads = [threading.Thread(target=labelled), threading.Thread(target=plain)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results == {"labelled": {"mine"}, "plain": {""}}
