"""How the markers read their arguments.

Each marker takes an optional name first (`kh.Int("units", 32, 512)` or
`kh.Int(32, 512)`), every argument also by keyword (`kh.Int(name="units", low=32,
high=512)`), and options by keyword only. Python cannot write "an optional first
argument" in one signature, so each marker describes its arguments here once: that
description reads a call and gives the signature `inspect.signature` and `help()`
show. The `typing.overload` stubs in `markers.py` tell static tools the same.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

# What other libraries call an argument: a hint in the error for their spelling.
_OTHER_SPELLINGS = {
    "min_value": ("low", "KerasTuner's"),
    "max_value": ("high", "KerasTuner's"),
    "choices": ("values", "Optuna's"),
    "value": ("values", "a Fixed marker's"),
}
_POSITIONAL = inspect.Parameter.POSITIONAL_OR_KEYWORD
_KEYWORD = inspect.Parameter.KEYWORD_ONLY


class Sentinel:
    """A default that stands for something computed (shown by its description)."""

    def __init__(self, description: str) -> None:
        self.description = description

    def __repr__(self) -> str:
        return self.description


@dataclasses.dataclass(frozen=True)
class MarkerArguments:
    """The arguments of one marker class.

    Attributes:
        marker: the class name, for messages.
        positional: `(name, annotation)` of the arguments after the optional name.
        options: `(name, annotation, default)` of the keyword-only arguments.
        lone_value: whether a single positional argument is the value even when it
            is a str (`kh.Fixed("adam")`), rather than the name.
    """

    marker: str
    positional: tuple[tuple[str, Any], ...]
    options: tuple[tuple[str, Any, Any], ...] = ()
    lone_value: bool = False

    @property
    def accepted(self) -> list[str]:
        return [
            "name",
            *(n for n, _ in self.positional),
            *(n for n, *_ in self.options),
        ]

    def signature(self) -> inspect.Signature:
        """The signature of the named form, as `inspect.signature` shows it."""
        name = inspect.Parameter("name", _POSITIONAL, annotation=str)
        if not self.positional:
            name = name.replace(annotation=str | None, default=None)
        return inspect.Signature(
            [name]
            + [
                inspect.Parameter(n, _POSITIONAL, annotation=a)
                for n, a in self.positional
            ]
            + [
                inspect.Parameter(n, _KEYWORD, annotation=a, default=d)
                for n, a, d in self.options
            ]
        )

    def read(self, args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Every argument by name, defaults filled in (`name` is None if left out).

        Raises:
            TypeError: an unknown keyword, an argument given twice, or a missing or
                extra positional argument.
        """
        self._check_keywords(kwargs)
        rest, values = list(args), {}
        if rest and self._leads_with_name(rest, kwargs):
            values["name"] = rest.pop(0)
        slots = [n for n, _ in self.positional]
        if len(rest) > len(slots):
            raise self._usage_error(args, kwargs)
        values.update(zip(slots, rest, strict=False))
        for key, value in kwargs.items():
            if key in values:
                raise TypeError(
                    f"{self.marker}() got two values for {key}: {values[key]!r} "
                    f"and {key}={value!r}."
                )
            values[key] = value
        if any(slot not in values for slot in slots):
            raise self._usage_error(args, kwargs)
        values.setdefault("name", None)
        for option, _, default in self.options:
            values.setdefault(option, default)
        return values

    def _leads_with_name(self, args: list, kwargs: dict[str, Any]) -> bool:
        if self.lone_value:
            return len(args) > len(self.positional) or (
                len(args) == 1 and "value" in kwargs
            )
        return isinstance(args[0], str)

    def _check_keywords(self, kwargs: dict[str, Any]) -> None:
        for key in kwargs:
            if key in self.accepted:
                continue
            hint = ""
            if key in _OTHER_SPELLINGS and _OTHER_SPELLINGS[key][0] in self.accepted:
                ours, whose = _OTHER_SPELLINGS[key]
                hint = f" ({key}= is {whose} spelling; here it is {ours}=)"
            raise TypeError(
                f"{self.marker}() got an unexpected keyword argument {key!r}{hint}. "
                f"{self.marker}() takes: {', '.join(self.accepted)}."
            )

    def _usage_error(self, args: tuple, kwargs: dict[str, Any]) -> TypeError:
        then = ", ".join(n for n, _ in self.positional)
        options = ", ".join(f"{n}=" for n, *_ in self.options)
        usage = f"then {then}" if then else f"({options} by keyword)"
        received = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
        return TypeError(
            f"{self.marker}() takes an optional name {usage}. "
            f"Received: {', '.join(received) or 'no arguments'}."
        )


def log_from_sampling(label: str, sampling: Any, log: bool) -> bool:
    """`log` for KerasTuner's `sampling=` ("linear" or "log"), checked against `log`."""
    if sampling is None:
        return bool(log)
    spelled = sampling.lower() if isinstance(sampling, str) else sampling
    if spelled == "reverse_log":
        raise ValueError(
            f"For {label}, sampling='reverse_log' is not supported. Use "
            "sampling='log' (the same as log=True) or sampling='linear'."
        )
    if spelled not in ("linear", "log"):
        raise ValueError(
            f"For {label}, expected sampling 'linear' or 'log'. "
            f"Received: sampling={sampling!r}."
        )
    if log and spelled == "linear":
        raise ValueError(
            f"For {label}, log=True and sampling='linear' disagree. Pass one of them."
        )
    return spelled == "log"
