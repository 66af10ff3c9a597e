"""A tab's "settled" event: the browser fires it once the tab's fields stop changing, unless a
generation is streaming into them.

Why: the autosave and the counts line used to listen to every `.change` of the document and the
status. While a generation streams (~7 updates a second), each update then sent the fields to the
server twice only for the handlers to skip (they do nothing mid-stream): 42 requests per 200-token
generation instead of 3 (`bench/desk_stream.py`), each a round trip a public server pays for. Gradio cannot
drop an event from the browser, so the `.change` listeners here run in the browser only: each
(re)starts a short timer, and when it runs out the tab's status line is read from the page; if it
does not say a generation is running, the tab's hidden "settled" button is clicked, and the
handlers wired to that click run once, on the server. The end of a generation changes the status
line, so what it wrote is saved and counted then.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import gradio as gr

from .output import OutputArea, running_marks

SETTLE_MS = 150  # typing pauses and a stream's last update land well within this


def settle_js(tab: str) -> str:
    """The browser-side listener: restart the tab's timer; when it runs out, click the button unless the
    tab's status line reads as a running generation (in any language)."""
    marks, timer = json.dumps(list(running_marks())), json.dumps(f"__settle_{tab}")
    return f"""() => {{
        clearTimeout(window[{timer}]);
        window[{timer}] = setTimeout(() => {{
            // the line itself, not gradio's progress overlay above it ("processing | 0.1s")
            const line = document.querySelector("#{tab}-status [data-testid='markdown']");
            const status = (line || document.querySelector("#{tab}-status"))?.innerText || "";
            if (!{marks}.some((mark) => status.includes(mark))) {{
                document.querySelector("#{tab}-settled")?.click();
            }}
        }}, {SETTLE_MS});
    }}"""


def settle_on(area: OutputArea, triggers: Sequence[Any]) -> None:
    """Have the browser click `area.settled` once `triggers` (components) stop changing while the tab
    is not generating; wire the server-side handlers to `area.settled.click`. A component already
    listened to (the desk and the counts line both name the document) gets no second listener."""
    fresh = [part for part in triggers if id(part) not in area.settling]
    area.settling.update(id(part) for part in fresh)
    if not fresh:
        return
    gr.on(
        [part.change for part in fresh],
        None,
        None,
        None,
        js=settle_js(area.tab),
        queue=False,
        api_visibility="private",
    )
