"""hatchery suggest: label next what the labels do not cover, check labels the neighbours
contradict, and say so in plain words."""

from __future__ import annotations

import json
import shutil

import torch
import torch.nn.functional as F

from engine.cli import main
from engine.labeling.suggest import UNLABELED, k_center_greedy, kmeans, suggest
from engine.train.pretrain import PretrainRun
from tests.unit.test_pretrain_run import tiny_config


def blobs(centers: list[list[float]], per_blob: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    points = [torch.tensor(center) + 0.05 * torch.randn(per_blob, len(center),
                                                         generator=generator)
              for center in centers]
    return F.normalize(torch.cat(points), dim=1)


def test_the_cluster_no_label_touches_comes_first_and_wrong_labels_are_flagged():
    features = blobs([[1, 0, 0], [0, 1, 0], [0, 0, 1]], per_blob=10)
    labels = torch.full((30,), UNLABELED)
    labels[0:4] = 0  # blob A labeled "scratch"
    labels[10:14] = 1  # blob B labeled "pit"
    labels[4] = 1  # an image of blob A labeled "pit": wrong
    paths = [f"img{i:02d}.png" for i in range(30)]
    result = suggest(features, labels, paths, ["scratch", "pit"], count=3)
    first = result.ranked[0]
    assert 20 <= int(first["path"][3:5]) < 30  # blob C: nobody labeled it
    assert any("no label touches" in reason for reason in first["reasons"])
    assert [row["path"] for row in result.suspect_labels] == ["img04.png"]
    assert result.suspect_labels[0]["neighbours_say"] == "scratch"
    assert result.untouched_clusters
    assert all(int(cluster["example"][3:5]) >= 20 for cluster in result.untouched_clusters)


def test_k_center_greedy_spreads_its_picks():
    features = blobs([[1, 0], [-1, 0], [0, 1], [0, -1]], per_blob=5)
    picked = k_center_greedy(features, torch.tensor([], dtype=torch.long),
                             torch.arange(20), 4, torch.ones(20))
    assert sorted(index // 5 for index, _ in picked) == [0, 1, 2, 3]


def test_kmeans_separates_blobs_and_duplicates_are_found():
    features = blobs([[1, 0, 0], [0, 1, 0]], per_blob=8)
    clusters = kmeans(features, 2)
    assert len(set(clusters[:8].tolist())) == 1 and len(set(clusters[8:].tolist())) == 1
    assert clusters[0] != clusters[8]
    twins = torch.cat([features, features[:1]])
    result = suggest(twins, torch.full((17,), UNLABELED), [f"{i}" for i in range(17)], [], 2)
    assert ["0", "16"] in [pair[:2] for pair in result.near_duplicates]


def test_cli_suggests_from_a_neu_subset_with_class_folders(neu_small, tmp_path, capsys):
    run = tmp_path / "pretrain"
    assert PretrainRun(tiny_config(neu_small, steps=2), run).run().status == "completed"
    data = tmp_path / "data"
    shutil.copytree(neu_small, data)
    for folder in ("crazing", "patches", "scratches"):  # these classes' images: unlabeled
        shutil.move(data / folder, data / "unlabeled" / folder)
    out = tmp_path / "suggestions.json"
    assert main(["suggest", "--checkpoint", str(run / "checkpoint.pt"), "--data", str(data),
                 "--k", "5", "--out", str(out), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "48 images, 24 labeled; label these next:" in printed
    result = json.loads(out.read_text())
    assert len(result["ranked"]) == 5
    assert all(row["path"].startswith("unlabeled/") for row in result["ranked"])
