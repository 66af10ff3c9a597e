"""Which tokens keep a rewrite on its input's words (pure Python: both engines use it).

A rewrite (the Formal rewrite preset: spell out shorthand, add capitals and punctuation) mostly
copies its input. A small model drifts off it: it garbles a rare word, skips a clause, loops.
`CopyGuide` follows the answer along the input and names the input tokens that would continue the
copy; the sampler adds `COPY_BONUS` to their logits, a nudge the model overrides where it is sure
of an edit ("u" -> "you"):

1. the longest suffix of the answer (up to `MAX_MATCH` tokens) found in the input: the tokens that
   follow it there are favoured (none once the copy has reached the input's end), and the guide's
   place moves to the first match at or after it;
2. no suffix found (the answer just wrote its own word, e.g. "because" for "cuz"): the next two
   input tokens from the guide's place are favoured, so the copy can resume after the edit;
3. an empty answer starts at the input's first tokens.

Example::

    guide = CopyGuide([5, 6, 7, 8])
    guide.favoured([])        # (5, 6): start at the input's beginning
    guide.favoured([5, 6])    # (7,): "5 6" was copied, "7" follows it
"""

from __future__ import annotations

from collections.abc import Sequence

# A logit bonus of 4 (about e^4 = 55x the odds) measured best for the Formal rewrite preset at the
# default settings on held-out book sentences and chat messages (2, 3, 4, 6 tried; docs/training.md).
COPY_BONUS = 4.0
MAX_MATCH = 4  # longest answer suffix looked up in the input (tokens)


class CopyGuide:
    """Follows one growing answer along its input's token ids (`source`).

    `favoured` may be asked at every step or now and then: the guide walks the tokens written since
    it was last asked, so its place is the same either way. A shorter answer than the last one
    starts a new walk.
    """

    def __init__(self, source: Sequence[int]) -> None:
        self.source = list(source)
        self.place = 0  # index of the input token the copy would write next
        self.walked = 0  # how many answer tokens the place accounts for
        # after[(t1..tk)] = indices j with source[j-k:j] == (t1..tk), ascending: where a copy of it goes
        # on; j == len(source) is the input's end (nothing follows)
        self.after: dict[tuple[int, ...], list[int]] = {}
        for size in range(1, MAX_MATCH + 1):
            for j in range(size, len(self.source) + 1):
                self.after.setdefault(tuple(self.source[j - size : j]), []).append(j)

    def favoured(self, answer: Sequence[int]) -> tuple[int, ...]:
        """The input tokens that would continue the copy after `answer` (the ids written so far)."""
        if len(answer) < self.walked:
            self.place, self.walked = 0, 0
        for end in range(self.walked + 1, len(answer) + 1):
            self._walk(answer[max(0, end - MAX_MATCH) : end])
        self.walked = len(answer)
        follows = self._follows(answer[-MAX_MATCH:]) if answer else []
        if follows:
            return tuple(sorted({self.source[j] for j in follows if j < len(self.source)}))
        return tuple(sorted(set(self.source[self.place : self.place + 2])))

    def _walk(self, tail: Sequence[int]) -> None:
        """Move the place past the answer's newest token: the first match of `tail` at or after it."""
        follows = self._follows(tail)
        if follows:
            self.place = next((j for j in follows if j >= self.place), follows[0])

    def _follows(self, tail: Sequence[int]) -> list[int]:
        """Where the longest suffix of `tail` found in the input goes on there (indices), or []."""
        for size in range(len(tail), 0, -1):
            follows = self.after.get(tuple(tail[-size:]))
            if follows:
                return follows
        return []
