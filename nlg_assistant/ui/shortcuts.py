"""Keyboard shortcuts: a page script (passed to `launch(js=...)`) and the help line that lists them.

The script clicks the visible tab's buttons by element id (``<tab>-generate``, ``<tab>-continue``,
``<tab>-stop``, ``<tab>-undo``, ``<tab>-redo``), so a shortcut does exactly what the button does.
Ctrl+Z / Ctrl+Y reach the app's Undo / Redo only when the focus is not in a text field: inside
one, the browser's own undo of the typing applies. Cmd works for Ctrl on a Mac.
"""

from __future__ import annotations

import gradio as gr

from .i18n import phrase

SHORTCUTS_JS = """
() => {
  if (window.nlgShortcuts) return;
  window.nlgShortcuts = true;
  const visible = (el) => el && el.offsetParent !== null && !el.disabled;
  const click = (part) => {
    for (const button of document.querySelectorAll(`[id$="-generate"]`)) {
      if (!visible(button)) continue;
      const tab = button.id.slice(0, -"-generate".length);
      const target = document.getElementById(`${tab}-${part}`);
      if (visible(target)) { target.click(); return true; }
    }
    return false;
  };
  const typing = (el) => el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
  document.addEventListener("keydown", (event) => {
    const ctrl = event.ctrlKey || event.metaKey;
    const key = event.key.toLowerCase();
    let part = null;
    if (ctrl && key === "enter") part = event.shiftKey ? "continue" : "generate";
    else if (key === "escape" && !ctrl) part = "stop";
    else if (ctrl && !typing(document.activeElement) && !event.altKey) {
      if (key === "z") part = event.shiftKey ? "redo" : "undo";
      else if (key === "y") part = "redo";
    }
    if (part && click(part)) { event.preventDefault(); event.stopPropagation(); }
  }, true);
}
"""


def shortcuts_help() -> gr.Markdown:
    """The small line that lists the shortcuts (element id ``shortcuts-help``)."""
    return gr.Markdown(phrase("shortcuts.help"), elem_id="shortcuts-help", elem_classes="shortcuts-help")
