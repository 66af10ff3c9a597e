"""Find, load and hold the causal LM (torch + transformers; never gradio).

`resolve_model_spec` turns the `--model` value (or nothing) into a folder or hub id,
`load_model` loads tokenizer + model onto a device, and `HOLDER` keeps the one loaded
model of the process behind a lock, so every request shares it.

Example::

    loaded = HOLDER.get_or_load(resolve_model_spec("HuggingFaceTB/SmolLM2-360M-Instruct"), "auto")
    print(loaded.name, loaded.device, loaded.context_window, loaded.chat)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .redact import redact_text

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL_DIR = REPO_ROOT / "assets" / "models" / "storyteller"
DEVICES = ("auto", "cpu", "cuda")
FALLBACK_CONTEXT_WINDOW = 2048
# Tokenizers without a real limit report a huge sentinel (int(1e30)) as model_max_length.
_SANE_MAX_LENGTH = 1_000_000
_HOW_TO_CHOOSE = (
    "pass --model with a local model folder or a hub id such as "
    "'Qwen/Qwen2.5-0.5B-Instruct' or 'HuggingFaceTB/SmolLM2-360M-Instruct', or set NLG_MODEL"
)


class ModelLoadError(RuntimeError):
    """The model could not be found or loaded; the message names it and says how to fix it."""


@dataclass(frozen=True)
class LoadedModel:
    """A model ready for generation, with what callers need to know about it."""

    model: Any  # transformers PreTrainedModel, in eval mode, on `device`
    tokenizer: Any  # the matching tokenizer; pad token set (falls back to eos)
    name: str
    device: str
    dtype: Any  # torch.dtype of the weights
    context_window: int
    chat: bool


def resolve_model_spec(spec: str | None) -> str:
    """The model to load: `spec` as given, or the house model folder when `spec` is None.

    Raises `ModelLoadError` when no model was given and the house model is not there.
    """
    if spec is not None and spec.strip():
        return spec.strip()
    if DEFAULT_MODEL_DIR.is_dir():
        return str(DEFAULT_MODEL_DIR)
    raise ModelLoadError(
        f"no model given and the default model folder {DEFAULT_MODEL_DIR} does not exist; {_HOW_TO_CHOOSE}"
    )


def load_model(spec: str, device: str = "auto") -> LoadedModel:
    """Load tokenizer and causal LM from a local folder or hub id onto `device` (auto|cpu|cuda).

    CUDA uses bf16 when supported (else fp16); CPU uses fp32. Raises `ModelLoadError`.
    """
    device_name = _pick_device(device)
    dtype = _pick_dtype(device_name)
    source = _locate(spec)
    tokenizer, model = _load_parts(spec, source, dtype)
    model.to(device_name)
    model.eval()
    if tokenizer.pad_token_id is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        name=_display_name(spec, source),
        device=device_name,
        dtype=dtype,
        context_window=_context_window(model.config, tokenizer),
        chat=bool(getattr(tokenizer, "chat_template", None)),
    )


def _pick_device(device: str) -> str:
    """'cpu' or 'cuda' for the requested device; 'cuda' without CUDA is an error."""
    import torch

    if device not in DEVICES:
        raise ModelLoadError(f"--device must be one of {', '.join(DEVICES)} (got {device!r})")
    has_cuda = torch.cuda.is_available()
    if device == "cuda" and not has_cuda:
        raise ModelLoadError("--device cuda was asked for but no CUDA GPU is available; use --device cpu")
    return "cuda" if device == "cuda" or (device == "auto" and has_cuda) else "cpu"


def _pick_dtype(device_name: str) -> Any:
    """bf16 on GPUs that support it, else fp16 on GPU; fp32 on CPU."""
    import torch

    if device_name == "cpu":
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _looks_like_path(spec: str) -> bool:
    """True when `spec` can only be a filesystem path (a hub id is exactly 'org/name' or 'name')."""
    return spec.startswith((".", "/", "~", "\\")) or spec.count("/") > 1 or "\\" in spec


def _locate(spec: str) -> Path | None:
    """The local folder for `spec`, or None when it should be fetched from the hub."""
    path = Path(spec).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelLoadError(f"model {spec!r}: {path} is a file; pass the folder that holds config.json")
        if not (path / "config.json").is_file():
            raise ModelLoadError(
                f"model {spec!r}: folder {path} has no config.json, so it is not a saved transformers "
                f"model; {_HOW_TO_CHOOSE}"
            )
        return path
    if _looks_like_path(spec):
        raise ModelLoadError(f"model {spec!r}: folder {path} does not exist; {_HOW_TO_CHOOSE}")
    return None


def _load_parts(spec: str, source: Path | None, dtype: Any) -> tuple[Any, Any]:
    """AutoTokenizer + AutoModelForCausalLM from `source` (a folder) or the hub id `spec`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    where = str(source) if source is not None else spec
    try:
        tokenizer = AutoTokenizer.from_pretrained(where)
        model = AutoModelForCausalLM.from_pretrained(where, dtype=dtype)
    except Exception as exc:  # transformers raises OSError, ValueError, KeyError... for bad models
        raise ModelLoadError(_load_failure_message(spec, source, exc)) from exc
    return tokenizer, model


def _load_failure_message(spec: str, source: Path | None, exc: Exception) -> str:
    """A message that names the model, says what went wrong and how to fix it."""
    detail = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    detail = redact_text(detail)  # a hub error may quote a signed download URL
    if source is None:
        return (
            f"could not download {spec!r} (no network? wrong id?); pass a local model folder "
            f"with --model or check the id on huggingface.co ({detail})"
        )
    return f"could not load the model in folder {source}: {detail}"


def _display_name(spec: str, source: Path | None) -> str:
    """The hub id, or the folder's name for a local model."""
    return spec if source is None else source.resolve().name


def _context_window(config: Any, tokenizer: Any) -> int:
    """The most tokens (prompt + output) the model handles, from its config and tokenizer."""
    candidates = [getattr(config, name, None) for name in ("max_position_embeddings", "n_positions", "n_ctx")]
    candidates.append(getattr(tokenizer, "model_max_length", None))
    sane = [int(c) for c in candidates if isinstance(c, int) and 0 < c < _SANE_MAX_LENGTH]
    return min(sane) if sane else FALLBACK_CONTEXT_WINDOW


class ModelHolder:
    """The process's one loaded model, behind a lock so concurrent callers load it only once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[str, str] | None = None
        self._loaded: LoadedModel | None = None

    def get_or_load(self, spec: str, device: str = "auto") -> LoadedModel:
        """The model for (`spec`, `device`), loading it on first use (a new spec replaces the old)."""
        with self._lock:
            if self._loaded is None or self._key != (spec, device):
                self._loaded = None  # drop the old model before loading another
                self._loaded = load_model(spec, device)
                self._key = (spec, device)
            return self._loaded

    @property
    def loaded(self) -> LoadedModel | None:
        """The model loaded so far, if any."""
        return self._loaded


HOLDER = ModelHolder()


def gpu_decorator() -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`spaces.GPU` on Hugging Face ZeroGPU Spaces (when `spaces` imports), else a no-op decorator.

    Decided at call time, so importing this module never imports `spaces`. Outside ZeroGPU
    `spaces.GPU` has no effect. Not verified on ZeroGPU itself: there the decorated call runs
    in another process, which the in-process streaming queue of `generation` does not cross.
    """
    try:
        import spaces
    except ImportError:
        return _identity
    return spaces.GPU


def _identity(function: Callable[..., Any]) -> Callable[..., Any]:
    """Return `function` unchanged."""
    return function
