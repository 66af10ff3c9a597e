"""Per-sequence token choice for the batched engine, matching transformers' `generate` processors.

Every sequence in a batch has its own `GenerationSettings` and its own `torch.Generator`, so
one `RowSampler` per sequence turns that sequence's next-token logits (shape (vocab,), fp32)
into a token id. The processors run in `generate`'s order and with its arithmetic, so greedy
output equals `model.generate(do_sample=False, ...)` with the same penalties:

1. repetition penalty over prompt + generated ids (divide positive logits, multiply negative);
2. no-repeat n-gram: ban tokens that would repeat an n-gram already in prompt + output;
   with ``penalise_prompt=False`` both count the generated ids only (as transformers' processors do
   given only those ids): a rewrite reuses its input's words, only its own repeats are penalised;
3. a copy guide's bonus (`copy_guide.CopyGuide`), when the prompt names a text the answer rewrites;
4. greedy: argmax. Sampling: temperature, top-k, top-p (transformers' rules), then a draw
   with the sequence's generator over the surviving candidates (so sampled text for a seed
   is reproducible here but is not the same draw as `generate`'s).

Example::

    sampler = RowSampler(settings, prompt_ids=[1, 5, 9], vocab_size=320, device="cpu")
    token = sampler.choose(logits_row)   # logits_row: (320,) float32
    sampler.observe(token)               # record it for the penalties
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .config import GenerationSettings
from .copy_guide import COPY_BONUS, CopyGuide, CopyIndex


class RowSampler:
    """Chooses the tokens of one sequence; keeps the state its penalties need."""

    def __init__(
        self,
        settings: GenerationSettings,
        prompt_ids: Sequence[int],
        vocab_size: int,
        device: torch.device | str,
        generator: torch.Generator | None = None,
        penalise_prompt: bool = True,
        copy_index: CopyIndex | None = None,
    ) -> None:
        self.settings = settings
        self.generator = generator
        self.ids: list[int] = list(prompt_ids)
        self.answer_start = len(self.ids)
        self.copy = CopyGuide(copy_index) if copy_index is not None else None
        self.start = 0 if penalise_prompt else len(self.ids)  # the penalties count ids[start:]
        self.penalised = settings.repetition_penalty != 1.0
        self.ngram = settings.no_repeat_ngram_size
        # seen[v] is True once token v is in the counted ids; shape (vocab,), for the repetition penalty
        self.seen = torch.zeros(vocab_size, dtype=torch.bool, device=device) if self.penalised else None
        self.seen_kept_outside = False  # True when a batch owns `seen` (a row view) and marks it
        self.vocab_size, self.device = vocab_size, device
        if self.seen is not None and self.ids[self.start :]:
            ids = torch.tensor(self.ids[self.start :], device=device)
            self.seen[ids[ids < vocab_size]] = True  # ids past the lm head can't be penalised (transformers)
        # followers[(t1..t_{n-1})] = tokens seen right after that (n-1)-gram
        self.followers: dict[tuple[int, ...], set[int]] = {}
        for end in range(self.start + self.ngram, len(self.ids) + 1) if self.ngram else ():
            self._record_ngram(end)

    @property
    def plain_greedy(self) -> bool:
        """Greedy with nothing after the penalty (no n-gram ban, no copy guide): a batch's argmax picks it."""
        return self.settings.greedy and not self.ngram and self.copy is None

    def seen_or_blank(self) -> torch.Tensor:
        """The seen-token mask (vocab,), or an all-False one when there is no repetition penalty."""
        if self.seen is not None:
            return self.seen
        return torch.zeros(self.vocab_size, dtype=torch.bool, device=self.device)

    def observe(self, token: int) -> None:
        """Record a chosen token so later steps penalise it."""
        self.ids.append(token)
        if self.seen is not None and not self.seen_kept_outside and token < self.seen.shape[0]:
            self.seen[token] = True
        if self.ngram and len(self.ids) - self.start >= self.ngram:
            self._record_ngram(len(self.ids))

    def choose(self, logits: torch.Tensor) -> int:
        """The next token for `logits` (shape (vocab,), float32); does not record it."""
        return self.pick(self._penalise(logits))

    def pick(self, scores: torch.Tensor) -> int:
        """The next token from repetition-penalised `scores` (vocab,): n-gram ban, copy bonus, then
        argmax or a draw."""
        scores = self._favour_copy(self._ban_ngrams(scores))
        if self.settings.greedy:
            return int(torch.argmax(scores))
        return self._draw(scores)

    def _record_ngram(self, end: int) -> None:
        """Add the n-gram ending at index `end` (exclusive) of `ids` to the followers table."""
        gram = self.ids[end - self.ngram : end]
        self.followers.setdefault(tuple(gram[:-1]), set()).add(gram[-1])

    def _penalise(self, logits: torch.Tensor) -> torch.Tensor:
        """The repetition penalty, with transformers' arithmetic."""
        if self.seen is None:
            return logits
        penalty = self.settings.repetition_penalty
        return torch.where(self.seen, torch.where(logits < 0, logits * penalty, logits / penalty), logits)

    def _ban_ngrams(self, scores: torch.Tensor) -> torch.Tensor:
        """-inf for every token that would repeat an n-gram of the counted ids (ids[start:])."""
        if not self.ngram or len(self.ids) - self.start + 1 < self.ngram:
            return scores
        banned = self.followers.get(tuple(self.ids[len(self.ids) - self.ngram + 1 :]))
        if not banned:
            return scores
        scores = scores.clone()
        scores[list(banned)] = -float("inf")
        return scores

    def _favour_copy(self, scores: torch.Tensor) -> torch.Tensor:
        """`COPY_BONUS` added to the input tokens that would continue the copy (see `CopyGuide`)."""
        if self.copy is None:
            return scores
        favoured = self.copy.favoured(self.ids[self.answer_start :], scores.shape[-1])
        if not favoured:
            return scores
        scores = scores.clone()
        scores[list(favoured)] += COPY_BONUS
        return scores

    def _draw(self, scores: torch.Tensor) -> int:
        """Temperature, top-k and top-p filtering, then one draw with this sequence's generator."""
        candidates, probs = self.distribution(scores)
        drawn = torch.multinomial(probs, 1, generator=self.generator)
        return int(drawn) if candidates is None else int(candidates[drawn])

    def distribution(self, scores: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        """The sampling distribution for penalised, n-gram-banned `scores` (vocab,): (candidates, probs).

        Works on the candidates only: the top-k (or all tokens, sorted) in descending order,
        so a step costs a top-k and a draw over k values rather than a draw over the vocabulary.
        `candidates` is None when every token is a candidate (probs is then over the vocabulary).
        """
        settings = self.settings
        scores = scores / settings.temperature
        if settings.top_k > 0:
            values, candidates = torch.topk(scores, min(settings.top_k, scores.shape[-1]))  # (k,), descending
            tied = int((scores >= values[-1]).sum())  # transformers keeps every token tied with the k-th
            if tied > values.shape[0]:
                values, candidates = torch.topk(scores, tied)
        elif settings.top_p < 1.0:
            values, candidates = torch.sort(scores, descending=True)  # (vocab,)
        else:
            return None, torch.softmax(scores, dim=-1)
        probs = torch.softmax(values, dim=-1)
        if settings.top_p < 1.0:
            probs = _top_p_keep(probs, settings.top_p)
        return candidates, probs


def _top_p_keep(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Zero the tail of descending `probs` outside the smallest head reaching `top_p` (keeps >= 1).

    Same rule as transformers' `TopPLogitsWarper`: a token is dropped when the probability of all
    less likely tokens together is at most 1 - top_p.
    """
    # mass of each token and all less likely ones: transformers' ascending cumulative sum
    tail_mass = probs.flip(0).cumsum(0).flip(0)
    drop = tail_mass <= (1 - top_p)
    drop[0] = False  # always keep the most likely token
    return probs.masked_fill(drop, 0.0)


def choose_tokens(
    logits: torch.Tensor, samplers: Sequence[RowSampler], seen: torch.Tensor | None = None
) -> list[int]:
    """One token per row of `logits` (shape (rows, vocab), float32), row i chosen by `samplers[i]`.

    The repetition penalty runs once per distinct penalty value over all its rows, and greedy
    rows without an n-gram ban share one argmax; the rest are picked row by row. `seen`
    (rows, vocab), if given, is every row's seen-token mask (else the samplers' are stacked).
    """
    scores = _penalise_rows(logits, samplers, seen)  # (rows, vocab)
    batched = [i for i, s in enumerate(samplers) if s.plain_greedy]
    tokens: list[int] = [0] * len(samplers)
    if batched:
        rows = scores if len(batched) == len(samplers) else scores[batched]
        for i, token in zip(batched, torch.argmax(rows, dim=-1).tolist(), strict=True):
            tokens[i] = token
    for i, sampler in enumerate(samplers):
        if not sampler.plain_greedy:
            tokens[i] = sampler.pick(scores[i])
    return tokens


def _penalise_rows(
    logits: torch.Tensor, samplers: Sequence[RowSampler], seen_rows: torch.Tensor | None
) -> torch.Tensor:
    """Repetition penalty for all rows (rows, vocab): one pass per distinct penalty value.

    The penalty stays a Python scalar, as in transformers, so the arithmetic is the same.
    """
    groups: dict[float, list[int]] = {}
    for i, sampler in enumerate(samplers):
        if sampler.seen is not None:
            groups.setdefault(sampler.settings.repetition_penalty, []).append(i)
    if not groups:
        return logits
    scores = logits.clone() if len(groups) > 1 or len(next(iter(groups.values()))) < len(samplers) else None
    for penalty, rows in groups.items():
        part = logits[rows] if scores is not None else logits  # (len(rows), vocab)
        if seen_rows is None:
            seen = torch.stack([samplers[i].seen for i in rows])  # (len(rows), vocab)
        else:
            seen = seen_rows if scores is None else seen_rows[rows]
        penalised = torch.where(seen, torch.where(part < 0, part * penalty, part / penalty), part)
        if scores is None:
            return penalised
        scores[rows] = penalised
    return scores
