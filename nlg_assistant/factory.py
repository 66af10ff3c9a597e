"""Build the `Backend` that `AppConfig` asks for (imports torch only when a local model is used)."""

from __future__ import annotations

from .backend import Backend
from .config import AppConfig


def build_backend(config: AppConfig) -> Backend:
    """The backend for `config`: the in-process model (batched engine or simple path) or a remote server.

    Raises `models.ModelLoadError` (local) or `backend.GenerationError` (remote) with a message
    that names what failed and how to fix it.
    """
    if config.backend == "openai":
        from .remote import OpenAIBackend

        return OpenAIBackend.from_config(config)
    from .models import HOLDER, resolve_model_spec

    loaded = HOLDER.get_or_load(resolve_model_spec(config.model), config.device)
    if config.engine == "batched":
        from .engine import BatchedBackend

        return BatchedBackend.from_config(loaded, config)
    from .generation import LocalBackend

    return LocalBackend(
        loaded, config.max_new_tokens_cap, config.request_timeout_s, static_cache=config.static_cache
    )
