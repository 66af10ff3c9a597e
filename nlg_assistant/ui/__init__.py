"""The Gradio web UI and its HTTP API (gradio only; never torch or transformers).

`build_ui(backend, config)` returns a `gr.Blocks` with three task tabs (`story_tab`,
`article_tab`, `fewshot_tab`), the shared settings panel (`settings`) and one streaming API
endpoint per task (`api`). Each tab's output side (Undo, drafts, export) is `output`. The UI
knows the model only through the `backend.Backend` protocol, and the tasks only through
`tasks/`, which the API and the command line share.
"""

from __future__ import annotations

import gradio as gr

from ..backend import Backend, BackendInfo, max_new_tokens_limit
from ..config import AppConfig
from .api import register_api
from .article_tab import article_tab
from .fewshot_tab import fewshot_tab
from .output import APP_TITLE
from .settings import settings_panel
from .shortcuts import SHORTCUTS_JS, shortcuts_help
from .story_tab import story_tab

CSS = """
#app-header h1 { margin-bottom: 0.1em; }
#app-header p { margin-top: 0; opacity: 0.8; }
.status-line { min-height: 2.5em; font-size: 0.9em; opacity: 0.9; }
.counts-line, .shortcuts-help { font-size: 0.85em; opacity: 0.8; }
#fewshot-table table, #fewshot-table td, #fewshot-table th { font-family: var(--font); }
"""


def _header(info: BackendInfo) -> None:
    """App name, model and device."""
    kind = "chat model" if info.chat else "base model"
    gr.Markdown(
        f"# ✍️ {APP_TITLE}\n"
        f"Model **{info.model_name}** ({kind}) on **{info.device}** · context window "
        f"{info.context_window:,} tokens",
        elem_id="app-header",
    )


def concurrency_limit(config: AppConfig) -> int:
    """How many generation events run at once: 1 for the one-at-a-time path, else the batch size."""
    if config.backend == "local" and config.engine == "simple":
        return 1
    return config.max_batch_size


def build_ui(backend: Backend, config: AppConfig) -> gr.Blocks:
    """The app: header, three task tabs, the shared settings panel and the streaming API endpoints.

    Max new tokens is bounded by the server cap and by what the loaded model can do.
    """
    limit = max_new_tokens_limit(backend.info.context_window, config.max_new_tokens_cap)
    with gr.Blocks(title=APP_TITLE, analytics_enabled=False) as demo:
        _header(backend.info)
        shortcuts_help()
        with gr.Row():
            with gr.Column(scale=3):
                tabs = gr.Tabs()
            with gr.Column(scale=1, min_width=300):
                settings = settings_panel(limit)
        with tabs:
            story_tab(backend, settings, limit)
            article_tab(backend, settings, limit)
            fewshot_tab(backend, settings, limit)
        register_api(backend, limit)
    demo.queue(default_concurrency_limit=concurrency_limit(config), max_size=config.max_queue)
    return demo


def launch(demo: gr.Blocks, config: AppConfig, block: bool = True) -> str:
    """Serve `demo` on `config.host:config.port` and return the local URL.

    With `config.share`, gradio tries to open a public tunnel; when that fails (no internet,
    tunnel binary missing) it says why on stdout and the app keeps serving locally.
    """
    demo.launch(
        server_name=config.host,
        server_port=config.port,
        share=config.share,
        show_error=True,
        prevent_thread_lock=True,
        theme=gr.themes.Soft(primary_hue="indigo", neutral_hue="slate"),
        css=CSS,
        js=SHORTCUTS_JS,
        footer_links=["api", "gradio"],
        quiet=not config.share,  # gradio's own hint names launch(share=True), not our --share flag
    )
    url = demo.local_url or f"http://{config.host}:{config.port}/"
    if not config.share:
        print(f"* Running on {url} (python app.py --share also opens a public link)", flush=True)
    if config.share and not demo.share_url:
        print(
            "--share: no public share link could be created (this machine cannot reach gradio's "
            f"share servers, see the message above); the app keeps serving locally at {url}",
            flush=True,
        )
    if block:
        demo.block_thread()
    return url
