"""Pre-training / distillation loop: AdamW, warm-up + cosine decay, clipping, validation, exact resume."""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from nlg_assistant.training import data, modeling
from nlg_assistant.training import tokenizer as tk


@dataclass(frozen=True)
class TrainSettings:
    """Everything that defines a run; stored in every checkpoint."""

    data_dir: str
    out_dir: str
    preset: str = "teacher"
    seq_len: int = 0  # 0 = the preset's
    batch_size: int = 16
    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 100
    max_steps: int = 1000
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    eval_every: int = 200
    eval_windows: int = 64
    ckpt_every: int = 200
    log_every: int = 10
    seed: int = 0
    max_minutes: float = 0.0  # 0 = no time budget
    device: str = "auto"
    teacher: str = ""  # HF folder; empty = plain LM training
    alpha: float = 1.0  # weight of the hard-label CE when distilling
    temperature: float = 2.0

    @property
    def shape(self) -> modeling.ModelShape:
        """The preset shape with the optional seq_len override."""
        base = modeling.PRESETS[self.preset]
        return modeling.ModelShape(
            base.d_model, base.n_layers, base.n_heads, base.d_ff, self.seq_len or base.seq_len
        )


def pick_device(name: str) -> torch.device:
    """'auto' -> cuda when available, else cpu."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def lr_factor(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warm-up to 1, then cosine decay to `min_ratio` at `total` steps (flat after)."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def make_optimizer(model, s: TrainSettings):
    """AdamW with weight decay on matrices only (not norms), plus the warm-up/cosine LambdaLR."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": s.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=s.lr, betas=(0.9, 0.95), eps=1e-8)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda st: lr_factor(st, s.warmup_steps, s.max_steps, s.min_lr_ratio)
    )
    return opt, sched


def lm_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy; logits (B, T, V), targets (B, T)."""
    return F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), targets.reshape(-1))


def distillation_loss(student_logits, teacher_logits, targets, alpha: float, temperature: float):
    """alpha * CE(targets) + (1 - alpha) * T^2 * KL(teacher_T || student_T), averaged over tokens."""
    v = student_logits.size(-1)
    s = student_logits.float().reshape(-1, v)
    ce = F.cross_entropy(s, targets.reshape(-1))
    if alpha >= 1.0 or teacher_logits is None:
        return ce
    t_logp = F.log_softmax(teacher_logits.float().reshape(-1, v) / temperature, dim=-1)
    s_logp = F.log_softmax(s / temperature, dim=-1)
    kl = F.kl_div(s_logp, t_logp, log_target=True, reduction="batchmean")
    return alpha * ce + (1 - alpha) * temperature**2 * kl


def autocast(device: torch.device):
    """bf16 autocast on CUDA; plain fp32 on CPU (bf16 matmuls are not faster on small CPUs)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


@torch.no_grad()
def evaluate(model, tokens, seq_len: int, max_windows: int, device, batch_size: int = 16) -> float:
    """Mean next-token loss (nats) over fixed non-overlapping validation windows."""
    model.eval()
    starts = data.val_windows(len(tokens), seq_len, max_windows)
    total, count = 0.0, 0
    for i in range(0, len(starts), batch_size):
        x, y = data.get_batch(tokens, starts[i : i + batch_size], seq_len)
        with autocast(device):
            logits = model(input_ids=x.to(device)).logits
        loss = F.cross_entropy(
            logits.float().reshape(-1, logits.size(-1)), y.to(device).reshape(-1), reduction="sum"
        )
        total += loss.item()
        count += y.numel()
    model.train()
    return total / max(1, count)


def rng_state() -> dict:
    """All RNG states that could influence training."""
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore the states saved by `rng_state`."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, model, opt, sched, step: int, seconds: float, s: TrainSettings) -> None:
    """Atomic write of everything needed to continue exactly at `step` (the data position)."""
    blob = {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "step": step,
        "seconds": seconds,
        "rng": rng_state(),
        "settings": asdict(s),
        "config": model.config.to_dict(),
    }
    tmp = path.with_suffix(".tmp")
    torch.save(blob, tmp)
    tmp.replace(path)


def load_checkpoint(path: Path, model, opt, sched) -> tuple[int, float]:
    """Load a checkpoint into existing objects; returns (step, training seconds so far)."""
    blob = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(blob["model"])
    opt.load_state_dict(blob["optimizer"])
    sched.load_state_dict(blob["scheduler"])
    set_rng_state(blob["rng"])
    return blob["step"], blob["seconds"]


@dataclass
class Run:
    """The live objects of one training run."""

    model: object
    teacher: object
    opt: object
    sched: object
    tok: object
    train_tokens: np.ndarray
    val_tokens: np.ndarray
    device: torch.device
    step: int = 0
    seconds: float = 0.0
    last_ce: float = 0.0  # hard-label CE of the last step (differs from the loss when distilling)


def load_teacher(folder: str, device: torch.device):
    """A frozen teacher in eval mode, or None."""
    if not folder:
        return None
    from transformers import AutoModelForCausalLM

    teacher = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).to(device).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def setup(s: TrainSettings, resume: bool = True) -> Run:
    """Build tokenizer, data maps, model (seeded init), optimizer; resume from out_dir/ckpt.pt if present."""
    device = pick_device(s.device)
    d = Path(s.data_dir)
    tok = tk.load_tokenizer(d / "tokenizer")
    model = modeling.build_model(modeling.llama_config(s.shape, tok), s.seed).to(device)
    opt, sched = make_optimizer(model, s)
    run = Run(
        model,
        load_teacher(s.teacher, device),
        opt,
        sched,
        tok,
        data.open_tokens(d / "train.bin"),
        data.open_tokens(d / "val.bin"),
        device,
    )
    ckpt = Path(s.out_dir) / "ckpt.pt"
    if resume and ckpt.exists():
        run.step, run.seconds = load_checkpoint(ckpt, model, opt, sched)
    return run


def train_step(run: Run, s: TrainSettings) -> float:
    """One optimizer step on the batch for `run.step`; returns the (hard-label or distillation) loss."""
    offsets = data.batch_offsets(len(run.train_tokens), s.shape.seq_len, s.batch_size, s.seed, run.step)
    x, y = data.get_batch(run.train_tokens, offsets, s.shape.seq_len)
    x, y = x.to(run.device), y.to(run.device)
    with autocast(run.device):
        logits = run.model(input_ids=x).logits  # (B, T, V)
        t_logits = None
        if run.teacher is not None and s.alpha < 1.0:
            with torch.no_grad():
                t_logits = run.teacher(input_ids=x).logits
    loss = distillation_loss(logits, t_logits, y, s.alpha, s.temperature)
    run.last_ce = lm_loss(logits.detach(), y).item() if t_logits is not None else loss.item()
    run.opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(run.model.parameters(), s.grad_clip)
    run.opt.step()
    run.sched.step()
    run.step += 1
    return loss.item()


def log_metrics(out_dir: Path, record: dict) -> None:
    """Append one JSON line to out_dir/metrics.jsonl."""
    with open(out_dir / "metrics.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")


def validate(run: Run, s: TrainSettings, out_dir: Path) -> float:
    """Validation loss on the fixed windows; logged with perplexity."""
    val = evaluate(run.model, run.val_tokens, s.shape.seq_len, s.eval_windows, run.device)
    log_metrics(
        out_dir, {"step": run.step, "val_loss": val, "val_ppl": math.exp(val), "seconds": run.seconds}
    )
    return val


def export_model(model, tok, folder: Path, dtype=None) -> Path:
    """Save a folder that AutoModelForCausalLM / AutoTokenizer load without custom code."""
    import copy

    folder.mkdir(parents=True, exist_ok=True)
    out = copy.deepcopy(model).to("cpu")
    if dtype is not None:
        out = out.to(dtype)
    out.save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    return folder


def run_training(s: TrainSettings, progress: bool = True) -> dict:
    """Train until max_steps or the time budget; checkpoint, validate, and export out_dir/final."""
    from tqdm import tqdm

    out_dir = Path(s.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "settings.json").write_text(json.dumps(asdict(s), indent=1))
    run = setup(s)
    start, budget = time.time(), s.max_minutes * 60
    seconds0, tokens_per_step = run.seconds, s.batch_size * s.shape.seq_len
    bar = tqdm(total=s.max_steps, initial=run.step, disable=not progress, mininterval=10)
    losses, ces = [], []
    while run.step < s.max_steps and not (budget and time.time() - start > budget):
        losses.append(train_step(run, s))
        ces.append(run.last_ce)
        run.seconds = seconds0 + time.time() - start
        bar.update(1)
        if run.step % s.log_every == 0:
            log_metrics(
                out_dir,
                {
                    "step": run.step,
                    "train_loss": float(np.mean(losses)),
                    "train_ce": float(np.mean(ces)),
                    "lr": run.sched.get_last_lr()[0],
                    "tokens": run.step * tokens_per_step,
                    "seconds": run.seconds,
                },
            )
            bar.set_postfix(loss=f"{np.mean(losses):.3f}")
            losses, ces = [], []
        if run.step % s.eval_every == 0:
            validate(run, s, out_dir)
        if run.step % s.ckpt_every == 0:
            save_checkpoint(out_dir / "ckpt.pt", run.model, run.opt, run.sched, run.step, run.seconds, s)
    bar.close()
    val = validate(run, s, out_dir)  # always measured at the final step (may repeat the last periodic one)
    save_checkpoint(out_dir / "ckpt.pt", run.model, run.opt, run.sched, run.step, run.seconds, s)
    export_model(run.model, run.tok, out_dir / "final")
    summary = {
        "step": run.step,
        "tokens_seen": run.step * tokens_per_step,
        "seconds": run.seconds,
        "val_loss": val,
        "val_ppl": math.exp(val),
        "params": modeling.count_parameters(run.model),
        "device": str(run.device),
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary
