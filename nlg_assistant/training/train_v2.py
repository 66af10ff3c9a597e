"""v2 pre-training loop: Muon + AdamW, warm-up-stable-decay across runs, light checkpoints, decay at seq 512
with the fine-tuning mix, a JSONL loss log and tqdm progress.

A run folder holds `ckpt.pt` (weights, Muon momentum, step/tokens and the schedule state; no AdamW
moments or RNG: batches are a pure function of (seed, step), and a resume re-warms the learning rate
over `warmup_steps` so the fresh AdamW moments settle). Re-running the same command continues it;
`--init-from FOLDER` starts from a model folder (e.g. the shipped weights) when there is no checkpoint.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from nlg_assistant.training import data, modeling, optim
from nlg_assistant.training import tokenizer as tk
from nlg_assistant.training.train import autocast, evaluate, export_model, lm_loss, pick_device


@dataclass(frozen=True)
class V2Settings:
    """Everything that defines a v2 run; stored in every checkpoint."""

    data_dir: str
    out_dir: str
    init_from: str = ""  # HF model folder to start from when out_dir has no checkpoint
    preset: str = "teacher"
    seq_len: int = 256
    decay_seq_len: int = 512  # the decay phase trains on longer windows (same tokens per step)
    batch_size: int = 16
    lr: float = 1e-3  # peak for both groups (Muon's update RMS is matched to AdamW's)
    min_lr_ratio: float = 0.05
    warmup_steps: int = 20  # also the re-warm-up after every resume
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    muon: bool = True
    rope_theta: float = 80000.0  # measured: see docs/training.md (per-position perplexity)
    max_minutes: float = 0.0  # this invocation's time budget (0 = none)
    decay_minutes: float = 0.0  # decay in the last N minutes of the budget (0 = stay stable)
    max_steps: int = 0  # step mode instead of time: total steps (0 = none)
    decay_frac: float = 0.0  # step mode: decay over the last fraction of max_steps
    mix: str = ""  # fine-tuning token file mixed into the decay (read when the decay starts)
    mix_frac: float = 0.07  # share of decay rows drawn from `mix`
    copy_frac: float = 0.0  # share of rows (every phase) that are copy drills: random spans, each repeated
    eval_every: int = 100
    eval_windows: int = 32
    ckpt_minutes: float = 3.0
    log_every: int = 10
    seed: int = 1
    device: str = "auto"
    bf16_weights: bool = False  # store checkpoint weights in bf16 (half the size, tiny rounding)


@dataclass
class Schedule:
    """Where the WSD schedule stands: decay_start is None while stable."""

    decay_start: int | None = None
    decay_steps: int = 0

    def factor(self, step: int, s: V2Settings, warm_from: int) -> float:
        """LR multiplier at `step`; `warm_from` is the step this invocation started at (re-warm-up)."""
        warm = optim.wsd_factor(step - warm_from, s.warmup_steps, None, 0, 1.0)
        return min(warm, optim.wsd_factor(step, 0, self.decay_start, self.decay_steps, s.min_lr_ratio))

    def done(self, step: int) -> bool:
        """True once the decay has run its course."""
        return self.decay_start is not None and step >= self.decay_start + self.decay_steps


@dataclass
class V2Run:
    """The live objects of one v2 run."""

    model: object
    opts: list
    tok: object
    train_tokens: np.ndarray
    val_tokens: np.ndarray
    device: torch.device
    step: int = 0
    tokens: int = 0
    seconds: float = 0.0
    sched: Schedule = field(default_factory=Schedule)
    mix_tokens: np.ndarray | None = None
    mix_starts: np.ndarray | None = None
    last_seq: int = 0  # window length of the last step trained
    copy_rows: int = 0  # copy drills at the end of the current batch (`add_copy_rows`)
    copy_losses: list = field(default_factory=list)  # their mean loss, per step since the last log line


def load_init(folder: str, rope_theta: float, max_positions: int, device):
    """A model folder's weights as a trainable LlamaForCausalLM with `rope_theta` set."""
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(folder)
    config.rope_parameters = {"rope_theta": rope_theta, "rope_type": "default"}
    config.max_position_embeddings = max(config.max_position_embeddings, max_positions)
    model = AutoModelForCausalLM.from_pretrained(folder, config=config, dtype=torch.float32)
    return model.to(device).train()


def build_model(s: V2Settings, tok, device):
    """From `init_from`, or freshly initialised from the preset, with the v2 rope_theta."""
    if s.init_from:
        return load_init(s.init_from, s.rope_theta, s.decay_seq_len * 2, device)
    config = modeling.llama_config(modeling.PRESETS[s.preset], tok)
    config.rope_parameters = {"rope_theta": s.rope_theta, "rope_type": "default"}
    config.max_position_embeddings = max(config.max_position_embeddings, s.decay_seq_len * 2)
    return modeling.build_model(config, s.seed).to(device)


def save_checkpoint(path: Path, run: V2Run, s: V2Settings) -> None:
    """Atomic write of weights (fp32 or bf16), Muon momentum (bf16), counters and schedule state."""
    dtype = torch.bfloat16 if s.bf16_weights else torch.float32
    names = {id(p): n for n, p in run.model.named_parameters()}
    momentum = {
        names[id(p)]: st["momentum_buffer"].to(torch.bfloat16)
        for p, st in run.opts[0].state.items()
        if "momentum_buffer" in st
    }
    blob = {
        "weights": {k: v.to(dtype) for k, v in run.model.state_dict().items()},
        "momentum": momentum if s.muon else {},
        "step": run.step,
        "tokens": run.tokens,
        "seconds": run.seconds,
        "schedule": asdict(run.sched),
        "settings": asdict(s),
        "config": run.model.config.to_dict(),
    }
    tmp = path.with_suffix(".tmp")
    torch.save(blob, tmp)
    tmp.replace(path)


def load_checkpoint(path: Path, run: V2Run) -> None:
    """Restore what `save_checkpoint` wrote into `run` (weights back to fp32)."""
    blob = torch.load(path, map_location="cpu", weights_only=False)
    run.model.load_state_dict({k: v.float() for k, v in blob["weights"].items()})
    params = dict(run.model.named_parameters())
    if run.opts and isinstance(run.opts[0], optim.Muon):
        for name, buf in blob["momentum"].items():
            run.opts[0].state[params[name]]["momentum_buffer"] = buf.float().to(run.device)
    run.step, run.tokens, run.seconds = blob["step"], blob["tokens"], blob["seconds"]
    run.sched = Schedule(**blob["schedule"])


def setup(s: V2Settings) -> V2Run:
    """Tokenizer, token maps, model (init or checkpoint) and optimizers."""
    device = pick_device(s.device)
    d = Path(s.data_dir)
    tok = tk.load_tokenizer(d / "tokenizer")
    model = build_model(s, tok, device)
    opts = optim.make_optimizers(model, s.lr, s.weight_decay, s.muon)
    run = V2Run(model, opts, tok, data.open_tokens(d / "train.bin"), data.open_tokens(d / "val.bin"), device)
    ckpt = Path(s.out_dir) / "ckpt.pt"
    if ckpt.exists():
        load_checkpoint(ckpt, run)
    return run


def phase_shape(run: V2Run, s: V2Settings) -> tuple[int, int]:
    """(seq_len, batch) of the current phase: longer windows in the decay, same tokens per step."""
    if run.sched.decay_start is not None and run.step >= run.sched.decay_start:
        return s.decay_seq_len, max(1, s.batch_size * s.seq_len // s.decay_seq_len)
    return s.seq_len, s.batch_size


def load_mix(run: V2Run, s: V2Settings) -> None:
    """Open the fine-tuning mix (if its file exists now) and index its example starts (<s> tokens)."""
    if not s.mix or run.mix_tokens is not None or not Path(s.mix).exists():
        return
    tokens = data.open_tokens(Path(s.mix))
    starts = np.flatnonzero(np.asarray(tokens) == run.tok.bos_token_id)
    run.mix_tokens, run.mix_starts = tokens, starts


def make_batch(run: V2Run, s: V2Settings) -> tuple[torch.Tensor, torch.Tensor]:
    """The step's (inputs, targets), (B, T): corpus windows, plus mix rows at example starts in the decay."""
    seq, batch = phase_shape(run, s)
    offsets = data.batch_offsets(len(run.train_tokens), seq, batch, s.seed, run.step)
    x, y = data.get_batch(run.train_tokens, offsets, seq)
    in_decay = seq == s.decay_seq_len and run.sched.decay_start is not None
    if in_decay and run.mix_starts is not None and len(run.mix_starts):
        rng = np.random.default_rng([s.seed, run.step, 7])
        n_mix = int(rng.binomial(batch, s.mix_frac))
        usable = run.mix_starts[run.mix_starts < len(run.mix_tokens) - seq - 1]
        if n_mix and len(usable):
            mx, my = data.get_batch(run.mix_tokens, rng.choice(usable, n_mix), seq)
            x[:n_mix], y[:n_mix] = mx, my
    return add_copy_rows(run, s, x, y)


def add_copy_rows(run: V2Run, s: V2Settings, x: torch.Tensor, y: torch.Tensor):
    """`x`, `y` with the last ~copy_frac of their rows replaced by copy drills (`data.copy_rows`); their
    number is kept in `run.copy_rows` for the step's loss log."""
    rng = np.random.default_rng([s.seed, run.step, 11])
    n_copy = run.copy_rows = int(rng.binomial(len(x), s.copy_frac)) if s.copy_frac else 0
    if n_copy:
        vocab = np.arange(max(run.tok.all_special_ids) + 1, len(run.tok))  # any id but the special ones
        x[-n_copy:], y[-n_copy:] = data.copy_rows(vocab, rng, n_copy, x.shape[1])
    return x, y


def train_step(run: V2Run, s: V2Settings, warm_from: int) -> float:
    """One optimizer step; returns the loss (nats/token)."""
    x, y = make_batch(run, s)
    lr = s.lr * run.sched.factor(run.step, s, warm_from)
    optim.set_lr(run.opts, lr)
    x, y = x.to(run.device), y.to(run.device)
    with autocast(run.device):
        logits = run.model(input_ids=x).logits  # (B, T, V)
    loss = lm_loss(logits, y)
    if run.copy_rows:  # ~ln(vocab) until the model copies, about half that once it copies every repeat
        run.copy_losses.append(lm_loss(logits[-run.copy_rows :].detach(), y[-run.copy_rows :]).item())
    for opt in run.opts:
        opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(run.model.parameters(), s.grad_clip)
    for opt in run.opts:
        opt.step()
    run.step += 1
    run.tokens += x.numel()
    run.last_seq = x.size(1)
    return loss.item()


def maybe_start_decay(run: V2Run, s: V2Settings, elapsed: float, steps_per_s: float) -> None:
    """Fix the decay (start, length) once: step mode from max_steps, time mode from the measured step rate."""
    if run.sched.decay_start is not None:
        return
    if s.max_steps and s.decay_frac:
        start = int(s.max_steps * (1 - s.decay_frac))
        if run.step >= start:
            run.sched = Schedule(start, s.max_steps - start)
    elif s.decay_minutes and s.max_minutes and elapsed >= (s.max_minutes - s.decay_minutes) * 60:
        # longer windows cost a little more per step: plan for 90% of the measured rate
        run.sched = Schedule(run.step, max(1, int(0.9 * steps_per_s * s.decay_minutes * 60)))
    if run.sched.decay_start is not None:
        load_mix(run, s)


def log_line(out_dir: Path, record: dict) -> None:
    """Append one JSON line to out_dir/metrics.jsonl."""
    with open(out_dir / "metrics.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")


def validate(run: V2Run, s: V2Settings, out_dir: Path) -> float:
    """Validation loss on fixed seq_len windows of val.bin, logged."""
    val = evaluate(run.model, run.val_tokens, s.seq_len, s.eval_windows, run.device)
    log_line(out_dir, {"step": run.step, "tokens": run.tokens, "val_loss": val, "val_ppl": math.exp(val)})
    return val


def should_stop(run: V2Run, s: V2Settings, elapsed: float) -> bool:
    """Decay finished, max_steps reached, or the budget spent (8% grace to finish a decay)."""
    if run.sched.done(run.step) or (s.max_steps and run.step >= s.max_steps):
        return True
    grace = 1.08 if run.sched.decay_start is not None else 1.0
    return bool(s.max_minutes) and elapsed > s.max_minutes * 60 * grace


def run_v2(s: V2Settings, progress: bool = True) -> dict:
    """Train until the decay ends, max_steps or the budget; checkpoint every `ckpt_minutes`; export final/."""
    from tqdm import tqdm

    out_dir = Path(s.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "settings.json").write_text(json.dumps(asdict(s), indent=1))
    run = setup(s)
    warm_from, start, seconds0, last_ckpt = run.step, time.time(), run.seconds, time.time()
    if run.sched.decay_start is not None:
        load_mix(run, s)
    bar = tqdm(total=s.max_steps or None, initial=run.step, disable=not progress, mininterval=30)
    losses = []
    while not should_stop(run, s, time.time() - start):
        losses.append(train_step(run, s, warm_from))
        elapsed = time.time() - start
        run.seconds = seconds0 + elapsed
        bar.update(1)
        maybe_start_decay(run, s, elapsed, (run.step - warm_from) / max(elapsed, 1e-9))
        if run.step % s.log_every == 0:
            log_train(run, s, out_dir, losses, elapsed, warm_from)
            bar.set_postfix(loss=f"{np.mean(losses):.3f}")
            losses = []
        if run.step % s.eval_every == 0:
            validate(run, s, out_dir)
        if time.time() - last_ckpt > s.ckpt_minutes * 60:
            save_checkpoint(out_dir / "ckpt.pt", run, s)
            last_ckpt = time.time()
    bar.close()
    return finish(run, s, out_dir)


def log_train(run: V2Run, s: V2Settings, out_dir: Path, losses: list, elapsed: float, warm_from: int) -> None:
    """One train record: mean loss since the last, lr, tokens, phase, this invocation's tokens/s."""
    seq, per_step = run.last_seq, s.batch_size * s.seq_len
    record = {
        "step": run.step,
        "train_loss": float(np.mean(losses)),
        "lr": run.opts[0].param_groups[0]["lr"],
        "tokens": run.tokens,
        "seconds": run.seconds,
        "seq_len": seq,
        "phase": "decay" if seq == s.decay_seq_len and run.sched.decay_start is not None else "stable",
        "tokens_per_s": (run.step - warm_from) * per_step / max(elapsed, 1e-9),
        "mix": run.mix_tokens is not None,
    }
    if run.copy_losses:
        record["copy_loss"] = float(np.mean(run.copy_losses))
        run.copy_losses.clear()
    log_line(out_dir, record)


def finish(run: V2Run, s: V2Settings, out_dir: Path) -> dict:
    """Final validation, checkpoint, export of final/ (when the decay is done) and summary.json."""
    val = validate(run, s, out_dir)
    save_checkpoint(out_dir / "ckpt.pt", run, s)
    decayed = run.sched.done(run.step)
    if decayed or not (s.decay_minutes or s.decay_frac):
        export_model(run.model, run.tok, out_dir / "final")
    summary = {
        "step": run.step,
        "tokens_seen_this_run": run.tokens,
        "seconds": run.seconds,
        "val_loss": val,
        "val_ppl": math.exp(val),
        "decayed": decayed,
        "schedule": asdict(run.sched),
        "params": modeling.count_parameters(run.model),
        "init_from": s.init_from,
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def export_checkpoint(run_dir: Path, folder: Path) -> Path:
    """Write a run's latest checkpoint (e.g. mid-run, before the decay) as a model folder for `eval`."""
    if not (Path(run_dir) / "ckpt.pt").exists():
        raise FileNotFoundError(f"no checkpoint in {run_dir}")
    s = V2Settings(**json.loads((Path(run_dir) / "settings.json").read_text()))
    run = setup(replace(s, device="cpu"))
    return export_model(run.model, run.tok, Path(folder))
