"""Next-token alternatives from an OpenAI-compatible server, through `logprobs` / `top_logprobs`.

One non-streamed request for one greedy token: ``/v1/completions`` with ``logprobs=k``, or
``/v1/chat/completions`` with ``logprobs=true, top_logprobs=k``. vLLM, SGLang and llama.cpp
answer with the top-k log-probabilities of that token's position; servers that ignore the
fields (transformers serve, TGI's completions) answer without them, which becomes a
`GenerationError` saying so rather than an empty list.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import openai

from .backend import Alternative, GenerationError, Prompt

NOT_OFFERED = "this model server does not offer next-token alternatives (it sends no logprobs)"


def remote_alternatives(
    client: openai.OpenAI,
    model: str,
    prompt: Prompt,
    k: int,
    use_chat: bool,
    explain: Callable[[BaseException], GenerationError],
) -> list[Alternative]:
    """The server's `k` likeliest next tokens after `prompt`, most likely first.

    `explain` turns client errors into `GenerationError`s (`OpenAIBackend.explain`).
    """
    common: dict[str, Any] = {"model": model, "max_tokens": 1, "temperature": 0.0, "stream": False}
    try:
        if use_chat:
            messages = list(prompt.messages) or [{"role": "user", "content": prompt.document}]
            answer = client.chat.completions.create(
                messages=messages, logprobs=True, top_logprobs=k, **common
            )
        else:
            answer = client.completions.create(prompt=prompt.document, logprobs=k, **common)
    except Exception as exc:
        raise explain(exc) from exc
    return parse_alternatives(answer.to_dict(), k)


def parse_alternatives(answer: dict[str, Any], k: int) -> list[Alternative]:
    """The top-k (token, probability) of the first generated position in a (chat) completion answer.

    Raises `GenerationError(NOT_OFFERED)` when the answer carries no log-probabilities.
    """
    choices = answer.get("choices") or [{}]
    logprobs = choices[0].get("logprobs") or {}
    pairs: list[tuple[str, float]] = []
    if logprobs.get("content"):  # chat: content[0].top_logprobs = [{"token", "logprob"}, ...]
        pairs = [(e["token"], e["logprob"]) for e in logprobs["content"][0].get("top_logprobs") or []]
    elif logprobs.get("top_logprobs"):  # completions: top_logprobs[0] = {token: logprob}
        pairs = list((logprobs["top_logprobs"][0] or {}).items())
    if not pairs:
        raise GenerationError(NOT_OFFERED)
    ranked = sorted(pairs, key=lambda pair: pair[1], reverse=True)[:k]
    return [Alternative(str(token), math.exp(float(logprob))) for token, logprob in ranked]
