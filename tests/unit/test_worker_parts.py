"""Small worker parts: routing, the child's command line, device reports."""

from __future__ import annotations

import sys
import uuid

from engine.schemas.kinds import KINDS
from worker.devices import describe_devices
from worker.supervisor import child_command


def test_jobs_route_by_kind_and_requested_gpus():
    assert KINDS["pretrain"].queue_for(1) == "gpu.any"
    assert KINDS["pretrain"].queue_for(4) == "gpu.any.x4"  # only 4-GPU workers listen there
    assert KINDS["evaluate"].queue_for(4) == "gpu.any"  # not distributed: one process, one GPU
    assert KINDS["pretrain"].queue_for(0) == "cpu"
    assert KINDS["pipeline"].queue_for(4) == "cpu"  # a pipeline only coordinates its stages
    assert KINDS["probe"].queue_for(1) == "cpu"


def test_a_multi_gpu_pretrain_runs_under_torchrun_one_process_per_gpu():
    job = uuid.uuid4()
    single = child_command(job, "w@h/1", gpus=1, kind="pretrain")
    assert single == [sys.executable, "-m", "worker.child", str(job), "w@h/1"]
    multi = child_command(job, "w@h/1", gpus=4, kind="pretrain")
    assert multi[:4] == [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    assert "--nproc_per_node=4" in multi and multi[-4:] == single[1:]
    assert child_command(job, "w@h/1", gpus=4, kind="evaluate") == [
        sys.executable, "-m", "worker.child", str(job), "w@h/1"]


def test_a_worker_without_gpus_reports_its_cpu():
    [device] = describe_devices()
    assert device["kind"] == "cpu" and device["memory_total_bytes"] > 0
    assert 0 <= device["utilization"] <= 1
