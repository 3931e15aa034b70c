"""Model versions rank within their task, by the metric that task is judged on."""

from __future__ import annotations

from api.registry.ranking import primary_metric, rank, task_of


def test_each_task_is_judged_by_its_own_metric():
    assert task_of("finetune", {"task": "anomaly"}) == "anomaly"
    assert task_of("pretrain", {}) == "backbone"
    assert primary_metric("classify", {"top1": 0.9, "balanced_accuracy": 0.5}) == \
        "balanced_accuracy"
    assert primary_metric("anomaly", {"f1": 0.7}) is None
    assert primary_metric("backbone", {"knn.k=200.balanced_accuracy": 0.6,
                                       "knn.k=20.balanced_accuracy": 0.7,
                                       "knn.k=20.top1": 0.9}) == "knn.k=20.balanced_accuracy"


def test_candidates_rank_within_their_task_and_ties_share_a_place():
    places = rank([
        ("classify", {"balanced_accuracy": 0.60, "top1": 0.99}),
        ("classify", {"balanced_accuracy": 0.80, "top1": 0.70}),  # balanced accuracy wins
        ("anomaly", {"image_auroc": 0.90}),
        ("classify", {"balanced_accuracy": 0.80}),
        ("classify", {"top1": 1.0}),  # not measured on the task's metric
        ("backbone", {"knn.k=20.balanced_accuracy": 0.5, "knn.k=200.balanced_accuracy": 0.9}),
        ("backbone", {"knn.k=200.balanced_accuracy": 0.95}),  # read at k=20: not ranked
    ])
    assert [place.rank for place in places] == [3, 1, 1, 1, None, 1, None]
    assert places[5].primary_metric == places[6].primary_metric == \
        "knn.k=20.balanced_accuracy"
