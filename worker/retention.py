"""What synchronous predictions leave in the store, removed once nobody can use it.

A predict request's images go as soon as it is answered (worker/serving.py); its heat maps
stay for their presigned URLs, and an answer the API never collected (it timed out) stays
too. Once the URLs have expired, nothing can reach them: ``sweep_predictions`` deletes every
request older than the retention, reading its age off its id (``api.kit.tasks``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from api.kit.storage import ObjectStore
from api.kit.tasks import prediction_request_time, predictions_root

log = logging.getLogger("hatchery.worker")


def sweep_predictions(store: ObjectStore, organization_ids: Iterable[str],
                      made_before: datetime) -> int:
    """Delete the objects of every predict request of ``organization_ids`` made before
    ``made_before`` (aware UTC); the number of objects deleted. Requests whose id carries no
    time are left alone."""
    deleted = 0
    for organization_id in organization_ids:
        root = predictions_root(organization_id) + "/"
        for stored in list(store.list(root)):
            request_id = stored.key[len(root):].split("/", 1)[0]
            made = prediction_request_time(request_id)
            if made is not None and made < made_before:
                store.delete(stored.key)
                deleted += 1
    if deleted:
        log.info("deleted %d objects of expired predict requests", deleted)
    return deleted
