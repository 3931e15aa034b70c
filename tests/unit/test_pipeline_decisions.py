"""What a pipeline does next, decided from its stages' states alone (no database)."""

from __future__ import annotations

import pytest

from api.models.jobs import JobStatus
from worker.pipeline import Due, StageState, what_is_due

STAGES = ["pretrain", "evaluate"]
S, F, C, Q, R = (JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled, JobStatus.queued,
                 JobStatus.running)


@pytest.mark.parametrize(("children", "cancel", "retrying", "due"), [
    ({}, False, True, Due("start", "pretrain")),
    ({"pretrain": StageState(Q)}, False, False, Due("wait", "pretrain")),
    ({"pretrain": StageState(R)}, False, False, Due("wait", "pretrain")),
    ({"pretrain": StageState(S)}, False, False, Due("start", "evaluate")),
    ({"pretrain": StageState(S), "evaluate": StageState(F, "ValueError: bad labels\nmore")},
     False, False, Due("fail", "evaluate", "stage evaluate failed: ValueError: bad labels")),
    ({"pretrain": StageState(F)}, False, False,
     Due("fail", "pretrain", "stage pretrain failed: no reason given")),
    ({"pretrain": StageState(S), "evaluate": StageState(F)}, False, True,
     Due("requeue", "evaluate")),
    ({"pretrain": StageState(C)}, False, True, Due("requeue", "pretrain")),
    ({"pretrain": StageState(C)}, False, False, Due("cancel", "pretrain")),
    ({"pretrain": StageState(S), "evaluate": StageState(S)}, False, False, Due("register")),
    ({"pretrain": StageState(R)}, True, False, Due("cancel")),
])
def test_one_thing_is_due(children, cancel, retrying, due):
    assert what_is_due(STAGES, children, cancel, retrying) == due


def test_a_pipeline_without_an_evaluation_registers_after_pretraining():
    assert what_is_due(["pretrain"], {"pretrain": StageState(S)}, False, False) == \
        Due("register")
