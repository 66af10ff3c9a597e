"""Decoding pieces shared by both in-process engines (and the stop-string rule by the remote one).

No torch here: `generation.LocalBackend` (one `generate` per request) and
`engine.BatchedBackend` (continuous batching) both prepare prompts with `PromptPreparer`,
turn token ids into text with `DraftDecoder`, end their streams with `StreamEnd` /
`StreamFailure` read by `next_item`, and report with `build_result`, so the two engines
cap, fit, decode and measure requests the same way. `StopScanner` is the one stop-string
rule: text that may still become a stop string is held back, and a stop string ends a draft.
"""

from __future__ import annotations

import dataclasses
import queue
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .backend import Chunk, GenerationError, GenerationResult, GenerationTimeout, Prompt
from .config import RANGES, GenerationSettings
from .copy_guide import CopyIndex

_REPLACEMENT = "\ufffd"  # what decoding yields for an incomplete multi-byte character
# A UTF-8 character has at most 4 bytes and every token adds at least one, so text still ending
# in U+FFFD after this many pending tokens is really invalid bytes: show it rather than wait.
_MAX_PENDING_TOKENS = 6
_MAX_SEED = int(RANGES["seed"].high)


# ---------------------------------------------------------------------------- stop strings


class StopScanner:
    """Finds stop strings across chunk boundaries, holding back text that may start one."""

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = tuple(s for s in stops if s)
        self._held = ""

    def feed(self, text: str) -> tuple[str, bool]:
        """(text safe to show now, whether a stop string was reached; then the text ends before it)."""
        buffer = self._held + text
        cuts = [buffer.find(s) for s in self.stops if s in buffer]
        if cuts:
            self._held = ""
            return buffer[: min(cuts)], True
        keep = max((_overlap(buffer, s) for s in self.stops), default=0)
        self._held = buffer[len(buffer) - keep :]
        return buffer[: len(buffer) - keep], False

    def flush(self) -> str:
        """Whatever was held back (the draft ended without completing a stop string)."""
        rest, self._held = self._held, ""
        return rest


def _overlap(text: str, stop: str) -> int:
    """Length of the longest end of `text` that is a proper start of `stop`."""
    for size in range(min(len(text), len(stop) - 1), 0, -1):
        if text.endswith(stop[:size]):
            return size
    return 0


# ---------------------------------------------------------------------------- token ids to text


class DraftDecoder:
    """Turns one draft's token ids into text pieces, incrementally and without splitting.

    Each step decodes only a short window: the ids since `prefix` (text already known) and
    the ids since `read` (new). Text ending in U+FFFD waits for the bytes that complete it,
    and text that might be the start of a stop string waits until it is known not to be.

    `context` is the prompt's ids (only the last one is kept). Sentencepiece-style decoders
    drop the leading space of whichever token comes first, so without that context the first
    word would be glued to the prompt ("there was" + "a" -> "there wasa").
    """

    def __init__(self, tokenizer: Any, stops: Sequence[str], context: Sequence[int] = ()) -> None:
        self.tokenizer = tokenizer
        self.scanner = StopScanner(stops)
        self.ids: list[int] = list(context[-1:])
        self.prefix = 0  # ids[prefix:read] are decoded already; they give context for the next piece
        self.read = len(self.ids)
        self.text = ""  # the draft's text shown so far (it ends before any stop string)
        self.tokens = 0  # tokens the model produced for this draft, the ending one included
        self.reason: str | None = None  # set once the draft is over: eos | length | stopped

    @property
    def done(self) -> bool:
        """True once the draft ended (eos, stop string, or the end of generation)."""
        return self.reason is not None

    def add(self, token_id: int) -> str:
        """Take one new token; return the text that can be shown now (maybe empty)."""
        if self.done:  # e.g. the token after a stop string: not part of the draft
            return ""
        self.ids.append(token_id)
        return self._decode_new(final=False)

    def finish(self, reason: str) -> str:
        """End the draft (keeping an earlier reason, e.g. a stop string) and return all text left."""
        if self.done:
            return ""
        piece = self._decode_new(final=True)
        if not self.done:
            rest = self.scanner.flush()
            self.text += rest
            piece += rest
            self.reason = reason
        return piece

    def _decode(self, start: int, end: int | None = None) -> str:
        return self.tokenizer.decode(
            self.ids[start:end], skip_special_tokens=True, clean_up_tokenization_spaces=False
        )

    def _decode_new(self, final: bool) -> str:
        """Scan the text of ids[read:] unless it ends mid-character (and more may come); return what shows."""
        if self.read == len(self.ids):
            return ""
        known = self._decode(self.prefix, self.read)
        both = self._decode(self.prefix)
        settled = final or not both.endswith(_REPLACEMENT) or len(self.ids) - self.read >= _MAX_PENDING_TOKENS
        if len(both) <= len(known) or not settled:
            return ""
        self.prefix, self.read = self.read, len(self.ids)
        shown, hit = self.scanner.feed(both[len(known) :])
        self.text += shown
        if hit:
            self.reason = "eos"
        return shown


# ---------------------------------------------------------------------------- prompt preparation


@dataclass
class PreparedPrompt:
    """A prompt ready to decode: fitted token ids, settings (capped, seed resolved) and notices."""

    ids: list[int]
    settings: GenerationSettings
    dropped_prompt_tokens: int
    notices: tuple[str, ...]
    penalise_prompt: bool = True  # False: the penalty and n-gram ban count only generated tokens
    # the text the answer rewrites (`Prompt.copy_source`), indexed in its token forms (`copy_forms`)
    copy_index: CopyIndex | None = None

    @property
    def own_processors(self) -> bool:
        """True when the simple engine hands `generate` its own processor list (`answer_only_processors`)."""
        return not self.penalise_prompt or self.copy_index is not None

    def draft_decoders(self, tokenizer: Any, stops: Sequence[str]) -> list[DraftDecoder]:
        """One text decoder per draft, each given the prompt as context (see `DraftDecoder`)."""
        return [DraftDecoder(tokenizer, stops, self.ids) for _ in range(self.settings.num_drafts)]


class PromptPreparer:
    """Caps settings, encodes a `Prompt` (chat template or document) and fits it in the window.

    `loaded` is a `models.LoadedModel` (tokenizer, context window, chat flag).
    """

    def __init__(self, loaded: Any, max_new_tokens_cap: int) -> None:
        self.loaded = loaded
        self.max_new_tokens_cap = max_new_tokens_cap

    def prepare(self, prompt: Prompt, settings: GenerationSettings) -> PreparedPrompt:
        """Cap the settings, encode the prompt, fit it in the window and resolve the seed."""
        settings = settings.capped(self.max_new_tokens_cap)
        ids, template_notices = self.encode(prompt)
        ids, settings, dropped, notices = self._fit(ids, settings)
        if settings.seed == -1 and not settings.greedy:
            settings = settings.with_seed(secrets.randbelow(_MAX_SEED + 1))
        notices = (*prompt.notices, *template_notices, *notices)
        forms = copy_forms(self.loaded.tokenizer, prompt.document, prompt.copy_source)
        index = CopyIndex(forms) if forms else None
        return PreparedPrompt(ids, settings, dropped, notices, prompt.penalise_prompt, index)

    def _fit(
        self, ids: list[int], settings: GenerationSettings
    ) -> tuple[list[int], GenerationSettings, int, tuple[str, ...]]:
        """Make the request runnable: one draft when greedy; prompt + output within the context window
        (the prompt is trimmed from the left if needed).

        Returns the ids, the (maybe changed) settings, how many prompt tokens were dropped and notices.
        """
        window, notices = self.loaded.context_window, ()
        if settings.greedy and settings.num_drafts > 1:  # greedy drafts would all be the same text
            settings = dataclasses.replace(settings, num_drafts=1)
            notices = ("temperature 0 always writes the same text, so only one draft was written",)
        if settings.max_new_tokens >= window:  # no room for any prompt: write at most half the window
            settings = dataclasses.replace(settings, max_new_tokens=max(1, window // 2))
            notices = (
                *notices,
                f"max_new_tokens was lowered to {settings.max_new_tokens} "
                f"to fit the model's context window of {window} tokens",
            )
        limit = window - settings.max_new_tokens
        ids, dropped = trim_left(ids, limit, self.loaded.tokenizer.bos_token_id)
        return ids, settings, dropped, notices

    def encode(self, prompt: Prompt) -> tuple[list[int], tuple[str, ...]]:
        """Token ids of the chat-template form when the model has one and the prompt has messages.

        A template that rejects the messages (some refuse a system turn) falls back to the
        document form, with a notice.
        """
        tokenizer = self.loaded.tokenizer
        if self.loaded.chat and prompt.messages:
            try:
                text = tokenizer.apply_chat_template(
                    [dict(m) for m in prompt.messages], add_generation_prompt=True, tokenize=False
                )
            except Exception as error:  # jinja2 TemplateError, or the template's raise_exception()
                notice = f"the model's chat template rejected the prompt ({error}); plain text was used"
                return self._encode_document(prompt.document), (notice,)
            return list(tokenizer(text, add_special_tokens=False)["input_ids"]), ()
        return self._encode_document(prompt.document), ()

    def _encode_document(self, document: str) -> list[int]:
        """Token ids of `document` (with the tokenizer's BOS, if it adds one)."""
        tokenizer = self.loaded.tokenizer
        ids = tokenizer(document)["input_ids"]
        if ids:
            return list(ids)
        start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        if start is None:
            raise GenerationError("the prompt is empty; write something for the model to continue")
        return [start]  # an empty document: let the model start from its start-of-text token


def copy_forms(tokenizer: Any, document: str, source: str) -> tuple[tuple[int, ...], ...]:
    """`source`'s token forms for the copy guide: as written, and with a capital first letter when that
    differs (a rewrite's most common edit, which the guide must not push against), each as tokenized
    in place (`source_ids`). () for no source."""
    written = source_ids(tokenizer, document, source)
    capital = source[:1].upper() + source[1:]
    if not written or capital == source:
        return (written,) if written else ()
    start = document.rfind(source)
    in_place = document[:start] + capital + document[start + len(source) :] if start >= 0 else capital
    capitalised = source_ids(tokenizer, in_place, capital)
    return (written,) if capitalised == written else (written, capitalised)


def source_ids(tokenizer: Any, document: str, source: str) -> tuple[int, ...]:
    """The ids of `source` as tokenized where it last stands in `document`, and the token after it.

    In place, a word after a line break may be a different token from the same word after a space,
    and the token after the source (the line break that ends the input's block) is how a copy ends.
    The source alone when it is not in `document` or the tokenizer gives no character offsets; ()
    for no source.
    """
    if not source.strip():
        return ()
    start = document.rfind(source)
    if start < 0 or not getattr(tokenizer, "is_fast", False):
        return tuple(tokenizer(source, add_special_tokens=False)["input_ids"])
    encoded = tokenizer(document, add_special_tokens=False, return_offsets_mapping=True)
    end, ids = start + len(source), []
    for token, (first, last) in zip(encoded["input_ids"], encoded["offset_mapping"], strict=True):
        if first >= start and last > first:  # (special tokens have empty spans)
            ids.append(token)
            if last > end or first >= end:  # the token that ends the source's line: the last one kept
                break
    return tuple(ids)


def trim_left(ids: list[int], limit: int, bos_id: int | None) -> tuple[list[int], int]:
    """Keep the last `limit` ids (and a leading BOS); return them and how many were dropped."""
    dropped = len(ids) - limit
    if dropped <= 0:
        return ids, 0
    if bos_id is not None and ids[0] == bos_id and limit > 1:
        return [ids[0], *ids[1 + dropped :]], dropped
    return ids[dropped:], dropped


def device_label(loaded: Any, static_cache: bool) -> str:
    """'cuda (bfloat16)', plus the static cache and whether its decode step is compiled."""
    label = f"{loaded.device} ({str(loaded.dtype).removeprefix('torch.')})"
    if static_cache:
        label += ", static KV cache" + (" + torch.compile" if loaded.device == "cuda" else "")
    return label


def end_ids(loaded: Any, override: Sequence[int] | None) -> set[int]:
    """The ids that end a draft: `override` when given (e.g. `()`: never end early), else the model's."""
    return eos_token_ids(loaded) if override is None else set(override)


def eos_token_ids(loaded: Any) -> set[int]:
    """End-of-sequence ids from the tokenizer and the model's generation config (chat models list several)."""
    ids: set[int] = set()
    configured = getattr(loaded.model.generation_config, "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(int(i) for i in configured)
    if loaded.tokenizer.eos_token_id is not None:
        ids.add(loaded.tokenizer.eos_token_id)
    return ids


# ---------------------------------------------------------------------------- streams


@dataclass
class StreamEnd:
    """Stream queue item: generation is over (finished, stopped or cancelled)."""


@dataclass
class StreamFailure:
    """Stream queue item: the worker or scheduler raised `error`."""

    error: BaseException


QueueItem = Chunk | StreamEnd | StreamFailure


def next_item(
    sink: queue.Queue | queue.SimpleQueue,
    last_token_at: Callable[[], float],
    timeout_s: float,
    hint: str,
) -> QueueItem:
    """The next item of a stream's queue; raises `GenerationTimeout` when no token came for `timeout_s`.

    `last_token_at()` is the `perf_counter` time of the latest token; `hint` ends the message.
    """
    while True:
        wait = timeout_s - (time.perf_counter() - last_token_at())
        try:
            return sink.get(timeout=max(wait, 0.0))
        except queue.Empty:
            if time.perf_counter() - last_token_at() >= timeout_s:
                raise GenerationTimeout(
                    f"no token arrived within {timeout_s:g} s, so generation was stopped; {hint}"
                ) from None


def failure_message(error: BaseException) -> str:
    """A user-facing message for an exception raised inside the worker."""
    if type(error).__name__ == "OutOfMemoryError":  # torch.cuda.OutOfMemoryError (no torch import here)
        return "the GPU ran out of memory; try fewer drafts, fewer tokens or a shorter prompt"
    return f"generation failed: {type(error).__name__}: {error}"


def build_result(
    prepared: PreparedPrompt,
    decoders: Sequence[DraftDecoder],
    started: float,
    first_token_at: float | None,
    ended_at: float | None,
) -> GenerationResult:
    """Texts and measurements of a request (`perf_counter` times), the same for both engines."""
    ended = ended_at or time.perf_counter()
    generated = sum(decoder.tokens for decoder in decoders)
    elapsed = ended - started
    return GenerationResult(
        texts=tuple(decoder.text for decoder in decoders),
        finish_reason=decoders[0].reason or "stopped",
        prompt_tokens=len(prepared.ids),
        generated_tokens=generated,
        time_to_first_token_s=(first_token_at - started) if first_token_at is not None else 0.0,
        tokens_per_s=generated / elapsed if elapsed > 0 else 0.0,
        seed=prepared.settings.seed,
        dropped_prompt_tokens=prepared.dropped_prompt_tokens,
        notices=prepared.notices,
    )
