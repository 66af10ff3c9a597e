"""The batched engine's KV cache: rows that join and leave a shared, left-padded `DynamicCache`.

`Batch` holds the rows decoding together (rows, kv_heads, T, head_dim per layer) and the
(rows, vocab) "seen" mask the repetition penalty reads; `GrowingLayer` writes new columns into
spare room instead of concatenating; `padded_forward` prefills several left-padded prompts at
once into that layout. Used by `engine.BatchedBackend` only.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from .backend import GenerationError


class GrowingLayer(DynamicLayer):
    """A `DynamicLayer` that writes new columns into spare room instead of concatenating.

    `keys`/`values` are views (rows, kv_heads, T, head_dim) of buffers with room for more
    columns, so a decode step copies one column per layer instead of the whole cache, and a
    join or a leave copies the cache once.
    """

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Append (rows, kv_heads, q, head_dim) states; return all keys and values so far."""
        if not self.is_initialized or self.keys.numel() == 0:
            self.device, self.is_initialized = key_states.device, True
            self.set(key_states, value_states)
            return self.keys, self.values
        used, new = self.keys.shape[2], key_states.shape[2]
        if used + new > self._room_keys.shape[2]:
            self.set(self.keys, self.values, room=used + new)
        self._room_keys[:, :, used : used + new] = key_states
        self._room_values[:, :, used : used + new] = value_states
        self._use(used + new)
        return self.keys, self.values

    def set(self, keys: torch.Tensor, values: torch.Tensor, room: int = 0) -> None:
        """Replace the contents with (rows, kv_heads, T, head_dim) tensors, keeping spare columns."""
        used = keys.shape[2]
        self._room_keys, self._room_values = _rooms_like(keys, values, keys.shape[0], max(room, used))
        self._room_keys[:, :, :used] = keys
        self._room_values[:, :, :used] = values
        self._use(used)

    def select(self, indices: torch.Tensor, first_column: int) -> None:
        """Keep rows `indices` and columns from `first_column` on, in one copy."""
        used = self.keys.shape[2] - first_column
        keys, values = self.keys[:, :, first_column:], self.values[:, :, first_column:]
        self._room_keys, self._room_values = _rooms_like(keys, values, len(indices), used)
        torch.index_select(keys, 0, indices, out=self._room_keys[:, :, :used])
        torch.index_select(values, 0, indices, out=self._room_values[:, :, :used])
        self._use(used)

    def append_rows(self, other: GrowingLayer, width: int) -> None:
        """Add `other`'s rows below ours; both right-aligned in `width` columns, zeros on the left."""
        mine, theirs = self.keys.shape[0], other.keys.shape[0]
        rooms = _rooms_like(self.keys, self.values, mine + theirs, width)
        for room, ours, its in zip(rooms, (self.keys, self.values), (other.keys, other.values), strict=True):
            _place_right(room[:mine], ours, width)
            _place_right(room[mine:], its, width)
        self._room_keys, self._room_values = rooms
        self._use(width)

    def batch_repeat_interleave(self, repeats: int) -> None:
        """Repeat every row `repeats` times (drafts of one prompt)."""
        self.set(self.keys.repeat_interleave(repeats, dim=0), self.values.repeat_interleave(repeats, dim=0))

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        """Keep only rows `indices`."""
        self.select(indices, 0)

    def _use(self, used: int) -> None:
        """Point `keys`/`values` at the first `used` columns of the buffers."""
        self.keys, self.values = self._room_keys[:, :, :used], self._room_values[:, :, :used]


def _rooms_like(
    keys: torch.Tensor, values: torch.Tensor, rows: int, used: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Uninitialised key and value buffers for `rows` rows and `used` columns plus spare ones."""
    capacity = used + max(64, used // 2)
    return (
        keys.new_empty(rows, keys.shape[1], capacity, keys.shape[3]),
        values.new_empty(rows, values.shape[1], capacity, values.shape[3]),
    )


def _place_right(room: torch.Tensor, states: torch.Tensor, width: int) -> None:
    """Write (rows, heads, T, dim) `states` into columns [width - T, width) of `room`, zeros before."""
    pad = width - states.shape[2]
    room[:, :, :pad] = 0
    room[:, :, pad:width] = states


def new_cache(model: Any) -> DynamicCache:
    """An empty cache for `model` whose layers grow in place (see `GrowingLayer`)."""
    cache = DynamicCache(config=model.config)
    cache.layers = [GrowingLayer() for _ in cache.layers]
    return cache


class Batch:
    """The rows decoding together and their shared, left-padded KV cache."""

    def __init__(self) -> None:
        self.rows: list[Any] = []  # engine._Row: .sampler is read here
        self.cache: DynamicCache | None = None  # GrowingLayer layers: (rows, kv_heads, T, head_dim)
        # seen[b, v]: token v is in row b's prompt + output (repetition penalty); rows' samplers view it
        self.seen: torch.Tensor | None = None  # (rows, vocab) bool

    @property
    def width(self) -> int:
        """T, the cache's number of columns (0 when empty)."""
        cache = self.cache  # one read: `stats()` calls this from other threads
        return cache.get_seq_length() if cache is not None else 0

    def add(self, rows: list[Any], cache: DynamicCache) -> None:
        """Append rows whose own cache (len(rows), kv_heads, L, head_dim) holds their prompt."""
        arrivals = torch.stack([row.sampler.seen_or_blank() for row in rows])  # (len(rows), vocab)
        if self.cache is None:
            self.rows, self.cache = list(rows), cache
            self._view_seen(arrivals)
            return
        width = max(self.width, cache.get_seq_length())
        for mine, theirs in zip(self.cache.layers, cache.layers, strict=True):
            mine.append_rows(theirs, width)
        self.rows.extend(rows)
        self._view_seen(torch.cat([self.seen, arrivals]))

    def mark_seen(self, tokens: list[int]) -> None:
        """Record each row's new token in `seen` (one op for the whole batch)."""
        rows = torch.arange(len(tokens), device=self.seen.device)
        self.seen[rows, torch.tensor(tokens, device=self.seen.device)] = True

    def _view_seen(self, seen: torch.Tensor) -> None:
        """Adopt `seen` (rows, vocab); penalised rows' samplers read and keep their row of it."""
        self.seen = seen
        for i, row in enumerate(self.rows):
            if row.sampler.seen is not None:
                row.sampler.seen, row.sampler.seen_kept_outside = seen[i], True

    def keep(self, keep: list[int]) -> None:
        """Keep only rows `keep` (indices into `rows`) and cut columns that are now all padding."""
        if not keep:
            self.clear()
            return
        if len(keep) == len(self.rows):
            return
        self.rows = [self.rows[i] for i in keep]
        unused = self.width - max(row.length for row in self.rows)  # padding for every row left
        index = torch.tensor(keep, device=self.cache.layers[0].keys.device)
        for layer in self.cache.layers:
            layer.select(index, unused)
        self._view_seen(self.seen[index])

    def clear(self) -> None:
        """Drop every row and the cache."""
        self.rows, self.cache, self.seen = [], None, None

    def forward(self, model: Any) -> torch.Tensor:
        """Feed each row's `next_token`; return next-token logits (rows, vocab) as float32."""
        device = model.device
        width = self.width + 1  # the cache after this step
        tokens = torch.tensor([[row.next_token] for row in self.rows], device=device)  # (B, 1)
        lengths = torch.tensor([row.length for row in self.rows], device=device)  # (B,)
        columns = torch.arange(width, device=device)  # (T+1,)
        mask = (columns[None, :] >= (width - 1 - lengths)[:, None]).long()  # (B, T+1): 1 = real token
        out = model(
            input_ids=tokens,
            attention_mask=mask,
            position_ids=lengths[:, None],  # (B, 1): each row's own next position
            cache=self.cache,
            use_cache=True,
            logits_to_keep=1,
        )
        for row in self.rows:
            row.length += 1
        return out.logits[:, -1, :].float()


def padded_forward(model: Any, prompts: list[list[int]], cache: DynamicCache) -> Any:
    """Run left-padded `prompts` through `model` into `cache`, in the layout `Batch` keeps.

    The padding is masked, each row's positions count only its own tokens, and the padding's
    cache columns are zeroed (as `_place_right` leaves them), whatever the model computed there.
    """
    device = model.device
    width = max(len(ids) for ids in prompts)
    real = torch.tensor(
        [[0] * (width - len(ids)) + [1] * len(ids) for ids in prompts], device=device
    )  # (R, L)
    padded = torch.tensor([[0] * (width - len(ids)) + ids for ids in prompts], device=device)  # (R, L)
    positions = (real.cumsum(-1) - 1).clamp(min=0)  # (R, L): padding gets 0, it is masked anyway
    out = model(
        input_ids=padded,
        attention_mask=real,
        position_ids=positions,
        cache=cache,
        use_cache=True,
        logits_to_keep=1,
    )
    padding = real[:, None, :, None] == 0  # (R, 1, L, 1)
    for layer in cache.layers:
        layer.keys.masked_fill_(padding, 0.0)
        layer.values.masked_fill_(padding, 0.0)
    return out


def check_cache_supported(model: Any) -> None:
    """The batch cache is padded and merged by hand: only plain full-attention layers qualify."""
    layers = DynamicCache(config=model.config).layers
    if any(type(layer) is not DynamicLayer for layer in layers):
        raise GenerationError(
            f"the batched engine supports full-attention models only ({type(model).__name__} uses "
            "sliding-window or other cache layers); start the app with --engine simple"
        )
