"""Our MoCo v2 equals a direct transcription of Algorithm 1 of the MoCo paper.

The transcription below follows the paper's pseudocode line by line (with the v2 code's
L2-normalization of q and k); our class must produce the same logits, loss, key-encoder
weights and queue, step after step, on fixed seeds.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from engine.ssl.heads import Encoder, mlp_head
from engine.ssl.memory import FifoQueue
from engine.ssl.mocov2 import MoCoV2
from engine.ssl.momentum import MomentumSchedule
from tests.conftest import TinyBackbone

N, K, DIM, T, M, LR = 4, 12, 16, 0.2, 0.9, 0.5


def make_encoder() -> Encoder:
    return Encoder(TinyBackbone(), mlp_head(8, 32, DIM, num_layers=2, batch_norm=False))


def algorithm1_step(f_q, f_k, queue, x_q, x_k, optimizer):
    """One iteration of Algorithm 1; queue is C x K as in the paper. Returns logits, loss."""
    q = F.normalize(f_q(x_q), dim=1)  # N x C
    k = F.normalize(f_k(x_k), dim=1)  # N x C
    k = k.detach()
    l_pos = torch.bmm(q.view(N, 1, DIM), k.view(N, DIM, 1)).view(N, 1)
    l_neg = torch.mm(q.view(N, DIM), queue.view(DIM, K))
    logits = torch.cat([l_pos, l_neg], dim=1)
    labels = torch.zeros(N, dtype=torch.long)
    loss = F.cross_entropy(logits / T, labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        for param_k, param_q in zip(f_k.parameters(), f_q.parameters(), strict=True):
            param_k.copy_(M * param_k + (1 - M) * param_q)
    return logits / T, loss, k


def test_mocov2_matches_algorithm_1():
    torch.manual_seed(0)
    query_encoder = make_encoder()
    method = MoCoV2(query_encoder, make_encoder(), FifoQueue(K, DIM), T,
                    MomentumSchedule(M, total_steps=10, kind="constant"), shuffle_keys=True)
    f_q = copy.deepcopy(method.online_encoder)
    f_k = copy.deepcopy(f_q)
    queue = method.memory.keys.T.clone().contiguous()  # the paper keeps C x K
    pointer = 0
    ours_opt = torch.optim.SGD(method.online_encoder.parameters(), lr=LR)
    ref_opt = torch.optim.SGD(f_q.parameters(), lr=LR)

    for step in range(5):
        x_q, x_k = torch.randn(N, 3, 8, 8), torch.randn(N, 3, 8, 8)
        ref_logits, ref_loss, k = algorithm1_step(f_q, f_k, queue, x_q, x_k, ref_opt)
        queue[:, pointer : pointer + N] = k.T  # enqueue the newest, dequeue the oldest
        pointer = (pointer + N) % K

        output = method(x_q, x_k)
        negative_probabilities = method._pending[2]
        ours_opt.zero_grad()
        output.loss.backward()
        ours_opt.step()
        method.after_optimizer_step(step)

        torch.testing.assert_close(output.loss, ref_loss)
        assert negative_probabilities.shape == (N, K)
        torch.testing.assert_close(method.memory.keys, queue.T)
        for ours, ref in zip(method.target_encoder.parameters(), f_k.parameters(), strict=True):
            torch.testing.assert_close(ours, ref)
        for ours, ref in zip(method.online_encoder.parameters(), f_q.parameters(), strict=True):
            torch.testing.assert_close(ours, ref)
        # The softmax over [positive | queue] of our logits equals the paper's, column by column.
        torch.testing.assert_close(
            negative_probabilities, F.softmax(ref_logits.detach(), dim=1)[:, 1:],
            rtol=1e-5, atol=1e-6,
        )
