"""``gather``: every rank's rows on one rank, through the c10d store, never waiting forever.

The rows travel through the process group's key-value store (not a collective), so gathering
works whatever the backend (gloo, NCCL) and a missing peer ends in a clear error at the timeout
instead of a hang.
"""

from __future__ import annotations

import pickle
from datetime import timedelta
from typing import Any, cast

import pandas as pd

from ..errors import OpCountError

_PREFIX = "opcount/gather"
_calls = [0]  # per process: the how-many-th gather this is, so every call has its own keys


def gather(counter: Any, dst: int = 0, timeout: float = 60.0) -> pd.DataFrame | None:
    """Every rank's rows (``counter.to_dataframe()``) as one DataFrame on rank ``dst``, with a
    ``rank`` column first; None on the other ranks.

    Every rank of the default process group must call it. ``counter`` is the rank's
    :class:`~opcount.OpCounter` after its run (None where a rank has none: then every rank
    raises :class:`~opcount.OpCountError` naming the ranks without one). A rank that does not
    arrive within ``timeout`` seconds makes every rank that did raise, naming it.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        raise OpCountError("opcount.gather needs torch.distributed initialised on every rank")
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        raise OpCountError(f"timeout must be a positive number of seconds, got {timeout!r}")
    world, rank = dist.get_world_size(), dist.get_rank()
    if not isinstance(dst, int) or not 0 <= dst < world:
        raise OpCountError(f"dst must be a rank in 0..{world - 1}, got {dst!r}")
    store = dist.distributed_c10d._get_default_store()
    call = _calls[0]
    _calls[0] += 1
    prefix = f"{_PREFIX}/{call}"
    store.set(f"{prefix}/rows/{rank}", _payload(counter))  # type: ignore[arg-type]

    wait = timedelta(seconds=timeout)
    if rank == dst:
        keys = [f"{prefix}/rows/{r}" for r in range(world)]
        verdict, frame = _collect(store, keys, wait, timeout)
        store.set(f"{prefix}/verdict", verdict)
        for key in keys:
            store.delete_key(key)
    else:
        frame = None
        verdict = _wait_for(store, f"{prefix}/verdict", wait, timeout, dst)
    if verdict != "ok":
        raise OpCountError(verdict)
    return cast("pd.DataFrame | None", frame)


def _payload(counter: Any) -> bytes:
    """This rank's rows, pickled; or the reason it has none."""
    if counter is None:
        return pickle.dumps("this rank passed no counter")
    try:
        rows = counter.to_dataframe()
    except OpCountError as error:  # a counter that never ran
        return pickle.dumps(f"its counter has no rows ({error})")
    except AttributeError:
        return pickle.dumps(f"it passed a {type(counter).__name__}, not an OpCounter")
    return pickle.dumps(rows)


def _collect(store: Any, keys: list[str], wait: timedelta, timeout: float) -> tuple[str, Any]:
    """On ``dst``: the verdict ("ok" or why not) and the joined rows."""
    missing = []
    for r, key in enumerate(keys):
        try:
            store.wait([key], wait)
        except RuntimeError:  # the store's timeout (DistStoreError)
            missing.append(r)
    if missing:
        return (
            f"opcount.gather: rank(s) {missing} did not reach gather within {timeout:g} s",
            None,
        )
    frames, problems = [], []
    for r, key in enumerate(keys):
        value = pickle.loads(store.get(key))
        if isinstance(value, str):
            problems.append(f"rank {r}: {value}")
        else:
            frames.append(value.assign(rank=r))
    if problems:
        return "opcount.gather: ranks disagree, " + "; ".join(problems), None
    joined = pd.concat(frames, ignore_index=True)
    return "ok", joined[["rank", *[c for c in joined.columns if c != "rank"]]]


def _wait_for(store: Any, key: str, wait: timedelta, timeout: float, dst: int) -> str:
    try:
        store.wait([key], wait)
    except RuntimeError:
        return f"opcount.gather: rank {dst} (dst) did not finish gathering within {timeout:g} s"
    return str(store.get(key).decode())


def by_rank(rows: pd.DataFrame) -> pd.DataFrame:
    """Per rank of gathered rows: calls, FLOPs, MACs, bytes and ``comm_bytes``, plus a
    ``total`` row (the job's): every total is the sum of the ranks'."""
    if "rank" not in rows.columns:
        raise OpCountError("by_rank needs gathered rows (a 'rank' column): use opcount.gather")
    columns = ["flops", "macs", "bytes_read", "bytes_written", "comm_bytes"]
    frame = rows.groupby("rank", sort=True).agg(
        calls=("seq", "size"), **{c: (c, "sum") for c in columns}
    )
    frame = frame.reset_index()
    frame["rank"] = frame["rank"].astype(object)
    total = {"rank": "total", "calls": int(frame["calls"].sum())}
    total.update({c: int(frame[c].sum()) for c in columns})
    return pd.concat([frame, pd.DataFrame([total])], ignore_index=True)
