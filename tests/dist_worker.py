"""One rank of the distributed tests (tests/test_distributed.py starts n of these on 127.0.0.1).

Runs every scenario on a real gloo process group and writes what it measured to
``<out>/rank<r>.json``; the test compares with closed forms. Not a test module itself.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
import warnings
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

import opcount
from opcount import OpCounter, OpCountError


def rows_summary(c: OpCounter) -> dict[str, Any]:
    rows = c.to_dataframe()
    comm = rows[rows["category"] == "comm"]
    return {
        "unsupported": sorted(set(rows.loc[rows["status"] == "unsupported", "op"])),
        "forward_macs": int(rows.loc[rows["phase"] == "forward", "macs"].sum()),
        "macs": int(rows["macs"].sum()),
        "comm": [
            [op, phase, module, int(b), int(f)]
            for op, phase, module, b, f in zip(
                comm["op"], comm["phase"], comm["module"], comm["comm_bytes"], comm["flops"]
            )
        ],
        "copies": sorted(set(rows.loc[rows["op"].str.startswith("fsdp."), "category"])),
        "by_phase_comm": {
            p: int(v) for p, v in zip(c.by_phase()["phase"], c.by_phase()["comm_bytes"])
        },
        "by_module_comm": {
            m: int(v) for m, v in zip(c.by_module()["module"], c.by_module()["comm_bytes"])
        },
    }


def mlp(d_in: int, hidden: int, d_out: int) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, d_out))


def collectives(n: int, rank: int) -> dict[str, Any]:
    import torch.distributed._functional_collectives as funcol

    t = torch.ones(1000)
    gathered = torch.empty(n * 1000)
    with OpCounter(warn=False) as c:
        dist.all_reduce(t)
        dist.all_gather_into_tensor(gathered, t)
        dist.reduce_scatter_tensor(t, gathered)
        funcol.wait_tensor(funcol.all_reduce(t, "sum", dist.group.WORLD))
        funcol.wait_tensor(funcol.all_gather_tensor(t, 0, dist.group.WORLD))
        funcol.wait_tensor(funcol.reduce_scatter_tensor(gathered, "sum", 0, dist.group.WORLD))
        dist.broadcast(t, 0)
        dist.barrier()
    out = rows_summary(c)
    out["total_comm_bytes"] = c.total_comm_bytes
    with warnings.catch_warnings(record=True) as caught:  # meta: nothing can be sent
        warnings.simplefilter("always")
        with OpCounter(warn=False) as c:
            dist.all_reduce(torch.ones(1000, device="meta"))
    out["meta"] = {
        "warnings": [str(w.message) for w in caught if "meta" in str(w.message)],
        "comm_bytes": c.total_comm_bytes,
    }
    if n >= 4:  # a subgroup's size, not the world's
        pair = dist.new_group([0, 1])
        with OpCounter(warn=False) as c:
            if rank in (0, 1):
                dist.all_reduce(t, group=pair)
        out["subgroup"] = rows_summary(c)["comm"]
    return out


def ddp(n: int, rank: int) -> dict[str, Any]:
    from torch.nn.parallel import DistributedDataParallel

    model = DistributedDataParallel(mlp(32, 64, 32))
    torch.manual_seed(rank)
    x = torch.randn(4, 32)
    with OpCounter(model, warn=False) as c:
        model(x).sum().backward()
    out = rows_summary(c)
    out["table_header"] = [line for line in str(c).splitlines() if "module" in line][:1]
    return out


def step_meter(n: int, rank: int) -> dict[str, Any]:
    """A DDP training loop under StepMeter: each rank meters its own steps (per-rank MFU)."""
    from torch.nn.parallel import DistributedDataParallel

    from opcount import StepMeter

    model = DistributedDataParallel(mlp(32, 64, 32))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    torch.manual_seed(rank)
    x = torch.randn(4, 32)
    meter = StepMeter(model, peak_flops=1e12)
    for _ in range(3):
        with meter.step(samples=4):
            model(x).sum().backward()
            optimizer.step()
            optimizer.zero_grad()
    with OpCounter(model, warn=False) as c:  # the same step, counted by hand
        model(x).sum().backward()
        optimizer.step()
        optimizer.zero_grad()
    steps = meter.steps
    return {
        "counted": [bool(v) for v in steps["counted"]],
        "model_flops": [int(v) for v in steps["model_flops"]],
        "mfu_exact": [
            m == f / (t * 1e12)
            for m, f, t in zip(steps["mfu"], steps["model_flops"], steps["time_s"])
        ],
        "counter_model_flops": c.model_flops,
        "counter_comm_bytes": c.total_comm_bytes,
        "phases": sorted(set(c.to_dataframe()["phase"])),
    }


def fsdp2(n: int, rank: int) -> dict[str, Any]:
    from torch.distributed.fsdp import fully_shard

    model = mlp(32, 64, 33)  # 33 rows: padded to a multiple of n
    fully_shard(model[0])
    fully_shard(model[2])
    fully_shard(model)
    torch.manual_seed(rank)
    x = torch.randn(4, 32)
    with OpCounter(model, warn=False) as c:
        model(x).sum().backward()
    return rows_summary(c)


def fsdp1(n: int, rank: int) -> dict[str, Any]:
    from torch.distributed.fsdp import FullyShardedDataParallel

    model = FullyShardedDataParallel(mlp(32, 64, 32), device_id=torch.device("cpu"))
    torch.manual_seed(rank)
    x = torch.randn(4, 32)
    with OpCounter(model, warn=False) as c:
        model(x).sum().backward()
    out = rows_summary(c)
    out["flat_numel"] = [p.numel() for p in model.parameters()]
    return out


def tensor_parallel(n: int, rank: int) -> dict[str, Any]:
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor.parallel import (
        ColwiseParallel,
        RowwiseParallel,
        parallelize_module,
    )

    model = mlp(32, 64, 32)
    mesh = init_device_mesh("cpu", (n,))
    parallelize_module(model, mesh, {"0": ColwiseParallel(), "2": RowwiseParallel()})
    x = torch.randn(4, 32)
    steps = []
    for _ in range(2):  # the first step misses DTensor's sharding cache, the second hits it
        with OpCounter(model, warn=False) as c:
            model(x).sum().backward()
        steps.append(rows_summary(c))
    return {"steps": steps}


def gathering(n: int, rank: int) -> dict[str, Any]:
    torch.manual_seed(rank)
    model = mlp(16, 8 * (rank + 1), 4)  # every rank a different size: totals must add up
    with OpCounter(model, warn=False) as c:
        model(torch.randn(2, 16))
    frame = opcount.gather(c, dst=0, timeout=30)
    out: dict[str, Any] = {"own_macs": c.total_macs, "own_rows": len(c.to_dataframe())}
    if frame is None:
        out["frame"] = None
    else:
        totals = opcount.by_rank(frame)
        out["frame"] = {
            "ranks": sorted(set(int(r) for r in frame["rank"])),
            "rows": len(frame),
            "first_column": frame.columns[0],
            "macs_by_rank": [int(v) for v in totals["macs"]],
            "total_label": str(totals["rank"].iloc[-1]),
        }
    return out


def failing_rank(n: int, rank: int) -> dict[str, Any]:
    """Rank 1 raises inside its counted region; it must leave nothing behind, and gather must
    tell every rank that rank 1 has no rows."""
    model = mlp(8, 8, 8)
    counter: OpCounter | None = None
    raised = False
    try:
        with OpCounter(model, warn=False) as c:
            model(torch.randn(2, 8))
            if rank == 1:
                raise ValueError("boom")
        counter = c
    except ValueError:
        raised = True
    left = {
        "modes": torch._C._len_torch_dispatch_stack(),
        "pre_hooks": len(nn.modules.module._global_forward_pre_hooks),
        "hooks": len(nn.modules.module._global_forward_hooks),
    }
    message = None
    try:
        opcount.gather(counter, dst=0, timeout=30)
    except OpCountError as error:
        message = str(error)
    return {"raised": raised, "left": left, "message": message}


def timeout(n: int, rank: int) -> dict[str, Any]:
    """Only rank 0 gathers: it must stop at the timeout, naming the missing ranks."""
    if rank != 0:
        return {}
    with OpCounter(warn=False) as c:
        torch.ones(3) + 1
    try:
        opcount.gather(c, timeout=2)
    except OpCountError as error:
        return {"message": str(error)}
    return {"message": None}


SCENARIOS = {
    "collectives": collectives,
    "ddp": ddp,
    "step_meter": step_meter,
    "fsdp2": fsdp2,
    "fsdp1": fsdp1,
    "tensor_parallel": tensor_parallel,
    "gathering": gathering,
    "failing_rank": failing_rank,
    "timeout": timeout,  # last: the other ranks skip this gather
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rank", type=int, required=True)
    parser.add_argument("--world", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--only", default=",".join(SCENARIOS))
    a = parser.parse_args()
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(a.port))
    started = time.monotonic()
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", rank=a.rank, world_size=a.world, timeout=timedelta(seconds=60)
    )
    results: dict[str, Any] = {"seconds": {}}
    for name in a.only.split(","):
        start = time.monotonic()
        try:
            results[name] = SCENARIOS[name](a.world, a.rank)
        except Exception:
            results[name] = {"error": traceback.format_exc()}
        if name != "timeout":
            dist.barrier()
        results["seconds"][name] = round(time.monotonic() - start, 2)
    results["seconds"]["all"] = round(time.monotonic() - started, 2)
    with open(os.path.join(a.out, f"rank{a.rank}.json"), "w") as f:
        json.dump(results, f)
    dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
