"""The small interface between the UI and whatever produces text (pure Python, no torch).

A prompt builder turns a task's fields into a `Prompt`; a `Backend` turns a `Prompt`
plus `GenerationSettings` into a `TextStream`, an iterator of `Chunk`s that ends with a
`GenerationResult`. The in-process model (`generation.LocalBackend`), the batched engine
and a remote OpenAI-compatible server all implement `Backend`, so the UI never knows
which one is in use.

Example, with any backend `b`::

    stream = b.start(Prompt(document="Once upon a time"), GenerationSettings(max_new_tokens=20))
    for chunk in stream:             # Chunk(draft=0, text=" there")...
        print(chunk.text, end="")
    print(stream.result.status_line())
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from .config import GenerationSettings

FINISH_REASONS = ("eos", "length", "stopped")
CHAT_MARGIN_TOKENS = 32  # room for chat-template tokens around the prompt text


class GenerationError(RuntimeError):
    """Generation could not run or failed midway; the message is fit to show a user."""


class GenerationTimeout(GenerationError):
    """No token arrived within the allowed time."""


class BusyError(GenerationError):
    """The server is at capacity; the request was not started."""


@dataclass(frozen=True)
class Prompt:
    """One task's prompt in both forms a model may want.

    `document` is plain text for a base model to continue. `messages` is the same task as
    chat turns (``{"role": ..., "content": ...}``) for a model with a chat template; empty
    means "use the document". `stop` lists strings that end the output (not included in it).
    `notices` are things the builder did that the user should know (examples dropped...).
    `penalise_prompt` False makes the repetition penalty and the no-repeat n-gram ban count only the
    generated tokens: a rewrite (few-shot) should reuse its input's words; only its own repeats are a fault.
    `copy_source`, when set, is the text the answer rewrites: a local model is nudged to keep its words
    (`copy_guide`); "" means no such text.
    """

    document: str
    messages: tuple[dict[str, str], ...] = ()
    stop: tuple[str, ...] = ()
    notices: tuple[str, ...] = ()
    penalise_prompt: bool = True
    copy_source: str = ""


@dataclass(frozen=True)
class TokenBudget:
    """How prompt builders measure text: a token counter and the most prompt tokens allowed."""

    count: Callable[[str], int]
    limit: int


@dataclass(frozen=True)
class Chunk:
    """A piece of newly generated text for one draft (0-based)."""

    draft: int
    text: str


@dataclass(frozen=True)
class GenerationResult:
    """What one finished (or stopped) request produced, with its measurements."""

    texts: tuple[str, ...]
    finish_reason: str
    prompt_tokens: int
    generated_tokens: int
    time_to_first_token_s: float
    tokens_per_s: float
    seed: int = -1
    dropped_prompt_tokens: int = 0
    notices: tuple[str, ...] = ()

    def status_line(self) -> str:
        """One line for the UI: tokens, speed, latency, finish reason and any notices."""
        parts = [
            f"{self.generated_tokens} tokens",
            f"{self.tokens_per_s:.1f} tok/s",
            f"first token {self.time_to_first_token_s * 1000:.0f} ms",
            f"prompt {self.prompt_tokens} tokens",
            f"finish: {self.finish_reason}",
        ]
        if self.seed >= 0:
            parts.append(f"seed {self.seed}")
        notes = list(self.notices)
        if self.dropped_prompt_tokens:
            notes.append(
                f"the prompt was too long: its first {self.dropped_prompt_tokens} tokens were left out"
            )
        return " · ".join(parts) + "".join(f"\n⚠ {n}" for n in notes)


@dataclass(frozen=True)
class Alternative:
    """One likely next token at a point in the text: its text, probability and (local models) its id."""

    text: str
    probability: float
    token_id: int | None = None


@dataclass(frozen=True)
class BackendInfo:
    """What the header shows and what prompt builders need to fit the window."""

    model_name: str
    device: str
    context_window: int
    chat: bool


class TextStream(Protocol):
    """An iterator of `Chunk`s; `result` is set once iteration ends (also after `cancel`).

    Iteration re-raises any error from the worker and raises `GenerationTimeout` when no
    token arrives in time; it never hangs.
    """

    result: GenerationResult | None

    def __iter__(self) -> Iterator[Chunk]: ...

    def cancel(self) -> None:
        """Ask generation to stop after the current step; safe to call twice or after the end."""


class Backend(Protocol):
    """Anything that streams text for a prompt."""

    @property
    def info(self) -> BackendInfo: ...

    def count_tokens(self, text: str) -> int:
        """How many tokens `text` takes for this backend's tokenizer."""

    def start(self, prompt: Prompt, settings: GenerationSettings) -> TextStream:
        """Begin generating; raises `GenerationError` (or `BusyError`) if it cannot start."""

    def alternatives(self, prompt: Prompt, k: int) -> list[Alternative]:
        """The `k` likeliest next tokens after `prompt` (most likely first); `GenerationError` if none."""


def max_new_tokens_limit(window: int, cap: int | None = None) -> int:
    """The most tokens one request may write on a model with this context `window` (and server `cap`).

    A prompt always keeps a quarter of the window (at least 32 tokens) plus the chat margin, so
    sliders, the API and the tasks never ask for more than the loaded model can do.
    """
    limit = max(1, window - max(window // 4, 32) - CHAT_MARGIN_TOKENS)
    return limit if cap is None else max(1, min(limit, cap))


def prompt_budget(backend: Backend, settings: GenerationSettings, used: int = 0) -> TokenBudget:
    """How many prompt tokens fit: the window minus the tokens to write (at least a quarter window).

    `used` tokens are already spoken for (e.g. text appended to the prompt afterwards).
    """
    window = backend.info.context_window
    room = max(window // 4, window - settings.max_new_tokens - CHAT_MARGIN_TOKENS)
    return TokenBudget(count=backend.count_tokens, limit=max(1, room - used))
