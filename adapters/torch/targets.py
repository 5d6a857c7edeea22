"""Which parameters are pruned: full names, ``"re:"`` regexes, defaults, ignores.

A *target* is one parameter of the model, named as in ``model.named_parameters()``
(``"layer1.0.conv1.weight"``). By default the targets are the ``weight`` of every
``nn.Linear``, ``nn.Conv1d`` and ``nn.Conv2d``; biases and normalization layers are kept. A
pattern is either an exact parameter name or ``"re:<regex>"``, matched with ``re.fullmatch``
against the full name (``"re:layer1\\..*\\.weight"``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
from torch import nn

__all__ = ["Target", "resolve_targets", "HOOK_MODULES"]

#: Modules whose per-sample gradients have a closed form (forward/backward hooks).
HOOK_MODULES = (nn.Linear, nn.Conv1d, nn.Conv2d)


@dataclass(eq=False)
class Target:
    """A parameter to prune and the modules that use it (``users``: (module, attribute))."""

    name: str
    param: nn.Parameter
    users: list = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.param.shape)

    @property
    def numel(self) -> int:
        return self.param.numel()

    @property
    def hookable(self) -> bool:
        """True when every user is a Linear/Conv weight or bias (closed-form gradients)."""
        return bool(self.users) and all(
            isinstance(m, HOOK_MODULES) and attr in ("weight", "bias") for m, attr in self.users
        )


def _as_patterns(value, arg: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable):
        out = list(value)
        if all(isinstance(v, str) for v in out):
            return out
    raise TypeError(
        f"{arg} must be a parameter name, a 're:<regex>' or a list of them, got {value!r}."
    )


def _match(patterns: list[str], names: list[str], arg: str) -> set[str]:
    """Names selected by ``patterns``; every pattern must select at least one name."""
    chosen: set[str] = set()
    for pat in patterns:
        if pat.startswith("re:"):
            try:
                rx = re.compile(pat[3:])
            except re.error as exc:
                raise ValueError(f"{arg}: invalid regular expression {pat!r}: {exc}.") from exc
            hit = {n for n in names if rx.fullmatch(n)}
            if not hit:
                raise ValueError(
                    f"{arg}: {pat!r} matches no parameter of the model (regexes must match the "
                    f"full name, e.g. 're:layer1\\..*\\.weight'); parameters: {names[:8]}"
                    f"{' ...' if len(names) > 8 else ''}."
                )
            chosen |= hit
        elif pat in names:
            chosen.add(pat)
        else:
            close = [n for n in names if n.startswith(pat + ".")][:3]
            close = close or difflib.get_close_matches(pat, names, n=3)
            hint = f" Did you mean {close}?" if close else ""
            raise ValueError(f"{arg}: {pat!r} is not a parameter name of the model.{hint}")
    return chosen


def _check_not_wrapped(model: nn.Module) -> None:
    from torch.nn.utils import parametrize

    for mname, mod in model.named_modules():
        for pname in list(mod._parameters):
            if pname.endswith("_orig") and f"{pname[:-5]}_mask" in mod._buffers:
                raise ValueError(
                    f"{mname or 'model'}.{pname[:-5]} is already pruned with torch.nn.utils.prune; "
                    f"call torch.nn.utils.prune.remove(module, {pname[:-5]!r}) (or "
                    "adapters.torch.make_permanent(model)) before pruning again."
                )
        if parametrize.is_parametrized(mod):
            raise ValueError(
                f"{mname or 'model'} has torch.nn.utils.parametrize parametrizations; remove them "
                "(parametrize.remove_parametrizations(..., leave_parametrized=True) or "
                "adapters.torch.make_permanent(model)) before pruning."
            )


def resolve_targets(model: nn.Module, targets=None, ignore=None) -> list[Target]:
    """The parameters to prune, in ``model.named_parameters()`` order.

    Raises ``ValueError`` when a pattern matches nothing, when nothing is left to prune, or when
    a module is already wrapped by ``torch.nn.utils.prune``/``parametrize``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    _check_not_wrapped(model)
    params = dict(model.named_parameters())
    names = list(params)
    users: dict[int, list] = {}
    for mod in model.modules():
        for attr, p in mod._parameters.items():
            if p is not None:
                users.setdefault(id(p), []).append((mod, attr))

    if targets is None:
        chosen = set()
        for n, p in params.items():
            if any(isinstance(m, HOOK_MODULES) and a == "weight" for m, a in users.get(id(p), [])):
                chosen.add(n)
    else:
        chosen = _match(_as_patterns(targets, "targets"), names, "targets")
    chosen -= _match(_as_patterns(ignore, "ignore"), names, "ignore")

    out = []
    for n in names:
        if n not in chosen:
            continue
        p = params[n]
        if not torch.is_floating_point(p):
            raise ValueError(f"targets: {n!r} has dtype {p.dtype}; only float parameters prune.")
        out.append(Target(n, p, users.get(id(p), [])))
    if not out:
        raise ValueError(
            "no parameter to prune: the model has no nn.Linear/nn.Conv1d/nn.Conv2d weights "
            "(or all were ignored). Name the parameters with targets=['name', 're:<regex>']."
            if targets is None
            else "no parameter to prune: every target is listed in ignore."
        )
    return out
