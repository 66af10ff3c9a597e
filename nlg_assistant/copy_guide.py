"""Which tokens keep a rewrite on its input's words (pure Python: both engines use it).

A rewrite (the Formal rewrite preset: spell out shorthand, add capitals and punctuation) mostly
copies its input. A small model drifts off it: it garbles a rare word, skips a clause, loops.
`CopyGuide` follows the answer along the input and names the input tokens that would continue the
copy; the sampler adds `COPY_BONUS` to their logits, a nudge the model overrides where it is sure
of an edit ("u" -> "you"). The input may come in several token forms (as written, and with a
capital first letter, the edit a rewrite makes most): the guide follows whichever the answer copies.

1. the longest suffix of the answer (up to `MAX_MATCH` tokens) found in a form: the tokens that
   follow it there are favoured (none once the copy has reached the input's end), and the guide's
   place moves to the first match at or after it (in the form it was in, if it is found there);
2. no suffix found (the answer just wrote its own word, e.g. "because" for "cuz"): the next two
   tokens from the guide's place are favoured, so the copy can resume after the edit;
3. an empty answer starts at every form's first tokens.

Example::

    guide = CopyGuide(CopyIndex([[5, 6, 7, 8], [9, 6, 7, 8]]))   # "5" with a capital is "9"
    guide.favoured([])        # (5, 6, 9): start at the input's beginning, in either form
    guide.favoured([9, 6])    # (7,): "9 6" was copied, "7" follows it
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

# A logit bonus of 4 (about e^4 = 55x the odds) measured best for the Formal rewrite preset at the
# default settings on held-out book sentences and chat messages (2, 3, 4, 6 tried; docs/training.md).
COPY_BONUS = 4.0
MAX_MATCH = 4  # longest answer suffix looked up in the input (tokens)


Place = tuple[int, int]  # (form, index of the token the copy would write next)


class CopyIndex:
    """Where each run of up to `MAX_MATCH` input tokens occurs in the input's token forms, and what
    follows it; built once per request, read only, shared by its drafts' guides.

    after[(t1..tk)] = places (f, j) with forms[f][j-k:j] == (t1..tk), in order: where a copy of that
    run goes on (j == len(forms[f]) is the input's end: nothing follows). next_tokens[run] = the
    distinct tokens that follow it, worked out here, so a step costs the same however often the run
    occurs (an input of one word repeated thousands of times).
    """

    def __init__(self, forms: Sequence[Sequence[int]]) -> None:
        self.forms = tuple(tuple(form) for form in forms)
        self.after: dict[tuple[int, ...], list[Place]] = {}
        for f, form in enumerate(self.forms):
            for size in range(1, MAX_MATCH + 1):
                for j in range(size, len(form) + 1):
                    self.after.setdefault(form[j - size : j], []).append((f, j))
        self.next_tokens = {run: self._tokens_at(places) for run, places in self.after.items()}

    def _tokens_at(self, places: list[Place]) -> tuple[int, ...]:
        """The distinct tokens at `places`, sorted (a place at a form's end has none)."""
        return tuple(sorted({self.forms[f][j] for f, j in places if j < len(self.forms[f])}))


class CopyGuide:
    """Follows one growing answer along the input's token forms (`index`, a `CopyIndex`).

    `favoured` may be asked at every step or now and then: the guide walks the tokens written since
    it was last asked, so its place is the same either way. A shorter answer than the last one
    starts a new walk.
    """

    def __init__(self, index: CopyIndex) -> None:
        self.index = index
        self.place: Place = (0, 0)
        self.walked = 0  # how many answer tokens the place accounts for

    def favoured(self, answer: Sequence[int], width: int | None = None) -> tuple[int, ...]:
        """The input tokens that would continue the copy after `answer` (the ids written so far); with
        `width` (the logits' width), only those below it: an added token past the lm head has no logit."""
        tokens = self._favoured(answer)
        return tokens if width is None else tuple(t for t in tokens if t < width)

    def _favoured(self, answer: Sequence[int]) -> tuple[int, ...]:
        """`favoured` for every width."""
        if len(answer) < self.walked:
            self.place, self.walked = (0, 0), 0
        for end in range(self.walked + 1, len(answer) + 1):
            self._walk(answer[max(0, end - MAX_MATCH) : end])
        self.walked = len(answer)
        forms = self.index.forms
        if not answer:
            return tuple(sorted({token for form in forms for token in form[:2]}))
        run = self._longest_run(answer[-MAX_MATCH:])
        if run is not None:
            return self.index.next_tokens[run]
        f, j = self.place
        return tuple(sorted(set(forms[f][j : j + 2])))

    def _walk(self, tail: Sequence[int]) -> None:
        """Move the place past the answer's newest token: the first match of `tail` at or after it in
        the place's form, else its first match."""
        run = self._longest_run(tail)
        if run is None:
            return
        places = self.index.after[run]  # in (form, index) order
        at = bisect_left(places, self.place)
        same_form = at < len(places) and places[at][0] == self.place[0]
        self.place = places[at] if same_form else places[0]

    def _longest_run(self, tail: Sequence[int]) -> tuple[int, ...] | None:
        """The longest suffix of `tail` found in a form, or None."""
        for size in range(len(tail), 0, -1):
            run = tuple(tail[-size:])
            if run in self.index.after:
                return run
        return None
