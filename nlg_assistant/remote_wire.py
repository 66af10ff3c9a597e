"""How `GenerationSettings` reach an OpenAI-compatible server (what each server does with them is
in docs/remote.md):

======================  ===================================  ==========================================
setting                 sent as                              notes
======================  ===================================  ==========================================
max_new_tokens          ``max_tokens``                       capped by ``--max-new-tokens-cap``
temperature             ``temperature``                      0 means greedy on every server listed
top_p                   ``top_p``                            sent only below 1; 0 is sent as greedy
seed                    ``seed``                             -1 is resolved here; draft i gets seed + i
num_drafts              one streamed request per draft       ``n`` is ignored by TGI, llama.cpp, Ollama
                                                             and transformers serve, so drafts are
                                                             parallel requests (vLLM batches them)
top_k                   ``top_k`` field (extra body)         sent when sampling; 0 (off) is sent as -1
repetition_penalty      ``repetition_penalty`` (extra body)  multiplicative (HF style); NOT the same as
                                                             OpenAI's additive ``frequency_penalty``,
                                                             which is never sent; the server
                                                             counts the prompt too (a few-shot
                                                             prompt's ``penalise_prompt=False``
                                                             holds for the local engines only;
                                                             the same for no_repeat_ngram_size)
no_repeat_ngram_size    ``generation_config`` only           transformers serve only; elsewhere a
                                                             notice says it was ignored
Prompt.stop             ``stop``                             also enforced here, so the stop string is
                                                             never shown even if a server echoes it
Prompt.copy_source      not sent                             the copy guide ("Keep the input's words")
                                                             runs in the local engines only; a notice
                                                             says so
======================  ===================================  ==========================================

transformers serve rejects unknown fields (HTTP 422), so when a server names one of these fields
in a 4xx answer the backend retries with all three HF settings (and ``do_sample``, which that
server needs to sample at all) in a ``generation_config`` JSON string, its own field; a server
that refuses that too gets neither, with a notice. The choice is remembered for the backend's life.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .config import GenerationSettings

EXTRA_FIELDS = ("top_k", "repetition_penalty")  # the ones fields-style servers honour
REFUSABLE_FIELDS = (*EXTRA_FIELDS, "no_repeat_ngram_size")

# How the HF-only sampling settings are sent; a server that refuses one style gets the next.
STYLE_FIELDS = "fields"  # top-level JSON fields (vLLM, SGLang, llama.cpp)
STYLE_GENERATION_CONFIG = "generation_config"  # transformers serve's JSON GenerationConfig string
STYLE_NONE = "none"  # the server takes neither: only OpenAI fields are sent
NEXT_STYLE = {STYLE_FIELDS: STYLE_GENERATION_CONFIG, STYLE_GENERATION_CONFIG: STYLE_NONE}


@dataclass(frozen=True)
class WireSampling:
    """`GenerationSettings` as one server style wants them on the wire (see the module table)."""

    max_tokens: int
    temperature: float
    top_p: float | None  # None: not sent (1 = off)
    seed: int
    extra_body: dict  # JSON fields outside the OpenAI schema

    @classmethod
    def of(cls, settings: GenerationSettings, style: str) -> WireSampling:
        greedy = settings.greedy or settings.top_p == 0.0  # top_p 0 keeps only the likeliest token
        top_p = settings.top_p if not greedy and settings.top_p < 1.0 else None
        if style == STYLE_FIELDS:
            extra = extra_fields(settings, greedy)
        elif style == STYLE_GENERATION_CONFIG:
            extra = {"generation_config": generation_config(settings, greedy)}
        else:
            extra = {}
        temperature = 0.0 if greedy else settings.temperature
        return cls(settings.max_new_tokens, temperature, top_p, settings.seed, extra)


def generation_config(settings: GenerationSettings, greedy: bool) -> str:
    """transformers serve's `generation_config` JSON: the HF-only settings and `do_sample`.

    Every field is explicit: unset ones would fall back to the model's defaults (e.g. top_k 50).
    """
    config = {
        "do_sample": not greedy,
        "top_k": settings.top_k,
        "repetition_penalty": settings.repetition_penalty,
        "no_repeat_ngram_size": settings.no_repeat_ngram_size,
    }
    return json.dumps(config)


def extra_fields(settings: GenerationSettings, greedy: bool) -> dict:
    """top_k / repetition_penalty / no_repeat_ngram_size as plain JSON fields.

    When sampling, top_k is always sent (-1 = off for vLLM and llama.cpp): a server that refuses
    it (transformers serve, which also needs `do_sample` to sample at all) is then found on the
    first sampled request. no_repeat_ngram_size is sent only to be refused by such a server.
    """
    extra: dict = {"top_k": settings.top_k if settings.top_k > 0 else -1} if not greedy else {}
    if settings.repetition_penalty != 1.0:
        extra["repetition_penalty"] = settings.repetition_penalty
    if settings.no_repeat_ngram_size > 0:
        extra["no_repeat_ngram_size"] = settings.no_repeat_ngram_size
    return extra


def hf_only_settings(settings: GenerationSettings) -> list[str]:
    """The settings in use that the OpenAI schema has no field for."""
    names = []
    if settings.top_k > 0 and not settings.greedy:
        names.append("top_k")
    if settings.repetition_penalty != 1.0:
        names.append("repetition_penalty")
    if settings.no_repeat_ngram_size > 0:
        names.append("no_repeat_ngram_size")
    return names


def style_sends(style: str, name: str) -> bool:
    """Whether `style` carries the HF-only setting `name` to the server."""
    if style == STYLE_GENERATION_CONFIG:
        return True
    return style == STYLE_FIELDS and name in EXTRA_FIELDS


def names_extra_field(message: str, style: str) -> bool:
    """Whether a refusal is about the fields this style added."""
    names = REFUSABLE_FIELDS if style == STYLE_FIELDS else ("generation_config",)
    return any(name in message for name in names)
