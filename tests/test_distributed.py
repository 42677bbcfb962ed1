"""Distributed runs on real gloo process groups of 2 and 4 ranks on 127.0.0.1.

Each world size starts its ranks once (tests/dist_worker.py runs every scenario and writes
what it measured); the tests compare with closed forms. Every rank is killed at a deadline.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from opcount import OpCounter
from opcount.distributed.local import _label_fqn
from opcount.formulas.comm import (
    all_gather_bytes,
    all_reduce_bytes,
    all_to_all_bytes,
    reduce_scatter_bytes,
    ring_reduction_flops,
)

pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available(), reason="torch built without torch.distributed"
)

WORKER = Path(__file__).with_name("dist_worker.py")
SRC = Path(__file__).resolve().parent.parent / "src"
DEADLINE_S = 150
FLOAT = 4  # bytes of a float32


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_ranks(n: int, out: Path, only: str) -> list[dict[str, Any]]:
    """Start ``n`` ranks, wait for all of them (killing every one at the deadline), and return
    each rank's results."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))
    env["OMP_NUM_THREADS"] = "1"
    port = free_port()
    procs = []
    logs = []
    for rank in range(n):
        log = open(out / f"rank{rank}.log", "w")  # noqa: SIM115 (closed once every rank ends)
        logs.append(log)
        command = [sys.executable, str(WORKER), "--rank", str(rank), "--world", str(n)]
        command += ["--port", str(port), "--out", str(out), "--only", only]
        procs.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT))
    end = time.monotonic() + DEADLINE_S
    try:
        for proc in procs:
            proc.wait(timeout=max(1.0, end - time.monotonic()))
    except subprocess.TimeoutExpired:
        pass
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for log in logs:
            log.close()
    failed = [r for r, p in enumerate(procs) if p.returncode != 0]
    if failed:
        text = "\n".join((out / f"rank{r}.log").read_text()[-3000:] for r in failed)
        pytest.fail(f"ranks {failed} failed or overran {DEADLINE_S} s:\n{text}")
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(n)]


ALL = "collectives,ddp,step_meter,fsdp2,fsdp1,tensor_parallel,gathering,failing_rank,timeout"
FOUR = "collectives,ddp,step_meter,fsdp2,tensor_parallel,gathering,failing_rank"


@pytest.fixture(scope="module", params=[2, 4], ids=lambda n: f"{n}ranks")
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    n = request.param
    results = run_ranks(n, tmp_path_factory.mktemp(f"ranks{n}"), ALL if n == 2 else FOUR)
    return n, results


def scenario(world: Any, name: str) -> tuple[int, list[dict[str, Any]]]:
    n, results = world
    if name not in results[0]:
        pytest.skip(f"{name} runs on 2 ranks only")
    for rank, result in enumerate(results):
        assert "error" not in result[name], f"rank {rank}: {result[name]['error']}"
    return n, [result[name] for result in results]


def comm_of(result: dict[str, Any], op: str, phase: str | None = None) -> list[int]:
    return [row[3] for row in result["comm"] if row[0] == op and phase in (None, row[1])]


# -- closed forms of the model ----------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 4, 8])
def test_bus_bandwidth_model(n: int) -> None:
    s = 4000 * n  # divisible by every n here
    assert all_reduce_bytes(s, n) == 2 * (n - 1) * s // n
    assert all_gather_bytes(s, n) == reduce_scatter_bytes(s, n) == (n - 1) * s // n
    assert all_to_all_bytes(s, n) == (n - 1) * 4000
    assert ring_reduction_flops(1000 * n, n) == (n - 1) * 1000


def test_fsdp_labels_name_their_module() -> None:
    assert _label_fqn("FSDP::all_gather (layers.0)") == "layers.0"
    assert _label_fqn("FSDP::post_backward_reduce (2) [pg=4]") == "2"
    assert _label_fqn("FSDP::all_gather") == ""
    assert _label_fqn("FSDP::root_pre_forward") is None


def test_single_process_counter_adds_no_mode() -> None:
    # without torch.distributed initialised, the counting mode is alone on the stack: the
    # per-op path of ordinary runs is the one it always was
    assert not torch.distributed.is_initialized()
    with OpCounter(warn=False):
        assert torch._C._len_torch_dispatch_stack() == 1


# -- real process groups ---------------------------------------------------------------------


def test_explicit_collectives_closed_forms(world: Any) -> None:
    n, ranks = scenario(world, "collectives")
    for result in ranks:
        assert result["unsupported"] == []
        got = {row[0]: row[3] for row in result["comm"]}
        flops = {row[0]: row[4] for row in result["comm"]}
        assert got["c10d.allreduce_"] == 2 * (n - 1) * 4000 // n
        assert got["c10d._allgather_base_"] == (n - 1) * 4000 * n // n
        assert got["c10d._reduce_scatter_base_"] == (n - 1) * 4000 * n // n
        assert got["_c10d_functional.all_reduce"] == got["c10d.allreduce_"]
        assert got["_c10d_functional.all_gather_into_tensor"] == got["c10d._allgather_base_"]
        assert got["_c10d_functional.reduce_scatter_tensor"] == got["c10d._reduce_scatter_base_"]
        assert got["c10d.broadcast_"] == 4000
        assert got["c10d.barrier"] == 0
        assert flops["c10d.allreduce_"] == (n - 1) * 1000 // n
        assert flops["c10d._reduce_scatter_base_"] == (n - 1) * 1000
        assert result["total_comm_bytes"] == sum(got.values())
        assert result["by_phase_comm"] == {"forward": sum(got.values())}
        # on meta a collective cannot run: one clear warning, and the bytes it would send
        assert result["meta"]["comm_bytes"] == 2 * (n - 1) * 4000 // n
        assert len(result["meta"]["warnings"]) == 1
        assert "collectives cannot run on meta" in result["meta"]["warnings"][0]
    if n == 4:  # the subgroup's size, 2, not the world's
        assert [row[3] for row in ranks[0]["subgroup"]] == [2 * (2 - 1) * 4000 // 2]
        assert ranks[2]["subgroup"] == []


def _mlp_macs(batch: int, *dims: int) -> int:
    return sum(batch * a * b for a, b in zip(dims, dims[1:]))


def _params(*dims: int) -> list[tuple[int, int]]:
    """(rows, columns) of each Linear's weight and bias, as FSDP shards them (dim 0)."""
    shapes = []
    for a, b in zip(dims, dims[1:]):
        shapes += [(b, a), (b, 1)]
    return shapes


def test_ddp_is_complete_and_all_reduces_the_gradients(world: Any) -> None:
    n, ranks = scenario(world, "ddp")
    grad_bytes = sum(r * c for r, c in _params(32, 64, 32)) * FLOAT
    for result in ranks:
        assert result["unsupported"] == []
        assert result["forward_macs"] == _mlp_macs(4, 32, 64, 32)  # the local batch
        assert result["by_phase_comm"]["backward"] == 2 * (n - 1) * grad_bytes // n
        assert {(row[1], row[2]) for row in result["comm"]} == {("backward", "")}  # the root
        assert "comm sent" in result["table_header"][0]  # the printed table shows comm_bytes


def test_step_meter_gives_each_rank_its_own_mfu(world: Any) -> None:
    _, ranks = scenario(world, "step_meter")
    forward = _mlp_macs(4, 32, 64, 32)  # the local batch of 4
    # backward: both weight gradients (= forward) and the second layer's input gradient
    # (4 x 64 x 32: the input x needs none)
    backward = forward + 4 * 64 * 32
    for result in ranks:
        assert result["counted"] == [True, False, False]  # one signature: counted once
        # the metered step's figures are those of the same step counted by hand
        assert result["model_flops"] == [result["counter_model_flops"]] * 3
        assert result["counter_model_flops"] == 2 * (forward + backward)
        assert all(result["mfu_exact"])
        assert result["phases"] == ["backward", "forward", "optimizer"]
        assert result["counter_comm_bytes"] > 0  # DDP's gradient all-reduce on every rank


def test_fsdp2_all_gathers_padded_shards(world: Any) -> None:
    n, ranks = scenario(world, "fsdp2")
    # per layer, the all-gather output is n padded shards of ceil(rows/n) rows per parameter
    layers = {"0": _params(32, 64)[:2], "2": _params(64, 33)}
    layers["2"] = [(33, 64), (33, 1)]
    padded = {m: n * sum(math.ceil(r / n) * c for r, c in p) * FLOAT for m, p in layers.items()}
    unsharded = {m: sum(r * c for r, c in p) * FLOAT for m, p in layers.items()}
    assert padded["0"] == unsharded["0"]  # 64 rows divide by 2 and 4
    assert padded["2"] > unsharded["2"]  # 33 rows do not
    for result in ranks:
        assert result["unsupported"] == []
        assert result["copies"] == ["copy"]  # fsdp.* ops counted as the copies they are
        assert result["forward_macs"] == _mlp_macs(4, 32, 64, 33)
        forward = [(row[2], row[3]) for row in result["comm"] if row[1] == "forward"]
        assert sorted(forward) == sorted((m, (n - 1) * padded[m] // n) for m in layers)
        scatter = comm_of(result, "c10d._reduce_scatter_base_", "backward")
        assert sorted(scatter) == sorted((n - 1) * padded[m] // n for m in layers)
        modules = {row[2] for row in result["comm"] if row[1] == "backward"}
        assert modules == {"0", "2"}  # each collective with the module whose parameters move
        assert "<unattributed>" not in {row[2] for row in result["comm"]}
        for module in layers:  # by_module() carries the column, phases summed
            own = sum(row[3] for row in result["comm"] if row[2] == module)
            assert result["by_module_comm"][module] == own
        assert result["by_module_comm"][""] == sum(row[3] for row in result["comm"])


def test_fsdp1_is_complete(world: Any) -> None:
    n, ranks = scenario(world, "fsdp1")
    numel = sum(r * c for r, c in _params(32, 64, 32))
    for result in ranks:
        assert result["unsupported"] == []
        assert result["forward_macs"] == _mlp_macs(4, 32, 64, 32)
        flat = result["flat_numel"][0] * n  # FSDP1's flat parameter, padded to n shards
        assert flat >= numel
        assert comm_of(result, "c10d.allgather_", "forward") == [(n - 1) * flat * FLOAT // n]
        assert comm_of(result, "c10d._reduce_scatter_base_", "backward") == [
            (n - 1) * flat * FLOAT // n
        ]


def test_tensor_parallel_counts_local_shards(world: Any) -> None:
    n, ranks = scenario(world, "tensor_parallel")
    for result in ranks:
        for step in result["steps"]:  # sharding-cache miss, then hit
            assert step["unsupported"] == []
            assert step["forward_macs"] * n == _mlp_macs(4, 32, 64, 32)
            # the Rowwise output [4, 32] is all-reduced in forward
            assert comm_of(step, "_c10d_functional.all_reduce", "forward") == [
                2 * (n - 1) * 4 * 32 * FLOAT // n
            ]
            # backward: grad of the hidden activation (4x32x64) and of both weights, global
            assert (step["macs"] - step["forward_macs"]) * n == 3 * 4 * 32 * 64


def test_gather_has_every_rank_and_totals_add_up(world: Any) -> None:
    n, ranks = scenario(world, "gathering")
    frame = ranks[0]["frame"]
    assert all(result["frame"] is None for result in ranks[1:])
    assert frame["ranks"] == list(range(n))
    assert frame["first_column"] == "rank"
    assert frame["rows"] == sum(result["own_rows"] for result in ranks)
    own = [result["own_macs"] for result in ranks]
    assert own == [2 * (16 * 8 * (r + 1) + 8 * (r + 1) * 4) for r in range(n)]
    assert frame["macs_by_rank"] == [*own, sum(own)]
    assert frame["total_label"] == "total"


def test_a_failing_rank_leaves_nothing_and_no_peer_hangs(world: Any) -> None:
    n, ranks = scenario(world, "failing_rank")
    assert [result["raised"] for result in ranks] == [r == 1 for r in range(n)]
    for result in ranks:
        assert result["left"] == {"modes": 0, "pre_hooks": 0, "hooks": 0}
        assert result["message"] is not None
        assert "rank 1: this rank passed no counter" in result["message"]


def test_gather_times_out_naming_the_missing_ranks(world: Any) -> None:
    n, ranks = scenario(world, "timeout")
    assert ranks[0]["message"] == (
        f"opcount.gather: rank(s) {list(range(1, n))} did not reach gather within 2 s"
    )


def test_collective_ops_are_classified_without_a_process_group() -> None:
    from opcount.engine.decisions import DecisionTable
    from opcount.engine.events import COUNTED, FREE
    from opcount.formulas import REGISTRY

    table = DecisionTable(REGISTRY)
    wait = table.get(torch.ops._c10d_functional.wait_tensor.default)
    assert wait.status == FREE
    for op in (torch.ops.c10d.allreduce_.default, torch.ops._c10d_functional.all_reduce.default):
        decision = table.get(op)
        assert decision.status == COUNTED
        assert table.ops[decision.op_id].category == "comm"


def test_a_name_keyed_formula_is_refused_twice() -> None:
    from opcount.errors import OpCountError
    from opcount.formulas import Registry

    registry = Registry()
    registry.add_by_name("fsdp.chunk_cat", lambda a, k, o: (0, 0), "copy")
    with pytest.raises(OpCountError, match=r"fsdp\.chunk_cat"):
        registry.add_by_name("fsdp.chunk_cat", lambda a, k, o: (0, 0), "copy")
    with pytest.raises(OpCountError, match="unknown category"):
        registry.add_by_name("fsdp.other", lambda a, k, o: (0, 0), "network")
