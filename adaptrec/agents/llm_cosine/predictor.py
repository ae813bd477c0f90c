"""The behaviour predictor P(y|x) = sigmoid(MLP(embed(x))) of the seed agent, trained online.

Its ranking conventions (zero vectors, ``cos * p``, ties to the lower id) are those of
:mod:`adaptrec.core.ranking`.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np
import torch
from torch import nn

from adaptrec.agents.llm_cosine.parallel_blas import transposed_matmul


@nb.njit(cache=True)
def _scatter_add_rows(index, rows, n):
    """``(n, r)`` float32 sums of ``rows`` (``(E, r)``) by ``index`` (``(E,)``), added in order:
    deterministic, unlike a parallel scatter-add whose sums depend on thread timing."""
    out = np.zeros((n, rows.shape[1]), dtype=np.float32)
    for e in range(len(index)):
        out[index[e]] += rows[e]
    return out


class _ProjectedRows(torch.autograd.Function):
    """``(items @ weight.T)[index]``, given ``table = items @ weight.T``, with the gradient
    for ``weight`` only.

    The plain form, ``items[index] @ weight.T``, first gathers a ``(E, d)`` copy of the item
    vectors (15 MB for a 1,024 x 10 slate batch, d=384; measured: the gather alone took a
    third of the update). Here the forward projects the catalog once and gathers ``(E, r)``
    rows; the backward scatters the row gradients onto the catalog in a fixed order and
    multiplies once: the same sums, grouped by item.
    """

    @staticmethod
    def forward(ctx, weight, items, index, table):
        ctx.save_for_backward(items, index)
        return table[index]

    @staticmethod
    def backward(ctx, grad):
        items, index = ctx.saved_tensors
        rows = grad.reshape(-1, grad.shape[-1]).contiguous().numpy()
        grad_table = _scatter_add_rows(index.reshape(-1).numpy(), rows, len(items))
        return torch.from_numpy(transposed_matmul(grad_table, items.numpy())), None, None, None


class BehaviorPredictor(nn.Module):
    """P(y = click | x) = sigmoid(MLP(embed(x))).

    ``x`` is a (user vector, item vector, slot position) triple; ``embed`` projects the user and
    item vectors to ``projection_dim`` with learned maps ``A`` and ``B`` and concatenates
    ``[A u, B v, A u * B v, onehot(position)]`` - the product carries the user-item interaction.
    The projection keeps per-candidate work small (``3 * projection_dim * hidden`` multiply-adds)
    so a whole slate of candidates per user can be scored every step. Training sees the slot
    the item was shown in, so position bias is learned by the position input rather than
    mistaken for dislike; ranking evaluates every candidate at slot 0.

    Args:
        dim: item/user vector width ``d``.
        n_positions: slate size ``k``.
        projection_dim, hidden: widths of the projection and of the hidden layer.
        generator: torch generator for the initial weights (no global RNG).
    """

    def __init__(
        self,
        dim: int,
        n_positions: int,
        projection_dim: int = 32,
        hidden: int = 64,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.dim, self.n_positions = dim, n_positions
        self.user_projection = nn.Linear(dim, projection_dim, bias=False)
        self.item_projection = nn.Linear(dim, projection_dim, bias=False)
        self.hidden = nn.Linear(3 * projection_dim + n_positions, hidden)
        self.out = nn.Linear(hidden, 1)
        self._table: torch.Tensor | None = None
        self._table_items: torch.Tensor | None = None
        self._table_key: tuple | None = None
        for layer in (self.user_projection, self.item_projection, self.hidden, self.out):
            bound = 1.0 / math.sqrt(layer.in_features)
            nn.init.uniform_(layer.weight, -bound, bound, generator=generator)
            if layer.bias is not None:
                nn.init.uniform_(layer.bias, -bound, bound, generator=generator)

    def logits_from_projections(
        self, pu: torch.Tensor, pv: torch.Tensor, position: torch.Tensor | None
    ) -> torch.Tensor:
        """Logits from projected users ``(..., r)``, items ``(..., r)`` and positions ``(...)``.

        The hidden layer applied to the concatenation is computed as the sum of its blocks'
        products (identical maths, no concatenated tensor), so a user's part is computed once
        for all of that user's candidates. ``position=None`` means whole slates: the last
        axis of ``pv`` is the slot (``(B, k, r)``), and the slot term is one broadcast row per
        slot instead of a one-hot product.
        """
        r = pu.shape[-1]
        w = self.hidden.weight  # (hidden, 3r + n_positions)
        if position is None:
            slots = pv.shape[-2]
            slot_term = w[:, 3 * r : 3 * r + slots].T  # (k, hidden), broadcast over users
        else:
            # One-hot product, not w[:, 3r:].T[position]: indexing a parameter backpropagates
            # through a scatter-add whose float sums depend on thread timing (irreproducible).
            one_hot = nn.functional.one_hot(position, self.n_positions).to(pu.dtype)
            slot_term = one_hot @ w[:, 3 * r :].T
        hidden = (
            pu @ w[:, :r].T
            + pv @ w[:, r : 2 * r].T
            + (pu * pv) @ w[:, 2 * r : 3 * r].T
            + slot_term
            + self.hidden.bias
        )
        return self.out(torch.relu(hidden)).squeeze(-1)

    @torch.no_grad()
    def ranking_parts(
        self,
        users: torch.Tensor,
        items: torch.Tensor,
        position: int = 0,
        candidates: np.ndarray | None = None,
    ) -> tuple[np.ndarray, ...]:
        """The predictor split for :mod:`adaptrec.agents.llm_cosine.rerank`'s compiled kernels.

        Args:
            users: ``(B, d)`` float32 user vectors.
            items: ``(N, d)`` float32 item vectors (the whole catalog).
            position: the slot to evaluate at.
            candidates: the item ids that will be scored; when they are fewer than N (a few
                users), only their rows of ``table`` are computed (the rest are 0), which
                keeps a single user's step at a fraction of a millisecond.

        Returns:
            float32 arrays ``table`` ``(N, r)`` (projected items), ``user_part`` ``(B, h)``
            (the hidden layer's user-only terms, bias and slot included), ``pu`` ``(B, r)``,
            ``w_item`` and ``w_inter`` ``(r, h)`` (the item and interaction blocks of the
            hidden layer, transposed), ``out_w`` ``(h,)`` and the scalar ``out_b``.
        """
        r = self.user_projection.out_features
        w = self.hidden.weight
        pu = self.user_projection(users)
        user_part = pu @ w[:, :r].T + w[:, 3 * r + position] + self.hidden.bias
        if candidates is not None and candidates.size < len(items):
            rows = torch.from_numpy(np.unique(candidates))
            table = torch.zeros(len(items), r)
            table[rows] = self.item_projection(items[rows])
        else:
            table = self.item_table(items)
        return (
            table.numpy(),
            user_part.numpy(),
            pu.numpy(),
            w[:, r : 2 * r].T.contiguous().numpy(),
            w[:, 2 * r : 3 * r].T.contiguous().numpy(),
            self.out.weight[0].contiguous().numpy(),
            np.float32(self.out.bias[0].item()),
        )

    @torch.no_grad()
    def score_candidates(
        self, users: torch.Tensor, items: torch.Tensor, candidates: torch.Tensor, position: int = 0
    ) -> torch.Tensor:
        """Logits for each user's candidates at one slot, without autograd.

        The same function as :meth:`forward`, arranged for ranking: item projections are
        computed once per catalog item (or per candidate, when there are fewer candidates than
        items), the user half of the first layer once per user, and the rest as one GEMM.

        Args:
            users: ``(B, d)`` float32 user vectors.
            items: ``(N, d)`` float32 item vectors (the whole catalog).
            candidates: ``(B, C)`` int64 indices into ``items``.
            position: the slot to evaluate at.

        Returns:
            ``(B, C)`` float32 logits.
        """
        r = self.user_projection.out_features
        w = self.hidden.weight
        b, c = candidates.shape
        pu = self.user_projection(users)  # (B, r)
        user_part = pu @ w[:, :r].T + w[:, 3 * r + position] + self.hidden.bias  # (B, h)
        item_weights = w[:, r : 3 * r].T  # [W_v; W_uv].T, (2r, h)
        few = candidates.numel() < len(items)
        table = None if few else self.item_projection(items)  # (N, r), once per item
        logits = torch.empty(b, c)
        # Users in chunks of ~8k candidates: the (chunk, C, h) activations stay in cache,
        # where whole-batch passes over them were memory-bound (measured 2.8x slower).
        step = max(1, 8192 // c)
        for start in range(0, b, step):
            rows = slice(start, min(b, start + step))
            chosen = candidates[rows]
            pv = self.item_projection(items[chosen]) if few else table[chosen]  # (n, C, r)
            n = pv.shape[0]
            x = torch.cat([pv, pv * pu[rows, None, :]], dim=-1).reshape(n * c, 2 * r)
            hidden = (x @ item_weights).reshape(n, c, -1)
            hidden += user_part[rows, None, :]
            torch.relu_(hidden)
            logits[rows] = (hidden.reshape(n * c, -1) @ self.out.weight[0]).reshape(n, c)
        return logits + self.out.bias[0]

    @torch.no_grad()
    def item_table(self, items: torch.Tensor) -> torch.Tensor:
        """``(N, r)`` projected catalog ``item_projection(items)``, without autograd.

        Kept until the projection's weight changes (its version counter moves with every
        in-place optimiser step), so ranking and the update that follows it project the
        catalog once per step, not twice.
        """
        weight = self.item_projection.weight
        # Keyed by the tensor object itself (held, so its memory cannot be reused by another)
        # and both version counters (in-place changes to the weight or the items).
        key = (weight._version, items._version)
        if self._table_items is not items or self._table_key != key:
            self._table = self.item_projection(items)
            self._table_items, self._table_key = items, key
        return self._table

    def remember_item_table(self, items: torch.Tensor, table: torch.Tensor) -> None:
        """Use ``table`` (``(N, r)``, computed elsewhere as ``items @ weight.T``, e.g. in the
        same product as the cosines) as :meth:`item_table` until the weight changes."""
        self._table = table
        self._table_items = items
        self._table_key = (self.item_projection.weight._version, items._version)

    def project_items(self, items: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """``item_projection(items[index])``: ``(*index.shape, r)``, differentiable in the
        projection's weight (not in ``items``). ``items``: ``(N, d)`` float32 catalog,
        ``index``: int64 item ids of any shape.

        For fewer ids than catalog items (a few users), the ids' vectors are gathered and
        projected directly; otherwise rows of the projected catalog are gathered.
        """
        if index.numel() < len(items):
            return self.item_projection(items[index])
        weight = self.item_projection.weight
        return _ProjectedRows.apply(weight, items, index, self.item_table(items))

    def forward(self, users: torch.Tensor, items: torch.Tensor, position: torch.Tensor):
        """Logits of P(click): users ``(..., d)``, items ``(..., d)``, position ``(...)`` int64."""
        return self.logits_from_projections(
            self.user_projection(users), self.item_projection(items), position
        )
