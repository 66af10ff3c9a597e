"""The model's most likely next tokens at a point in the text, with their probabilities (local models).

Writers pick one to branch the text there (the "alternatives" of Write With Transformer). One
forward pass over the prompt ids, a softmax over the last position's logits (temperature 1: the
model's own distribution, not the sampler's), the top k:

>>> from nlg_assistant.models import load_model          # doctest: +SKIP
>>> loaded = load_model("assets/models/storyteller", "cpu")  # doctest: +SKIP
>>> top_alternatives(loaded.model, loaded.tokenizer, loaded.tokenizer("Once upon a")["input_ids"], 3)
... # doctest: +SKIP
[Alternative(text=' time', probability=0.93), ...]
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from typing import Any

import torch

from .backend import Alternative, GenerationError, GenerationTimeout, Prompt
from .config import GenerationSettings
from .decoding import PromptPreparer, failure_message

MAX_ALTERNATIVES = 20
ONE_TOKEN = GenerationSettings(max_new_tokens=1, temperature=0.0)  # fit the prompt to leave one token


def next_token_probabilities(model: Any, ids: Sequence[int]) -> torch.Tensor:
    """The model's next-token distribution after `ids`: shape (vocab,), float32, sums to 1."""
    input_ids = torch.tensor([list(ids)], device=model.device)
    with torch.inference_mode():
        logits = model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids)).logits  # (1, T, V)
    return torch.softmax(logits[0, -1].float(), dim=-1)


def token_text(tokenizer: Any, ids: Sequence[int], token: int) -> str:
    """What `token` adds to the text after `ids` (decoded in context, so a leading space survives)."""
    context = list(ids[-8:])  # a few tokens of context are enough to settle spacing and merges
    before = tokenizer.decode(context, skip_special_tokens=True, clean_up_tokenization_spaces=False)
    after = tokenizer.decode([*context, token], skip_special_tokens=True, clean_up_tokenization_spaces=False)
    return after[len(before) :] if after.startswith(before) else tokenizer.decode([token])


def top_alternatives(model: Any, tokenizer: Any, ids: Sequence[int], k: int) -> list[Alternative]:
    """The `k` most likely next tokens after `ids` (special tokens left out), most likely first."""
    k = max(1, min(int(k), MAX_ALTERNATIVES))
    probs = next_token_probabilities(model, ids)
    special = set(tokenizer.all_special_ids)
    values, tokens = torch.topk(probs, min(k + len(special), probs.numel()))
    picks = [(t, p) for t, p in zip(tokens.tolist(), values.tolist(), strict=True) if t not in special]
    return [Alternative(token_text(tokenizer, ids, t), p, t) for t, p in picks[:k]]


def prepared_ids(preparer: PromptPreparer, prompt: Prompt) -> list[int]:
    """The prompt's ids as generation prepares them (chat template if chat), fitted to leave one token."""
    try:
        return preparer.prepare(prompt, ONE_TOKEN).ids
    except GenerationError:
        raise
    except Exception as error:  # tokenizer and template errors: tell the user, don't crash
        raise GenerationError(f"could not prepare the prompt: {type(error).__name__}: {error}") from error


class AlternativesJob:
    """One alternatives request for the batched engine, run by its scheduler thread between steps.

    Why on the scheduler thread and not in the caller's: two forward passes at once on the same
    weights compete for the same cores (CPU) or double the activation memory (GPU) while a batch is
    decoding; queued here, an alternatives request costs the running streams one short prefill,
    the same as one more arriving request, and never races the batch's KV-cache bookkeeping.
    """

    def __init__(self, ids: list[int], k: int) -> None:
        self.ids, self.k = ids, k
        self._done = threading.Event()
        self._answer: list[Alternative] = []
        self._error: BaseException | None = None

    def run(self, model: Any, tokenizer: Any) -> None:
        """Compute the answer (scheduler thread); an error is kept for the waiting caller."""
        try:
            self._answer = top_alternatives(model, tokenizer, self.ids, self.k)
        except BaseException as error:  # re-raised in the caller's thread by `wait`
            self._error = error
        self._done.set()

    def fail(self, error: BaseException) -> None:
        """End the job without an answer (the engine shut down)."""
        self._error = error
        self._done.set()

    def wait(self, timeout_s: float) -> list[Alternative]:
        """The alternatives; raises `GenerationError` on failure or after `timeout_s`."""
        if not self._done.wait(timeout_s):
            raise GenerationTimeout(f"no alternatives within {timeout_s:g} s; the server is busy, try again")
        if isinstance(self._error, GenerationError):
            raise self._error
        if self._error is not None:
            raise GenerationError(failure_message(self._error)) from self._error
        return self._answer


class AlternativesQueue:
    """The batched engine's waiting `AlternativesJob`s (thread-safe); its scheduler runs them."""

    def __init__(self) -> None:
        self._jobs: deque[AlternativesJob] = deque()
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self._jobs)

    def add(self, job: AlternativesJob) -> None:
        """Queue `job` (the caller then wakes the scheduler)."""
        with self._lock:
            self._jobs.append(job)

    def run_all(self, model: Any, tokenizer: Any) -> None:
        """Answer every queued job, oldest first (scheduler thread)."""
        while job := self._pop():
            job.run(model, tokenizer)

    def fail_all(self, error: BaseException) -> None:
        """End every queued job with `error` (the engine shut down)."""
        while job := self._pop():
            job.fail(error)

    def _pop(self) -> AlternativesJob | None:
        with self._lock:
            return self._jobs.popleft() if self._jobs else None
