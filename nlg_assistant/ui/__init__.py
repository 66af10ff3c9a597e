"""The Gradio web UI and its HTTP API (gradio only; never torch or transformers).

`build_ui(backend, config)` returns a `gr.Blocks` with three task tabs (`story_tab`,
`article_tab`, `fewshot_tab`), the shared settings panel (`settings`) and one streaming API
endpoint per task (`api`). Each tab's output side (Undo, drafts, export) is `output`. The UI
knows the model only through the `backend.Backend` protocol, and the tasks only through
`tasks/`, which the API and the command line share.
"""

from __future__ import annotations

import inspect
import threading

import gradio as gr
from starlette.middleware import Middleware

from ..backend import Backend, BackendInfo, max_new_tokens_limit
from ..config import AppConfig
from ..exports import ExportFolder
from ..limits import request_body_limit
from ..locales import message
from ..mcp_login import McpLogin
from ..refusals import install_refusal_filter
from ..request_check import Endpoint, RequestCheck
from ..visitor_gate import VisitorGate
from .api import register_api
from .article_tab import article_tab
from .desk import DESK_CSS, restore_on_load
from .fewshot_tab import fewshot_tab
from .i18n import app_css, app_i18n, fixed, language_js, language_switch
from .output import APP_TITLE
from .serving import Serving, concurrency_limit
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
    """App name, model and device, and the language switch."""

    def header(language: str) -> str:
        kind = message(language, "header.chat_model" if info.chat else "header.base_model")
        model = message(
            language, "header.model", model=info.model_name, kind=kind, device=info.device,
            window=f"{info.context_window:,}",
        )  # fmt: skip
        return f"# ✍️ {APP_TITLE}\n{model}"

    with gr.Row(equal_height=True):
        gr.Markdown(fixed(header, "header"), elem_id="app-header")
        language_switch()


CACHE_SWEEP = (300, 900)  # every 5 minutes, delete gradio's cached files older than 15 minutes
# A page load sends back each tab's work saved in the browser: at most the browser's local
# storage for the site (5 MiB in Chrome, Firefox and Safari), as one base64 string.
BROWSER_STORE_BYTES = 5 * 1024 * 1024


def build_ui(backend: Backend, config: AppConfig, exports: ExportFolder | None = None) -> gr.Blocks:
    """The app: header, three task tabs, the shared settings panel and the streaming API endpoints.

    Max new tokens is bounded by the server cap and by what the loaded model can do; every text
    field by `config.max_input_chars`. Exports go to `exports` (a fresh folder when None).
    """
    limit = max_new_tokens_limit(backend.info.context_window, config.max_new_tokens_cap)
    serving = Serving(limit, config.max_input_chars, exports or ExportFolder(), config.lang)
    with gr.Blocks(title=APP_TITLE, analytics_enabled=False, delete_cache=CACHE_SWEEP) as demo:
        _header(backend.info)
        shortcuts_help()
        with gr.Row():
            with gr.Column(scale=3):
                tabs = gr.Tabs(overflow_behavior="wrap")  # on a phone every tab stays in sight
            with gr.Column(scale=1, min_width=300):
                settings = settings_panel(limit)
        with tabs:
            desks = [make(backend, settings, serving) for make in (story_tab, article_tab, fewshot_tab)]
        restore_on_load(demo, desks, settings)
        register_api(backend, serving)
    demo.queue(default_concurrency_limit=concurrency_limit(config), max_size=config.max_queue)
    return demo


def _middleware(demo: gr.Blocks, config: AppConfig) -> list[Middleware]:
    """The request check and the visitor gate, and with --mcp and a login the MCP routes' Basic
    login (`McpLogin`) in front of them (the first in the list sees a request first)."""
    gates = [_request_check(demo, config), _visitor_gate(demo, config)]
    if config.mcp and config.auth:
        gates.insert(0, Middleware(McpLogin, pairs=config.auth))
    return gates


def _request_check(demo: gr.Blocks, config: AppConfig) -> Middleware:
    """Body limits from --max-input-chars, and each API endpoint's inputs (`RequestCheck`)."""
    return Middleware(
        RequestCheck,
        queued_bytes=request_body_limit(config.max_input_chars),
        other_bytes=request_body_limit(config.max_input_chars, BROWSER_STORE_BYTES),
        endpoints=api_endpoints(demo),
        max_chars=config.max_input_chars,
        trust_proxy=config.trust_proxy,
    )


def api_endpoints(demo: gr.Blocks) -> dict[str, Endpoint]:
    """Every public endpoint's inputs, from its function's signature (one name per gradio input)."""
    endpoints = {}
    for fn in demo.fns.values():
        if fn.api_visibility != "public" or not fn.api_name:
            continue
        params = list(inspect.signature(fn.fn).parameters.values())
        if len(params) == len(fn.inputs):  # no gr.Request or other injected argument
            names = tuple(p.name for p in params)
            required = tuple(p.name for p in params if p.default is inspect.Parameter.empty)
            texts = tuple(p.name for p in params if p.annotation in (str, "str"))
            endpoints[fn.api_name] = Endpoint(names, required, texts, fn._id)
    return endpoints


def _mcp_client_login(demo: gr.Blocks, config: AppConfig, url: str) -> None:
    """Log gradio's MCP loopback client in (it cannot fill in the login form); MCP callers are
    checked by `McpLogin` before a tool runs.

    The client is made when the first tool is called, as gradio's own is: made here, after
    `launch`, it took seconds, and a tool called meanwhile got gradio's client without a login.
    """
    server = demo.mcp_server_obj
    if not (config.mcp and config.auth and server):
        return
    from gradio_client import Client

    lock = threading.Lock()

    def logged_in_client() -> Client:
        with lock:
            if server._client_instance is None:
                server._client_instance = Client(
                    url, auth=config.auth[0], verbose=False, analytics_enabled=False,
                    download_files=False, headers={"x-gradio-user": "mcp"}, _skip_components=False,
                )  # fmt: skip
            return server._client_instance

    server._get_or_create_client = logged_in_client


def _visitor_gate(demo: gr.Blocks, config: AppConfig) -> Middleware:
    """The per-visitor cap at the queue's door (`VisitorGate`): an event counts while queued or running."""

    def alive(event_id: str) -> bool:
        return event_id in demo._queue.event_ids_to_events

    return Middleware(
        VisitorGate, max_per_visitor=config.max_per_visitor, trust_proxy=config.trust_proxy, alive=alive
    )


def launch(demo: gr.Blocks, config: AppConfig, block: bool = True) -> str:
    """Serve `demo` on `config.host:config.port` and return the local URL.

    With `config.share`, gradio tries to open a public tunnel; when that fails (no internet,
    tunnel binary missing) it says why on stdout and the app keeps serving locally.
    """
    install_refusal_filter()  # one line per refused request, at most a few per visitor a minute
    demo.launch(
        auth=[tuple(pair) for pair in config.auth] or None,
        max_file_size=int(config.max_upload_mb * 1024 * 1024),  # bytes
        app_kwargs={"middleware": _middleware(demo, config)},
        mcp_server=config.mcp,
        server_name=config.host,
        server_port=config.port,
        share=config.share,
        show_error=False,  # clients see only our own messages (gr.Error), never raw exception text
        prevent_thread_lock=True,
        theme=gr.themes.Soft(primary_hue="indigo", neutral_hue="slate"),
        css=CSS + DESK_CSS + app_css(demo),
        js=f"() => {{ ({SHORTCUTS_JS})(); ({language_js()})(); }}",
        i18n=app_i18n(demo),
        footer_links=["api", "gradio"],
        quiet=not config.share,  # gradio's own hint names launch(share=True), not our --share flag
    )
    url = demo.local_url or f"http://{config.host}:{config.port}/"
    _mcp_client_login(demo, config, url)
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
