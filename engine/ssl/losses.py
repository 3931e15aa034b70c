"""Contrastive losses: InfoNCE against a memory of negatives, and ReLIC's invariance term.

Shapes: N queries of dimension D, K negatives. Every input vector is L2-normalized.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class ContrastiveLogits:
    """Logits of N queries: column 0 is the positive, columns 1.. are the K negatives.

    ``logits``: [N, 1 + K], already divided by the temperature and shifted by the log-weights
    of the negatives (so ``cross_entropy(logits, 0)`` is the weighted InfoNCE).
    """

    logits: torch.Tensor

    @property
    def negative_probabilities(self) -> torch.Tensor:
        """[N, K]: softmax mass each query puts on each negative (its loss contribution)."""
        return self.logits.softmax(dim=1)[:, 1:]


def memory_logits(
    queries: torch.Tensor,
    positives: torch.Tensor,
    negatives: torch.Tensor,
    temperature: float,
    negative_log_weights: torch.Tensor | None = None,
) -> ContrastiveLogits:
    """MoCo's logits: [q·k+ | q·negatives] / T.

    queries, positives: [N, D]; negatives: [K, D]; negative_log_weights: [K] (or [N, K],
    per query) added to the negative logits (importance weights of sampled negatives; a large
    negative masks an empty slot, or a key of the query's own image).
    Returns logits [N, 1 + K].
    """
    positive = (queries * positives).sum(dim=1, keepdim=True)
    negative = queries @ negatives.T
    logits = torch.cat([positive, negative], dim=1) / temperature
    if negative_log_weights is not None:
        logits = logits + F.pad(negative_log_weights, (1, 0)).to(logits.dtype)
    return ContrastiveLogits(logits)


def info_nce(logits: ContrastiveLogits) -> torch.Tensor:
    """Mean cross-entropy with the positive at column 0 -> scalar."""
    targets = torch.zeros(logits.logits.shape[0], dtype=torch.long, device=logits.logits.device)
    return F.cross_entropy(logits.logits.float(), targets)


def batch_contrastive_loss(
    queries: torch.Tensor, keys: torch.Tensor, temperature: float, rank: int = 0
) -> torch.Tensor:
    """MoCo v3's loss: each query against every key of the (all-gathered) batch, scaled by 2T.

    queries: [N, D] of this rank; keys: [world*N, D] gathered from every rank; the positive of
    query i is key ``rank*N + i``. The 2T factor keeps the gradient scale independent of T.
    """
    logits = queries @ keys.T / temperature
    targets = torch.arange(queries.shape[0], device=queries.device) + rank * queries.shape[0]
    return F.cross_entropy(logits.float(), targets) * (2 * temperature)


def relic_invariance(logits_view1: torch.Tensor, logits_view2: torch.Tensor) -> torch.Tensor:
    """ReLIC's term: KL between a query's similarity distributions under the two views.

    logits_view1, logits_view2: [N, M] similarities of the two views' queries of the same N
    images to the *same* M candidate keys. Returns the symmetrized
    0.5 * (KL(sg(p1) || p2) + KL(sg(p2) || p1)), the target side under stop-gradient.
    """
    log_p1 = F.log_softmax(logits_view1.float(), dim=1)
    log_p2 = F.log_softmax(logits_view2.float(), dim=1)
    kl_12 = F.kl_div(log_p2, log_p1.detach(), log_target=True, reduction="batchmean")
    kl_21 = F.kl_div(log_p1, log_p2.detach(), log_target=True, reduction="batchmean")
    return 0.5 * (kl_12 + kl_21)


def relic_toward_target(online_logits: torch.Tensor, target_logits: torch.Tensor) -> torch.Tensor:
    """ReLIC's term when only one view of an image went through the online encoder.

    online_logits: [N, M] similarities of the online predictions of one view to M candidate
    keys; target_logits: [N, M] the target encoder's keys of the other view to the *same*
    candidates. Returns KL(sg(p_target) || p_online): the target side is the stop-gradient
    side, as in ReLIC, and the online distribution learns to match it.
    """
    log_online = F.log_softmax(online_logits.float(), dim=1)
    log_target = F.log_softmax(target_logits.float(), dim=1).detach()
    return F.kl_div(log_online, log_target, log_target=True, reduction="batchmean")
