"""Gradual pruning with fine-tuning (DESIGN.md section 7; Zhu & Gupta 2017).

``pruning_steps`` pruning events follow a schedule from ``initial_sparsity`` to ``sparsity``;
``"cubic"`` is ``s_t = s + (s_0 - s)(1 - t/T)^3`` for t = 1..T. Each event is one call of
:func:`prune` (any method: ``"magnitude"`` gives gradual magnitude pruning, GMP, the standard
baseline; ``"chita"``/``"chita++"`` solve the Fisher problem at the current weights), with BN
recalibration. After event t < T the model trains ``epochs_per_step`` epochs, after the last one
``final_epochs``. While it trains the masks are held fixed by :class:`MaskEnforcer` (pruned
weights stay exactly zero through every optimizer step, momentum and weight decay included).

Training is either the built-in loop (``optimizer`` factory, cross-entropy by default, a cosine
learning rate over all epochs, batches drawn from a generator seeded per epoch) or the user's
own ``train_fn(model, step)``. With ``checkpoint=path`` the state after every step (weights,
masks, optimizer, RNG, history) is written atomically; a later call with the same arguments
resumes after the last finished step and ends in the same state as an uninterrupted run.
"""

from __future__ import annotations

import math
import numbers
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sparse_regression.constants import GRADUAL_WEIGHT_DECAY

from .allocation import SCHEDULES
from .mask_enforcer import MaskEnforcer
from .pruner import FLOP_METHODS, METHODS, prune
from .snapshot import ModelSnapshot
from .targets import resolve_targets

__all__ = ["prune_gradually", "gradual_schedule", "GradualStep", "GradualReport"]


@dataclass
class GradualStep:
    """One pruning event: its index (1-based), sparsity, and the epochs trained after it."""

    index: int
    n_steps: int
    sparsity: float
    epochs: int
    first_epoch: int
    total_epochs: int

    @property
    def is_final(self) -> bool:
        return self.index == self.n_steps


@dataclass
class GradualReport:
    """Result of :func:`prune_gradually`: final masks and one record per pruning step."""

    method: str
    sparsity: float
    schedule: list[float]
    masks: dict[str, torch.Tensor]
    history: list[dict[str, Any]] = field(default_factory=list)
    total_epochs: int = 0
    resumed_from: int = 0
    times: dict[str, float] = field(default_factory=dict)

    @property
    def achieved_sparsity(self) -> float:
        total = sum(m.numel() for m in self.masks.values())
        return 1.0 - sum(int(m.sum()) for m in self.masks.values()) / total

    def summary(self) -> str:
        lines = [
            f"chita prune_gradually: method={self.method}, sparsity={self.sparsity:g} "
            f"(achieved {self.achieved_sparsity:.4f}), {len(self.schedule)} steps, "
            f"{self.total_epochs} epochs"
            + (f", resumed after step {self.resumed_from}" if self.resumed_from else ""),
            "step  sparsity  epochs  train loss  prune s  train s",
        ]
        for h in self.history:
            loss = h.get("train_loss")
            lines.append(
                f"{h['step']:>4}  {h['sparsity']:>8.4f}  {h['epochs']:>6}  "
                f"{'-' if loss is None else f'{loss:.4f}':>10}  {h['time_prune']:>7.2f}  "
                f"{h['time_train']:>7.2f}"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def gradual_schedule(
    sparsity: float, steps: int, schedule="cubic", initial_sparsity: float = 0.0
) -> list[float]:
    """Sparsity after each of ``steps`` pruning events (the last one is ``sparsity``).

    ``"cubic"``: ``s_t = s + (s_0 - s)(1 - t/T)^3``; ``"linear"``: ``s_0 + (s - s_0) t/T``;
    ``"geometric"``: constant density ratio ``(1 - s_t) = (1 - s_0)^(1-t/T) (1 - s)^(t/T)``;
    or an explicit non-decreasing sequence ending at ``sparsity``.
    """
    if not isinstance(schedule, str):
        seq = [float(v) for v in schedule]
        if len(seq) != steps or any(b < a for a, b in zip(seq, seq[1:], strict=False)):
            raise ValueError(
                f"schedule: a sequence must have pruning_steps={steps} non-decreasing entries, "
                f"got {seq}."
            )
        if not math.isclose(seq[-1], sparsity):
            raise ValueError(f"schedule must end at sparsity={sparsity}, got {seq[-1]}.")
        seq[-1] = float(sparsity)
        return seq
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES} or a sequence, got {schedule!r}.")
    s0, s = float(initial_sparsity), float(sparsity)
    out = []
    for t in range(1, steps + 1):
        f = t / steps
        if schedule == "cubic":
            v = s + (s0 - s) * (1 - f) ** 3
        elif schedule == "linear":
            v = s0 + (s - s0) * f
        else:
            v = 1 - (1 - s0) ** (1 - f) * (1 - s) ** f
        out.append(float(v))
    out[-1] = s
    return out


def _check(name, value, lo=0, integer=True):
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind) or value < lo:
        what = "an integer" if integer else "a number"
        raise ValueError(f"{name} must be {what} >= {lo}, got {value!r}.")
    return value


def _batches(data, epoch: int, batch_size: int, seed: int):
    """Training batches of one epoch: tensors are shuffled by a generator seeded per epoch."""
    if (
        isinstance(data, (tuple, list))
        and len(data) == 2
        and all(isinstance(t, torch.Tensor) for t in data)
    ):
        X, Y = data
        g = torch.Generator().manual_seed(seed * 100_003 + epoch)
        perm = torch.randperm(len(X), generator=g)
        for i in range(0, len(X), batch_size):
            idx = perm[i : i + batch_size]
            yield X[idx], Y[idx]
    else:
        yield from data


def _default_optimizer(params):
    return torch.optim.SGD(
        params, lr=0.01, momentum=0.9, weight_decay=GRADUAL_WEIGHT_DECAY, nesterov=True
    )


def prune_gradually(
    model: nn.Module,
    data,
    *,
    sparsity: float,
    method: str = "magnitude",
    pruning_steps: int = 8,
    schedule="cubic",
    initial_sparsity: float = 0.0,
    epochs_per_step: int = 1,
    final_epochs: int = 4,
    train_fn: Callable[[nn.Module, GradualStep], Any] | None = None,
    optimizer: Callable | None = None,
    batch_size: int = 64,
    loss_fn: Callable | None = None,
    lr_schedule: str = "cosine",
    flop_budget: float | None = None,
    prune_kwargs: dict | None = None,
    targets=None,
    ignore=None,
    checkpoint: str | os.PathLike | None = None,
    callback: Callable[[dict], Any] | None = None,
    progress: bool = True,
    random_state: int = 0,
) -> GradualReport:
    """Prune ``model`` to ``sparsity`` over ``pruning_steps`` events, training in between.

    Parameters
    ----------
    model : nn.Module
        A trained network; it is pruned and trained in place.
    data : (inputs, targets) tensors or DataLoader
        Training data: calibration samples for each pruning event (``n_samples`` in
        ``prune_kwargs``), BN recalibration, and the built-in training loop.
    sparsity, method, pruning_steps, schedule, initial_sparsity
        Target, the :func:`prune` method of every event, and the schedule
        (:func:`gradual_schedule`).
    epochs_per_step, final_epochs
        Epochs trained after each event but the last, and after the last. Total:
        ``(pruning_steps - 1) * epochs_per_step + final_epochs``.
    train_fn : callable(model, step) or None
        The user's own training loop for one interval (``step.epochs`` epochs, ``step`` a
        :class:`GradualStep`). The masks are enforced on any optimizer it steps. Without it
        the built-in loop runs: ``optimizer(params)`` (default SGD lr 0.01, momentum 0.9,
        Nesterov, weight decay 1e-4) with a cosine learning rate over all epochs
        (``lr_schedule="cosine"``; ``"constant"`` keeps it), ``loss_fn`` (cross-entropy).
    flop_budget : float, int or None
        MACs budget of :func:`prune` (``method`` "falcon", "falcon++" or "magnitude"). A
        fraction of the dense MACs follows the sparsity schedule (event t keeps
        ``1 - (1 - flop_budget) * s_t / sparsity``, the last one ``flop_budget``); an absolute
        count (int) applies to every event.
    prune_kwargs : dict
        Extra arguments of every :func:`prune` call (``n_samples``, ``ridge``, ``stages``...).
    checkpoint : path or None
        File holding the state after each finished step; an existing one is resumed.
    callback : callable(record) or None
        Called after each step (and its checkpoint) with that step's record.

    Returns
    -------
    GradualReport
        Masks, the schedule and per-step records (prune summary, mean training loss, times).
        On an error the model is restored to its state at the call (a checkpoint stays).
    """
    _check("pruning_steps", pruning_steps, 1)
    _check("epochs_per_step", epochs_per_step, 0)
    _check("final_epochs", final_epochs, 0)
    _check("batch_size", batch_size, 1)
    if isinstance(sparsity, bool) or not isinstance(sparsity, numbers.Real):
        raise ValueError(f"sparsity must be a number in [0, 1), got {sparsity!r}.")
    if not 0.0 <= float(initial_sparsity) <= float(sparsity) < 1.0:
        raise ValueError(
            f"need 0 <= initial_sparsity <= sparsity < 1, got initial_sparsity="
            f"{initial_sparsity!r}, sparsity={sparsity!r}."
        )
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}.")
    if flop_budget is not None and method not in FLOP_METHODS:
        raise ValueError(
            f"flop_budget={flop_budget!r} needs a FLOP-aware method, one of {FLOP_METHODS} "
            f"(got method={method!r})."
        )
    if train_fn is not None and not callable(train_fn):
        raise ValueError(f"train_fn must be callable(model, step), got {type(train_fn).__name__}.")
    if train_fn is not None and optimizer is not None:
        raise ValueError("pass either train_fn (your own loop) or optimizer, not both.")
    if lr_schedule not in ("cosine", "constant"):
        raise ValueError(f"lr_schedule must be 'cosine' or 'constant', got {lr_schedule!r}.")
    if data is None:
        raise ValueError("data is required: training data (tensors or a DataLoader).")
    kw = dict(prune_kwargs or {})
    for bad in ("sparsity", "method", "targets", "ignore", "mask_mode", "flop_budget"):
        if bad in kw:
            raise ValueError(f"prune_kwargs must not set {bad!r}; it is an argument here.")
    kw.setdefault("progress", False)
    kw.setdefault("random_state", random_state)
    sched = gradual_schedule(sparsity, pruning_steps, schedule, initial_sparsity)
    epochs = [epochs_per_step] * (pruning_steps - 1) + [final_epochs]
    total_epochs = sum(epochs)
    loss_fn = loss_fn if loss_fn is not None else nn.CrossEntropyLoss()
    tlist = resolve_targets(model, targets, ignore)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = None
    if train_fn is None:
        opt = (optimizer or _default_optimizer)(params)
        if not isinstance(opt, torch.optim.Optimizer):
            raise ValueError(
                f"optimizer must be a factory params -> torch.optim.Optimizer, got "
                f"{type(opt).__name__} from it."
            )
        base_lrs = [g["lr"] for g in opt.param_groups]
    path = Path(checkpoint) if checkpoint is not None else None

    snapshot = ModelSnapshot(model)
    history: list[dict] = []
    masks = {t.name: torch.ones(t.shape, dtype=torch.bool) for t in tlist}
    start = 0
    times = {"prune": 0.0, "train": 0.0}
    try:
        if path is not None and path.exists():
            state = torch.load(path, map_location="cpu", weights_only=True)
            if state.get("schedule") != sched or state.get("method") != method:
                raise ValueError(
                    f"checkpoint {str(path)!r} is of another run (method "
                    f"{state.get('method')!r}, schedule {state.get('schedule')}); delete it or "
                    "pass another path."
                )
            model.load_state_dict(state["model"])
            if opt is not None and state.get("optimizer") is not None:
                opt.load_state_dict(state["optimizer"])
            masks = state["masks"]
            history = list(state["history"])
            times = dict(state["times"])
            torch.set_rng_state(state["rng"])
            start = int(state["step"])
        from tqdm.auto import tqdm

        bar = tqdm(total=pruning_steps, initial=start, desc=f"gradual {method}",
                   disable=not progress, unit="step")  # fmt: skip
        with bar:
            epoch0 = sum(epochs[:start])
            for i in range(start, pruning_steps):
                t0 = time.perf_counter()
                if flop_budget is not None:
                    kw["flop_budget"] = _flop_at(flop_budget, sched[i], float(sparsity))
                rep = prune(model, data, sparsity=sched[i], method=method, targets=targets,
                            ignore=ignore, mask_mode="bake", **kw)  # fmt: skip
                masks = {k: v.cpu() for k, v in rep.masks.items()}
                t1 = time.perf_counter()
                step = GradualStep(i + 1, pruning_steps, sched[i], epochs[i], epoch0,
                                   total_epochs)  # fmt: skip
                enforcer = MaskEnforcer({t.param: masks[t.name] for t in tlist})
                with enforcer:
                    if opt is not None:
                        enforcer.apply(opt)  # the new mask also clears stale momentum
                        loss = _train(model, data, opt, base_lrs, loss_fn, step, batch_size,
                                      lr_schedule, random_state)  # fmt: skip
                    else:
                        train_fn(model, step)
                        loss = None
                    enforcer.apply(opt)
                t2 = time.perf_counter()
                times["prune"] += t1 - t0
                times["train"] += t2 - t1
                rec = {"step": i + 1, "sparsity": sched[i], "epochs": epochs[i],
                       "train_loss": loss, "time_prune": t1 - t0, "time_train": t2 - t1,
                       "prune": rep.to_dict()}  # fmt: skip
                history.append(rec)
                epoch0 += epochs[i]
                if path is not None:
                    _save(path, {"model": model.state_dict(),
                                 "optimizer": None if opt is None else opt.state_dict(),
                                 "masks": masks, "history": history, "times": times,
                                 "rng": torch.get_rng_state(), "step": i + 1,
                                 "schedule": sched, "method": method})  # fmt: skip
                bar.update(1)
                bar.set_postfix(sparsity=f"{sched[i]:.3f}",
                                loss="-" if loss is None else f"{loss:.3f}")  # fmt: skip
                if callback is not None:
                    callback(rec)
    except BaseException:
        snapshot.restore()
        raise
    model.eval()
    return GradualReport(method, float(sparsity), sched, masks, history, total_epochs, start,
                         times)  # fmt: skip


def _flop_at(budget, s_t: float, s: float):
    """The MAC budget of an event at sparsity ``s_t`` (a fraction follows the schedule)."""
    if isinstance(budget, float) and 0.0 < budget <= 1.0 and s > 0:
        return 1.0 - (1.0 - budget) * min(s_t / s, 1.0)
    return budget


def _train(model, data, opt, base_lrs, loss_fn, step, batch_size, lr_schedule, seed) -> float:
    """``step.epochs`` epochs of the built-in loop; returns the mean training loss."""
    total, count = 0.0, 0
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    model.train()
    for e in range(step.first_epoch, step.first_epoch + step.epochs):
        if lr_schedule == "cosine":
            f = 0.5 * (1 + math.cos(math.pi * e / max(step.total_epochs, 1)))
            for g, lr in zip(opt.param_groups, base_lrs, strict=True):
                g["lr"] = lr * f
        for x, y in _batches(data, e, batch_size, seed):
            x, y = x.to(device), y.to(device)
            loss = loss_fn(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(x)
            count += len(x)
    model.eval()
    return total / count if count else float("nan")


def _save(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
