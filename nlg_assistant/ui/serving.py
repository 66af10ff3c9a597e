"""What every tab and the API share when serving requests: one concurrency group, caps, exports.

Every generation event (Generate, Continue, Regenerate, Draft outline) and every API endpoint
runs in ONE gradio concurrency group (`GENERATION_EVENTS`), so at most `concurrency_limit`
generations run at once whichever button or endpoint started them: gradio applies a limit per
group, and with one group per event six handlers could run six times the engine's batch
(issue 13). The group's limit is the queue's default limit, set from the config in `build_ui`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr

from ..config import AppConfig
from ..exports import ExportFolder
from ..limits import LimitError, check_text_size
from ..locales import translate
from ..refusals import log_refusal

GENERATION_GROUP = "generate"
# "default": the group's limit is the queue's default_concurrency_limit (`concurrency_limit`).
GENERATION_EVENTS: dict[str, Any] = {"concurrency_id": GENERATION_GROUP, "concurrency_limit": "default"}


def concurrency_limit(config: AppConfig) -> int:
    """How many generation events run at once: 1 for the one-at-a-time path, else the batch size."""
    if config.backend == "local" and config.engine == "simple":
        return 1
    return config.max_batch_size


@dataclass(frozen=True)
class Serving:
    """One app's serving bounds, passed to every tab and the API (built once in `build_ui`)."""

    limit: int  # the highest max_new_tokens this server and model allow
    max_input_chars: int  # --max-input-chars, per text field
    exports: ExportFolder  # where Export writes its files (swept as it goes)
    lang: str = "en"  # --lang: the language of the API's status lines and errors

    def check_texts(self, names: Sequence[str], values: Sequence[Any]) -> None:
        """Raise `LimitError` for the first value that is not text or is too long (before any prompt).

        Tables (the few-shot examples) count every cell's characters together.
        """
        for name, value in zip(names, values, strict=False):
            check_text_size(name, _as_text(value), self.max_input_chars)

    def check_fields(self, fields: Mapping[str, Any]) -> None:
        """`check_texts` for a tab's fields by name; numbers, checkboxes and empty values are not text."""
        texts = {n: v for n, v in fields.items() if v is not None and not isinstance(v, int | float)}
        self.check_texts(list(texts), list(texts.values()))

    def export(self, stem: str, markdown: str) -> str:
        """Write an export file (its size checked first) and return its path."""
        check_text_size("export", markdown, self.max_input_chars * 4)  # fields plus output, joined
        return self.exports.write(stem, markdown)


def _as_text(value: Any) -> Any:
    """A table's cells joined (one size for the whole table); any other value unchanged."""
    if hasattr(value, "values") and hasattr(value, "columns"):  # a pandas DataFrame
        value = value.values.tolist()
    if isinstance(value, list) and all(isinstance(row, list | tuple) for row in value):
        return "".join(str(cell) for row in value for cell in row if cell is not None)
    return value


def refused(error: LimitError, lang: str = "en") -> gr.Error:
    """A refused request: logged (`log_refusal`, rate-limited), our message for the visitor in `lang`."""
    log_refusal(str(error))
    return gr.Error(translate(lang, str(error)), print_exception=False)
