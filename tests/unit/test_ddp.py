"""Two-process DDP on CPU (gloo): ranks stay identical and memories get all-gathered keys."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from engine.train.pretrain import PretrainRun
from tests.unit.test_pretrain_run import tiny_config


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def train_on_rank(rank: int, world: int, port: int, data: str, out: str, method: str) -> None:
    os.environ.update({"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    # moby and hatchery leave a query's own keys out: the owners are gathered like the keys
    run = PretrainRun(tiny_config(data, method, steps=3, memory={"exclude_own_keys": True}),
                      out)
    keys_seen = []
    original_update = None
    memory = getattr(run.method, "memory", None) or getattr(run.method, "memory1", None)
    original_update = memory.update

    def recording_update(new_keys, draw, probabilities, step, owners=None):
        keys_seen.append(new_keys.shape[0])
        if owners is not None:
            assert owners.shape[0] == new_keys.shape[0]
        return original_update(new_keys, draw, probabilities, step, owners)

    memory.update = recording_update
    run.run()
    torch.save({"state": run.method.state_dict(), "keys_per_update": keys_seen},
               f"{out}/rank{rank}.pt")
    dist.destroy_process_group()


@pytest.mark.parametrize(("method", "keys_per_update"),
                         [("mocov2", 16), ("moby", 16), ("hatchery", 8)])
def test_two_rank_ddp_keeps_ranks_identical(neu_small, tmp_path, method, keys_per_update):
    out = tmp_path / "run"
    out.mkdir()
    mp.spawn(train_on_rank, args=(2, free_port(), str(neu_small), str(out), method), nprocs=2)
    rank0 = torch.load(out / "rank0.pt", weights_only=False)
    rank1 = torch.load(out / "rank1.pt", weights_only=False)
    # Each rank has a batch of 8; the memories receive the keys gathered from both ranks: 16,
    # or 8 for hatchery, which on a CPU trains one direction per image (half a batch of keys
    # per view's memory).
    assert rank0["keys_per_update"] == [keys_per_update] * 3
    for name, tensor in rank0["state"].items():
        if "running_" in name or "num_batches_tracked" in name:
            continue  # BatchNorm statistics are per rank, as in MoCo
        torch.testing.assert_close(rank1["state"][name], tensor, msg=name)
    if method != "mocov2":  # both ranks' images own keys in the one memory of both
        assert (rank0["state"]["memory1.owners"] >= 0).sum() == 3 * keys_per_update
    assert (out / "checkpoint.pt").is_file()
