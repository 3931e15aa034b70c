"""The served app (``api.main:app``) sets the collector for serving once started; apps that
tests make and drop leave it alone. Run in a fresh interpreter: freezing is process-wide."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from api.kit.gc_tuning import YOUNG_GENERATION_THRESHOLD

PROBE = """
import gc, json
from fastapi.testclient import TestClient
import api.main
from api.main import create_app

def state():
    return {"young": gc.get_threshold()[0], "frozen": gc.get_freeze_count()}

initial = state()
with TestClient(create_app()):
    made_by_a_test = state()
with TestClient(api.main.app):
    served = state()
print(json.dumps({"initial": initial, "made_by_a_test": made_by_a_test, "served": served}))
"""


def test_only_the_served_app_freezes_startup_objects_and_collects_the_young_less_often(
        tmp_path):
    env = {**os.environ, "HATCHERY_ENVIRONMENT": "test",
           "HATCHERY_DATABASE_URL": f"sqlite:///{tmp_path / 'hatchery.db'}",
           "HATCHERY_STORAGE_URL": f"file://{tmp_path / 'objects'}",
           "HATCHERY_BROKER_URL": f"sqla+sqlite:///{tmp_path / 'broker.db'}"}
    output = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                            text=True, check=True).stdout
    states = json.loads(output.strip().splitlines()[-1])
    assert states["made_by_a_test"] == states["initial"]
    assert states["served"]["young"] == YOUNG_GENERATION_THRESHOLD
    assert states["served"]["frozen"] > 10_000
