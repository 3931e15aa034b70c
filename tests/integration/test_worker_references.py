"""The worker resolves a job's references only within the job's own organization, takes no
host path from a config, and names resources, not its folders, in what the tenant reads
(defense in depth behind the API's checks at submit)."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest

from api.kit.storage import LocalStore
from api.models.datasets import Blob, Dataset, DatasetVersion, VersionItem
from engine.errors import HatcheryInputError
from tests.integration.conftest import organization
from worker.cache import DatasetCache, VersionNotFound
from worker.channel import JobChannel
from worker.runners import JobContext


def a_version(factory, store: LocalStore, org: tuple[uuid.UUID, uuid.UUID],
              splits: tuple[str | None, ...] = (None,)) -> uuid.UUID:
    """A dataset version in ``org`` of one image labeled scratch per entry of ``splits``,
    marked with that split: ``0.png``, ``1.png``, ..."""
    with factory() as session:
        dataset = Dataset(organization_id=org[0], project_id=org[1], name="d")
        session.add(dataset)
        session.flush()
        version = DatasetVersion(organization_id=org[0], dataset_id=dataset.id, number=1,
                                 stats={"items": len(splits)})
        session.add(version)
        session.flush()
        for index, split in enumerate(splits):
            data = f"not really a png {index}".encode()
            sha = hashlib.sha256(data).hexdigest()
            key = f"{org[0]}/blobs/{sha}"
            store.put_bytes(key, data, "image/png")
            blob = Blob(organization_id=org[0], sha256=sha, size=len(data), format="PNG",
                        width=1, height=1, mode="L", storage_key=key, thumbnail_key=key)
            session.add(blob)
            session.flush()
            session.add(VersionItem(organization_id=org[0], version_id=version.id,
                                    blob_id=blob.id, path=f"{index}.png", class_name="scratch",
                                    split=split, labeled=True))
        session.commit()
        return version.id


def context(factory, store, cache: DatasetCache, organization_id: uuid.UUID, kind: str,
            config: dict, work_dir: Path) -> JobContext:
    job_id = uuid.uuid4()
    return JobContext(job_id=job_id, organization_id=organization_id, kind=kind,
                      config=config, artifacts={}, gpus=0, factory=factory, store=store,
                      cache=cache, channel=JobChannel(factory, job_id, organization_id, "w"),
                      work_dir=work_dir)


def test_another_organizations_version_is_not_found_even_once_cached(factory, tmp_path):
    store = LocalStore(tmp_path / "store")
    store.ensure_ready()
    cache = DatasetCache(tmp_path / "cache", store, max_bytes=10**9)
    owner, stranger = organization(factory), organization(factory)
    version = a_version(factory, store, owner)
    with factory() as session:
        built = cache.materialize(session, owner[0], version, "classes")
    assert (built.path / "scratch" / "0.png").read_bytes() == b"not really a png 0"
    with factory() as session, pytest.raises(VersionNotFound):
        cache.materialize(session, stranger[0], version, "classes")

    job = context(factory, store, cache, stranger[0], "evaluate", {
        "checkpoint": f"job://{uuid.uuid4()}", "train": f"dataset-version://{version}",
        "test": f"dataset-version://{version}"}, tmp_path / "work")
    with pytest.raises(HatcheryInputError, match="not found"):
        job.resolved_config()


def test_a_path_where_a_reference_belongs_fails_the_job(factory, tmp_path):
    store = LocalStore(tmp_path / "store")
    store.ensure_ready()
    org = organization(factory)
    job = context(factory, store, DatasetCache(tmp_path / "cache", store, 10**9), org[0],
                  "pretrain", {"data": {"path": "/etc"}, "eval": {}}, tmp_path / "work")
    with pytest.raises(HatcheryInputError, match=r"config\.data\.path: must name a dataset"):
        job.resolved_config()


def test_messages_name_the_version_not_the_workers_folders(factory, tmp_path):
    store = LocalStore(tmp_path / "store")
    store.ensure_ready()
    org = organization(factory)
    version = a_version(factory, store, org)
    job = context(factory, store, DatasetCache(tmp_path / "cache", store, 10**9), org[0],
                  "pretrain", {"data": {"path": f"dataset-version://{version}"}, "eval": {}},
                  tmp_path / "work")
    folder = job.resolved_config()["data"]["path"]
    assert Path(folder).is_dir() and str(tmp_path) in folder
    message = job.redact(f"data folder {folder} has 1 readable images; see {job.work_dir}/x")
    assert message == (f"data folder dataset version {version} has 1 readable images; "
                       "see <job folder>/x")


def test_one_version_splits_into_train_and_test_folders(factory, tmp_path):
    store = LocalStore(tmp_path / "store")
    store.ensure_ready()
    cache = DatasetCache(tmp_path / "cache", store, max_bytes=10**9)
    org = organization(factory)
    version = a_version(factory, store, org, splits=("train", None, "test", "val"))
    with factory() as session:
        train = cache.materialize(session, org[0], version, "classes-train")
        test = cache.materialize(session, org[0], version, "classes-test")
    assert sorted(p.name for p in (train.path / "scratch").iterdir()) == ["0.png", "1.png"]
    assert sorted(p.name for p in (test.path / "scratch").iterdir()) == ["2.png"]
