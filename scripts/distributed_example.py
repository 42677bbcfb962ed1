"""The README's "Distributed runs" example: FSDP2 on an MLP, every rank counted, gathered on 0.

    torchrun --nproc-per-node 2 --master-addr 127.0.0.1 --master-port 29500 \\
        scripts/distributed_example.py
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.fsdp import fully_shard

import opcount
from opcount import OpCounter

dist.init_process_group("gloo")  # "nccl" on GPUs
rank = dist.get_rank()
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(256, 1024), nn.GELU(), nn.Linear(1024, 256))
fully_shard(model[0])
fully_shard(model[2])
fully_shard(model)
x = torch.randn(8, 256)  # each rank its own batch of 8

with OpCounter(model) as c:
    model(x).sum().backward()

rows = opcount.gather(c, dst=0, timeout=60)  # every rank calls it; None except on dst
if rank == 0:
    print(c.table(depth=1))
    print(opcount.by_rank(rows).to_string(index=False))
    comm = rows[rows["category"] == "comm"]
    print(comm.groupby(["rank", "phase", "op"])["comm_bytes"].sum().to_string())
dist.destroy_process_group()
