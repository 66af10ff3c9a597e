"""Both engines' sampling rules against transformers' own logits processors, on random logits.

The batched engine chooses tokens with `sampling.RowSampler` / `choose_tokens`; the simple engine
hands a `GenerationConfig` (`generation.build_generation_config`) to `model.generate`, which builds
its processors with `_get_logits_processor`. Both are compared with a reference list made here
from `RepetitionPenaltyLogitsProcessor`, `NoRepeatNGramLogitsProcessor`, `TemperatureLogitsWarper`,
`TopKLogitsWarper` and `TopPLogitsWarper`, in `generate`'s order.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from transformers import GenerationConfig, LogitsProcessorList
from transformers.generation.logits_process import (
    NoRepeatNGramLogitsProcessor,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from nlg_assistant.config import GenerationSettings
from nlg_assistant.copy_guide import COPY_BONUS, CopyGuide, CopyIndex
from nlg_assistant.decoding import PreparedPrompt
from nlg_assistant.generation import _CopyBonus, answer_only_processors, build_generation_config
from nlg_assistant.models import load_model
from nlg_assistant.sampling import RowSampler, _penalise_rows, _top_p_keep, choose_tokens

VOCAB = 320  # the tiny test model's vocabulary


def settings(**values) -> GenerationSettings:
    """Sampled settings with every rule off unless named."""
    base = dict(temperature=1.0, top_k=0, top_p=1.0, repetition_penalty=1.0, no_repeat_ngram_size=0, seed=0)
    return GenerationSettings(**{**base, **values})


# temperature, top-k (incl. > vocab), top-p (incl. 1 and tiny), penalty, n-grams, and all at once
CASES = {
    "temperature-0.3": settings(temperature=0.3),
    "temperature-1.7": settings(temperature=1.7),
    "top_k-1": settings(top_k=1),
    "top_k-40": settings(top_k=40),
    "top_k-over-vocab": settings(top_k=1000),
    "top_p-0.9": settings(top_p=0.9),
    "top_p-0.5-hot": settings(top_p=0.5, temperature=0.5),
    "top_p-1": settings(top_p=1.0, temperature=0.8),
    "top_p-0": settings(top_p=0.0),
    "top_p-tiny": settings(top_p=0.01),
    "penalty-1.3": settings(repetition_penalty=1.3),
    "penalty-2": settings(repetition_penalty=2.0),
    "ngram-2": settings(no_repeat_ngram_size=2),
    "ngram-3": settings(no_repeat_ngram_size=3),
    "everything": settings(
        temperature=0.7, top_k=50, top_p=0.8, repetition_penalty=1.5, no_repeat_ngram_size=2
    ),
    "defaults": GenerationSettings(seed=0),
}


def reference_processors(s: GenerationSettings) -> LogitsProcessorList:
    """transformers' processors for `s`, in `generate`'s order (warpers only when sampling)."""
    processors = LogitsProcessorList()
    if s.repetition_penalty != 1.0:
        processors.append(RepetitionPenaltyLogitsProcessor(s.repetition_penalty))
    if s.no_repeat_ngram_size:
        processors.append(NoRepeatNGramLogitsProcessor(s.no_repeat_ngram_size))
    if not s.greedy:
        processors.append(TemperatureLogitsWarper(s.temperature))
        if s.top_k:
            processors.append(TopKLogitsWarper(s.top_k))
        if s.top_p < 1.0:
            processors.append(TopPLogitsWarper(s.top_p))
    return processors


def reference(s: GenerationSettings, ids: list[int], logits: torch.Tensor) -> torch.Tensor:
    """Processed logits (vocab,): -inf for every token the reference drops."""
    return reference_processors(s)(torch.tensor([ids]), logits.clone()[None])[0]


def ours(s: GenerationSettings, ids: list[int], logits: torch.Tensor) -> torch.Tensor:
    """The row sampler's probabilities over the vocabulary (vocab,), 0 for every dropped token."""
    return sampler_probs(RowSampler(s, ids, logits.shape[-1], "cpu"), logits)


def random_case(seed: int, vocab: int = VOCAB, length: int = 24) -> tuple[list[int], torch.Tensor]:
    """Prompt ids drawn from a few tokens (so n-grams repeat) and logits of both signs (vocab,)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 12, (length,), generator=g).tolist()
    logits = torch.randn(vocab, generator=g) * 3
    logits[:12] = torch.randn(12, generator=g) * 3 + 2  # the prompt's tokens are likely ones, some < 0
    return ids, logits


def assert_same_distribution(mine: torch.Tensor, processed: torch.Tensor) -> None:
    """The kept sets are equal exactly; the probabilities agree to float32 rounding."""
    kept = torch.isfinite(processed)
    assert torch.equal(mine > 0, kept), f"kept {sorted((mine > 0).nonzero().flatten().tolist())[:20]}"
    torch.testing.assert_close(mine, torch.softmax(processed, dim=-1), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", list(CASES))
def test_row_sampler_distribution_equals_transformers(name):
    s = CASES[name]
    for seed in range(20):
        ids, logits = random_case(seed)
        assert_same_distribution(ours(s, ids, logits), reference(s, ids, logits))


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return load_model(str(tiny_model_dir), "cpu")


@pytest.mark.parametrize("name", list(CASES))
def test_simple_engine_processors_equal_transformers(tiny, name):
    """What `generate` builds from our `GenerationConfig` processes logits exactly like the reference."""
    s = CASES[name]
    config = build_generation_config(s, [2], 3, tiny.model.generation_config)
    for seed in range(5):
        ids, logits = random_case(seed)
        built = tiny.model._get_logits_processor(config, input_ids_seq_length=len(ids), device="cpu")
        processed = built(torch.tensor([ids]), logits.clone()[None])[0]
        assert torch.equal(processed, reference(s, ids, logits))


# a model whose generation_config.json sets everything our settings don't cover, differently
MODEL_DEFAULTS = dict(
    do_sample=True, temperature=0.6, top_k=20, top_p=0.5, typical_p=0.9, epsilon_cutoff=3e-4,
    eta_cutoff=3e-4, min_p=0.1, min_new_tokens=5, num_beams=2, max_new_tokens=7, use_cache=False,
)  # fmt: skip


@pytest.mark.parametrize("greedy", [True, False], ids=["greedy", "sampled"])
def test_simple_engine_config_leaves_no_model_default_in(greedy):
    """What `generate` runs with after filling unset values from the model's defaults, as it does."""
    s = settings(temperature=0.0 if greedy else 0.9, top_k=10, top_p=0.8, max_new_tokens=33, num_drafts=1)
    # greedy: a model's min_p can't be neutralised (0.0 is flagged too); it only logs that it is unused
    defaults = {k: v for k, v in MODEL_DEFAULTS.items() if not (greedy and k == "min_p")}
    config = build_generation_config(s, [2], 3, GenerationConfig(**defaults))
    config.update(**defaults, defaults_only=True)  # generate: model defaults fill unset values
    config.validate(strict=True)  # no "flags are not valid and may be ignored" warning
    assert (config.max_new_tokens, config.min_new_tokens, config.num_beams, config.use_cache) == (
        33,
        0,
        1,
        True,
    )
    assert (config.typical_p, config.epsilon_cutoff, config.eta_cutoff) == (1.0, 0.0, 0.0)
    if not greedy:
        assert config.min_p == 0.0
        assert (config.temperature, config.top_k, config.top_p) == (0.9, 10, 0.8)
    static = build_generation_config(s, [2], 3, static_cache_len=512)
    assert (static.cache_implementation, static.max_cache_len) == ("static", 512)


@pytest.mark.parametrize("penalty", [1.0, 1.2, 2.0])
@pytest.mark.parametrize("ngram", [0, 2, 3])
def test_greedy_choice_is_the_reference_argmax(penalty, ngram):
    s = settings(temperature=0.0, repetition_penalty=penalty, no_repeat_ngram_size=ngram)
    for seed in range(20):
        ids, logits = random_case(seed)
        expected = int(torch.argmax(reference(s, ids, logits)))
        assert RowSampler(s, ids, VOCAB, "cpu").choose(logits) == expected
    # the simple engine: greedy adds no warpers, only the two penalties
    config = build_generation_config(s, [2], 3)
    assert not config.do_sample and config.repetition_penalty == penalty
    assert config.no_repeat_ngram_size == ngram


def test_repetition_penalty_equals_transformers_exactly_on_negative_logits():
    for penalty in (1.01, 1.3, 2.0):
        for seed in range(10):
            ids, logits = random_case(seed)
            assert (logits[ids] < 0).any() and (logits[ids] > 0).any()  # both signs are penalised
            mine = RowSampler(settings(repetition_penalty=penalty), ids, VOCAB, "cpu")._penalise(logits)
            expected = RepetitionPenaltyLogitsProcessor(penalty)(torch.tensor([ids]), logits[None])[0]
            assert torch.equal(mine, expected)


ANSWER_ONLY = {
    name: CASES[name] for name in ("penalty-1.3", "penalty-2", "ngram-2", "ngram-3", "everything", "defaults")
}


def answer_only_reference(s: GenerationSettings, prompt: list[int], ids: list[int], logits: torch.Tensor):
    """The reference processors with the penalty and the n-gram ban given only the ids after `prompt`."""
    answer = torch.tensor([ids[len(prompt) :]])
    scores = logits.clone()[None]
    if s.repetition_penalty != 1.0:
        scores = RepetitionPenaltyLogitsProcessor(s.repetition_penalty)(answer, scores)
    if s.no_repeat_ngram_size:
        scores = NoRepeatNGramLogitsProcessor(s.no_repeat_ngram_size)(answer, scores)
    no_penalties = dataclasses.replace(s, repetition_penalty=1.0, no_repeat_ngram_size=0)
    return reference_processors(no_penalties)(torch.tensor([ids]), scores)[0]


def sampler_probs(sampler: RowSampler, logits: torch.Tensor) -> torch.Tensor:
    """The row sampler's probabilities over the vocabulary (vocab,), 0 for every dropped token."""
    scores = sampler._favour_copy(sampler._ban_ngrams(sampler._penalise(logits)))
    candidates, probs = sampler.distribution(scores)
    probs = probs / probs.sum()  # top-p zeroes the tail without renormalising (multinomial does)
    return probs if candidates is None else torch.zeros_like(logits).index_put_((candidates,), probs)


@pytest.mark.parametrize("name", list(ANSWER_ONLY))
def test_answer_only_penalties_equal_transformers_given_the_answer(tiny, name):
    """`penalise_prompt=False`: the row sampler and the simple engine's processors both give the penalty
    and the n-gram ban only the generated ids, as transformers' processors given only those."""
    s = ANSWER_ONLY[name]
    for seed in range(10):
        ids, logits = random_case(seed)
        prompt, written = ids[:16], ids[16:]
        sampler = RowSampler(s, prompt, VOCAB, "cpu", penalise_prompt=False)
        for token in written:
            sampler.observe(token)
        expected = answer_only_reference(s, prompt, ids, logits)
        assert_same_distribution(sampler_probs(sampler, logits), expected)
        prepared = PreparedPrompt(prompt, s, 0, (), penalise_prompt=False)
        config = build_generation_config(s, [2], 3, tiny.model.generation_config, own_processors=True)
        built = tiny.model._get_logits_processor(config, input_ids_seq_length=len(prompt), device="cpu")
        merged = tiny.model._merge_criteria_processor_list(built, answer_only_processors(prepared))
        torch.testing.assert_close(merged(torch.tensor([ids]), logits.clone()[None])[0], expected)


@pytest.mark.parametrize("name", ["penalty-2", "ngram-2"])
def test_answer_only_penalties_leave_the_prompt_free_to_copy(name):
    """Before anything is written nothing is penalised or banned; the whole-sequence rules would be."""
    s = ANSWER_ONLY[name]
    ids, logits = random_case(0)
    answer_only = RowSampler(s, ids, VOCAB, "cpu", penalise_prompt=False)
    assert torch.equal(answer_only._ban_ngrams(answer_only._penalise(logits)), logits)
    whole = RowSampler(s, ids, VOCAB, "cpu")
    assert not torch.equal(whole._ban_ngrams(whole._penalise(logits)), logits)


def test_answer_only_processors_only_for_answer_only_prompts(tiny):
    """Whole-sequence prompts get no processors of ours (`generate` builds them from the config); with
    `own_processors` the config makes `generate` build none, ours are the whole list."""
    s = settings(repetition_penalty=1.3, no_repeat_ngram_size=2, temperature=0.7, top_k=5, top_p=0.9)
    assert len(answer_only_processors(PreparedPrompt([1, 2], s, 0, ()))) == 0
    assert len(answer_only_processors(PreparedPrompt([1, 2], s, 0, (), penalise_prompt=False))) == 5
    for chosen in (s, dataclasses.replace(s, temperature=0.0)):
        config = build_generation_config(chosen, [2], 3, tiny.model.generation_config, own_processors=True)
        config.validate(strict=True)  # no "flags are not valid and may be ignored" warning
        assert len(tiny.model._get_logits_processor(config, input_ids_seq_length=2, device="cpu")) == 0


def copy_case(seed: int) -> tuple[list[int], list[list[int]], list[int], torch.Tensor]:
    """A prompt, two forms of the source inside it (the second with another first token, as a capital
    would give), prompt + an answer that copies part of the first form, then edits, and logits (vocab,)."""
    ids, logits = random_case(seed)
    prompt, source = ids[:16], ids[4:12]
    forms = [source, [12 + seed % 5, *source[1:]]]
    return prompt, forms, [*prompt, *source[:3], *ids[16:19]], logits


def copy_reference(s: GenerationSettings, prompt, forms, ids, logits, penalise_prompt: bool) -> torch.Tensor:
    """transformers' penalty and n-gram ban (over the answer, or over everything), then `COPY_BONUS` on
    the guide's tokens, then the warpers: the bonus comes before temperature, top-k and top-p."""
    answer = ids[len(prompt) :]
    counted = torch.tensor([ids if penalise_prompt else answer])
    scores = logits.clone()[None]
    if s.repetition_penalty != 1.0:
        scores = RepetitionPenaltyLogitsProcessor(s.repetition_penalty)(counted, scores)
    if s.no_repeat_ngram_size:
        scores = NoRepeatNGramLogitsProcessor(s.no_repeat_ngram_size)(counted, scores)
    scores[0, list(CopyGuide(CopyIndex(forms)).favoured(answer))] += COPY_BONUS
    no_penalties = dataclasses.replace(s, repetition_penalty=1.0, no_repeat_ngram_size=0)
    return reference_processors(no_penalties)(torch.tensor([ids]), scores)[0]


@pytest.mark.parametrize("penalise_prompt", [False, True])
@pytest.mark.parametrize("name", list(ANSWER_ONLY))
def test_copy_bonus_equals_the_reference_in_both_engines(tiny, name, penalise_prompt):
    """A prompt with a copy source: the row sampler and the simple engine's processors add the bonus
    after the penalties and before the warpers, at the guide's tokens."""
    s = ANSWER_ONLY[name]
    for seed in range(10):
        prompt, forms, ids, logits = copy_case(seed)
        index = CopyIndex(forms)
        sampler = RowSampler(s, prompt, VOCAB, "cpu", penalise_prompt=penalise_prompt, copy_index=index)
        for token in ids[len(prompt) :]:
            sampler.observe(token)
        expected = copy_reference(s, prompt, forms, ids, logits, penalise_prompt)
        assert_same_distribution(sampler_probs(sampler, logits), expected)
        prepared = PreparedPrompt(prompt, s, 0, (), penalise_prompt, CopyIndex(forms))
        config = build_generation_config(s, [2], 3, tiny.model.generation_config, own_processors=True)
        built = tiny.model._get_logits_processor(config, input_ids_seq_length=len(prompt), device="cpu")
        merged = tiny.model._merge_criteria_processor_list(built, answer_only_processors(prepared))
        torch.testing.assert_close(merged(torch.tensor([ids]), logits.clone()[None])[0], expected)


def test_a_copy_source_with_ids_past_the_logits_favours_only_the_others():
    """An added token past the lm head (a hostile input may hold one) gets no bonus in either engine,
    rather than an index error that would fail the whole batch; the other tokens still get it."""
    s = settings(temperature=0.0)
    prompt, forms, _, logits = copy_case(0)
    index = CopyIndex([[VOCAB + 5, *forms[0]]])  # the input starts with a token the model cannot write
    answer = [*prompt, VOCAB + 5]  # as if copied: the next input token is favoured
    sampler = RowSampler(s, prompt, VOCAB, "cpu", penalise_prompt=False, copy_index=index)
    at_start = sampler._favour_copy(logits) - logits
    assert at_start.nonzero().flatten().tolist() == [forms[0][0]]
    bonus = _CopyBonus(index, len(prompt))
    scores = bonus(torch.tensor([answer]), logits.clone()[None])[0]
    assert (scores - logits).nonzero().flatten().tolist() == [forms[0][0]]


def test_a_greedy_row_with_a_copy_source_is_not_a_plain_argmax():
    """The batch's shared argmax skips rows with a copy guide: the bonus can change the greedy token."""
    s = settings(temperature=0.0)
    prompt, forms, _, logits = copy_case(0)
    logits[:] = -5.0
    logits[100], logits[forms[0][0]] = 1.0, -1.0  # 100 is best unless the bonus (4) lifts the source's first
    guided = RowSampler(s, prompt, VOCAB, "cpu", penalise_prompt=False, copy_index=CopyIndex(forms))
    plain = RowSampler(s, prompt, VOCAB, "cpu", penalise_prompt=False)
    assert choose_tokens(torch.stack([logits, logits]), [guided, plain]) == [forms[0][0], 100]


def test_repetition_penalty_ignores_ids_beyond_the_logits():
    """An id past the lm head (an added token) penalises nothing, as in transformers; not the last token."""
    ids, logits = random_case(0)
    ids = [*ids, VOCAB, VOCAB + 3]
    sampler = RowSampler(settings(repetition_penalty=1.5), ids, VOCAB, "cpu")
    sampler.observe(VOCAB)  # and when observed
    assert torch.equal(
        sampler._penalise(logits), RepetitionPenaltyLogitsProcessor(1.5)(torch.tensor([ids]), logits[None])[0]
    )


def test_batched_penalty_rows_equal_transformers():
    """`choose_tokens`' one-pass penalty over rows with different penalties, some off."""
    penalties = [1.3, 1.0, 2.0, 1.3, 1.0]
    cases = [random_case(seed) for seed in range(len(penalties))]
    samplers = [
        RowSampler(settings(temperature=0.0, repetition_penalty=p), ids, VOCAB, "cpu")
        for p, (ids, _) in zip(penalties, cases, strict=True)
    ]
    logits = torch.stack([row_logits for _, row_logits in cases])
    scores = _penalise_rows(logits, samplers, None)
    for row, (p, (ids, row_logits)) in enumerate(zip(penalties, cases, strict=True)):
        expected = RepetitionPenaltyLogitsProcessor(p)(torch.tensor([ids]), row_logits[None])[0]
        assert torch.equal(scores[row], expected if p != 1.0 else row_logits)
    assert choose_tokens(logits, samplers) == [int(torch.argmax(scores[r])) for r in range(len(penalties))]


def row_samplers(plans, cases):
    """A `RowSampler` per (settings, seed) plan on its case's prompt, seeded generators for sampled rows."""
    return [
        RowSampler(s, ids, VOCAB, "cpu", None if s.greedy else torch.Generator().manual_seed(seed))
        for (s, seed), (ids, _) in zip(plans, cases, strict=True)
    ]


MIXED = [  # greedy rows with and without penalties and n-gram bans, and sampled rows
    (settings(temperature=0.0, repetition_penalty=1.3), 0),
    (settings(temperature=0.0, no_repeat_ngram_size=2), 0),
    (settings(temperature=0.8, top_k=20, repetition_penalty=1.3), 1),
    (settings(temperature=0.0), 0),
    (settings(temperature=1.0, top_p=0.9, no_repeat_ngram_size=2, repetition_penalty=2.0), 2),
]


@pytest.mark.parametrize(
    "plans",
    [
        MIXED,
        [(settings(temperature=0.0, repetition_penalty=p), 0) for p in (1.3, 1.0, 1.3)],  # one group, not all
        [(settings(temperature=0.0, repetition_penalty=p), 0) for p in (1.3, 2.0)],  # two groups, all rows
        [(settings(temperature=0.0, repetition_penalty=1.5), 0)] * 3,
    ],
    ids=["mixed", "one-group", "two-groups", "all-alike"],
)
def test_choose_tokens_equals_each_row_alone(plans):
    """The batched chooser, given the batch's seen rows (as the engine does), picks as each row alone."""
    for step in range(5):
        cases = [random_case(100 * step + row) for row in range(len(plans))]
        logits = torch.stack([row_logits for _, row_logits in cases])
        together = row_samplers(plans, cases)
        seen = torch.stack([sampler.seen_or_blank() for sampler in together])
        alone = [
            sampler.choose(row_logits)
            for sampler, (_, row_logits) in zip(row_samplers(plans, cases), cases, strict=True)
        ]
        assert choose_tokens(logits, together, seen) == alone
        assert choose_tokens(logits, row_samplers(plans, cases)) == alone


def test_seen_or_blank():
    penalised = RowSampler(settings(repetition_penalty=1.2), [3, 5], VOCAB, "cpu")
    assert penalised.seen_or_blank().nonzero().flatten().tolist() == [3, 5]
    plain = RowSampler(settings(), [3, 5], VOCAB, "cpu").seen_or_blank()
    assert plain.shape == (VOCAB,) and plain.dtype == torch.bool and not plain.any()


def test_sampler_state_is_made_on_the_given_device():
    """On a GPU the masks must live with the logits; "meta" stands in for a second device here."""
    assert RowSampler(settings(repetition_penalty=1.2), [], VOCAB, "meta").seen.device.type == "meta"
    assert RowSampler(settings(), [3], VOCAB, "meta").seen_or_blank().device.type == "meta"


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_no_repeat_ngram_bans_like_transformers_from_the_sequence_start(n):
    """Every prefix length, from shorter than the n-gram on, and after tokens observed one by one."""
    g = torch.Generator().manual_seed(n)
    sequence = torch.randint(0, 4, (30,), generator=g).tolist()  # 4 tokens: n-grams repeat often
    logits = torch.randn(VOCAB, generator=g)
    s = settings(temperature=0.0, no_repeat_ngram_size=n)
    observed = RowSampler(s, sequence[:1], VOCAB, "cpu")
    for length in range(1, len(sequence) + 1):
        prefix = sequence[:length]
        expected = NoRepeatNGramLogitsProcessor(n)(torch.tensor([prefix]), logits.clone()[None])[0]
        fresh = RowSampler(s, prefix, VOCAB, "cpu")._ban_ngrams(logits)
        assert torch.equal(fresh, expected), (n, length)
        assert torch.equal(observed._ban_ngrams(logits), expected), (n, length)
        if length < len(sequence):
            observed.observe(sequence[length])
    assert torch.isinf(expected).any()  # the bans really happened


def test_seen_tokens_are_recorded_when_observed():
    s = settings(temperature=0.0, repetition_penalty=1.5)
    sampler = RowSampler(s, [5, 6], VOCAB, "cpu")
    logits = torch.randn(VOCAB, generator=torch.Generator().manual_seed(0))
    sampler.observe(7)
    expected = RepetitionPenaltyLogitsProcessor(1.5)(torch.tensor([[5, 6, 7]]), logits[None])[0]
    assert torch.equal(sampler._penalise(logits), expected)
    assert sampler.ids == [5, 6, 7]


def test_top_k_keeps_every_token_tied_with_the_kth():
    """Ties at the boundary (common with bf16 logits): transformers keeps them all."""
    logits = torch.tensor([4.0, 3.0, 2.0, 2.0, 2.0, 1.0, 0.5, -1.0])
    for k in (1, 2, 3, 4, 5, 8, 1000):
        s = settings(top_k=k)
        assert_same_distribution(ours(s, [0], logits), reference(s, [0], logits))
    assert (ours(settings(top_k=3), [0], logits) > 0).sum() == 5


def test_top_p_keep_rule():
    """The smallest head of descending probs reaching top_p; the tail is zeroed, the head untouched."""
    probs = torch.tensor([0.5, 0.25, 0.125, 0.0625, 0.0625])
    assert _top_p_keep(probs, 0.75).tolist() == [0.5, 0.25, 0.0, 0.0, 0.0]  # the head sums to exactly p
    assert _top_p_keep(probs, 0.76).tolist() == [0.5, 0.25, 0.125, 0.0, 0.0]
    assert _top_p_keep(probs, 0.5).tolist() == [0.5, 0.0, 0.0, 0.0, 0.0]
    assert _top_p_keep(probs, 0.0).tolist() == [0.5, 0.0, 0.0, 0.0, 0.0]  # always keeps the top token
    assert _top_p_keep(probs, 0.95).tolist() == probs.tolist()
    assert _top_p_keep(torch.tensor([1.0]), 0.3).tolist() == [1.0]


def sample_counts(s: GenerationSettings, logits: torch.Tensor, draws: int) -> torch.Tensor:
    """How often each token is drawn (vocab,) by a seeded row sampler."""
    sampler = RowSampler(s, [], logits.shape[-1], "cpu", torch.Generator().manual_seed(s.seed))
    counts = torch.zeros(logits.shape[-1])
    for _ in range(draws):
        counts[sampler.choose(logits)] += 1
    return counts


def entropy(counts: torch.Tensor) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * p.log()).sum())


def test_sampled_entropy_rises_with_temperature():
    logits = torch.randn(64, generator=torch.Generator().manual_seed(1)) * 2
    entropies = [entropy(sample_counts(settings(temperature=t), logits, 1500)) for t in (0.25, 0.7, 1.2, 2.0)]
    assert entropies == sorted(entropies) and entropies[-1] - entropies[0] > 1.0, entropies
    assert entropies[-1] < math.log(64)


def test_sampled_tokens_are_exactly_top_ps_kept_set():
    """Draws land only in the reference's kept set, and (with many draws) cover all of it."""
    logits = torch.randn(VOCAB, generator=torch.Generator().manual_seed(2)) * 3
    for s in (settings(top_p=0.6), settings(top_p=0.9, temperature=0.5), settings(top_k=8, top_p=0.95)):
        kept = torch.isfinite(reference(s, [], logits))
        drawn = sample_counts(s, logits, 2000) > 0
        assert 2 <= int(kept.sum()) <= 12
        assert torch.equal(drawn, kept), s


def test_a_seed_reproduces_the_draws_and_another_changes_them():
    logits = torch.randn(VOCAB, generator=torch.Generator().manual_seed(3))
    first = sample_counts(settings(seed=5), logits, 50)
    assert torch.equal(first, sample_counts(settings(seed=5), logits, 50))
    assert not torch.equal(first, sample_counts(settings(seed=6), logits, 50))
