"""Playwright steps on the app's page shared by the browser tests and `bench/desk_stream.py`."""

from __future__ import annotations


def status_line(page, tab: str) -> str:
    """The tab's status line, without gradio's progress overlay ("processing | 0.1s"), which shows
    above the previous line while a request starts and made a finished-looking status of it."""
    return page.locator(f"#{tab}-status [data-testid='markdown']").inner_text()


def set_number(page, label: str, value: int) -> None:
    """Type a value into a settings slider's number box."""
    box = page.locator(f'input[aria-label="number input for {label}"]')
    box.fill(str(value))
    box.press("Enter")


def set_seed(page, value: int) -> None:
    """Type a seed into the Seed box, opening the folded part of the settings panel if it is shut.

    The accordion mounts its contents when first opened; typing before that settles can be
    lost, so wait for the box, type, commit with Enter and check the value stayed.
    """
    box = page.get_by_label("Seed")
    if not box.is_visible():
        page.get_by_text("More settings").click()
        box.wait_for(state="visible")
        page.wait_for_timeout(300)
    box.fill(str(value))
    box.press("Enter")
    page.wait_for_function(
        "(v) => document.querySelector('input[aria-label=\"Seed\"]')?.value === v", arg=str(value)
    )
