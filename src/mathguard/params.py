"""Declared argument rules for the public entry points, in the spirit of scikit-learn's ``validate_params``.

Each entry point states its constraints once, next to its signature::

    @declare(norm=NORM, alpha=OPEN_UNIT, n=COUNT, random_state=SEED)
    def smoothing(clf, x, y=None, *, norm=..., alpha=..., n=..., random_state=...): ...

Before the body runs, every argument given is checked against its rule and a bad one is an
``InputError`` that names the argument ("alpha must be in (0, 1), got 1.5"). Defaults are not
re-checked (they are ours), and values pass through unchanged, so declaring a rule never
changes a result. ``DECLARED`` lists every declared entry point: the convention test and the
bad-input property tests are generated from it, one bad value of each rule for each argument.
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
from dataclasses import dataclass
from typing import Any, Callable, Sequence, TypeVar

from mathguard.errors import InputError

F = TypeVar("F", bound=Callable[..., Any])


class Rule:
    """A constraint on one argument: ``check`` raises an InputError naming it; ``bad`` are values it refuses,
    ``good`` one it accepts (the generated tests fill the other required arguments with it)."""

    bad: tuple[Any, ...] = ()
    good: Any = None

    def check(self, value: Any, name: str) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class Real(Rule):
    """A finite real number (not a bool) in [low, high]; ``open_low``/``open_high`` exclude the ends."""

    low: float = -math.inf
    high: float = math.inf
    open_low: bool = False
    open_high: bool = False

    def check(self, value: Any, name: str) -> None:
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
            raise InputError(f"{name} must be a finite number, got {value!r}")
        v = float(value)
        if v < self.low or v > self.high or (self.open_low and v == self.low) or (self.open_high and v == self.high):
            raise InputError(f"{name} must be {self.interval}, got {value!r}")

    @property
    def good(self) -> float:  # type: ignore[override]
        if math.isfinite(self.low) and math.isfinite(self.high):
            return (self.low + self.high) / 2
        return self.low + 1.0 if math.isfinite(self.low) else (self.high - 1.0 if math.isfinite(self.high) else 0.0)

    @property
    def interval(self) -> str:
        """The allowed values in words: "> 0", "<= 1" or "in (0, 1]"."""
        if math.isinf(self.high):
            return f"{'>' if self.open_low else '>='} {self.low:g}" if math.isfinite(self.low) else "finite"
        if math.isinf(self.low):
            return f"{'<' if self.open_high else '<='} {self.high:g}"
        return f"in {'(' if self.open_low else '['}{self.low:g}, {self.high:g}{')' if self.open_high else ']'}"

    @property
    def bad(self) -> tuple[Any, ...]:  # type: ignore[override]
        out: list[Any] = [math.nan, math.inf, True, "0.1"]
        if math.isfinite(self.low):
            out.append(self.low - 1.0 if not self.open_low else self.low)
        if math.isfinite(self.high):
            out.append(self.high + 1.0 if not self.open_high else self.high)
        return tuple(out)


@dataclass(frozen=True)
class Int(Rule):
    """An integer (not 40.5, not True) of at least ``low`` and at most ``high``."""

    low: int = 1
    high: int | None = None

    def check(self, value: Any, name: str) -> None:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise InputError(f"{name} must be an integer, got {value!r}")
        if value < self.low or (self.high is not None and value > self.high):
            bound = f"at least {self.low}" if self.high is None else f"in [{self.low}, {self.high}]"
            raise InputError(f"{name} must be an integer {bound}, got {value!r}")

    @property
    def good(self) -> int:  # type: ignore[override]
        return self.low

    @property
    def bad(self) -> tuple[Any, ...]:  # type: ignore[override]
        out: list[Any] = [self.low - 1, self.low + 0.5, True, None]
        if self.high is not None:
            out.append(self.high + 1)
        return tuple(out)


@dataclass(frozen=True)
class Seed(Rule):
    """A random seed: a non-negative integer, or None where the entry point allows fresh entropy."""

    allow_none: bool = True
    good = 0

    def check(self, value: Any, name: str) -> None:
        if value is None and self.allow_none:
            return
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            raise InputError(f"{name} must be a non-negative integer seed{' or None' if self.allow_none else ''}, "
                             f"got {value!r}")

    @property
    def bad(self) -> tuple[Any, ...]:  # type: ignore[override]
        return (-1, 1.5, True, "0")


@dataclass(frozen=True)
class Choice(Rule):
    """One of a fixed set of strings (or, with ``callable_ok``, a function of the caller's own)."""

    options: tuple[str, ...]
    callable_ok: bool = False

    @property
    def good(self) -> str:  # type: ignore[override]
        return self.options[0]

    def check(self, value: Any, name: str) -> None:
        if self.callable_ok and callable(value):
            return
        if not isinstance(value, str) or value not in self.options:
            also = " or a callable" if self.callable_ok else ""
            raise InputError(f"{name} must be one of {', '.join(map(repr, self.options))}{also}, got {value!r}")

    @property
    def bad(self) -> tuple[Any, ...]:  # type: ignore[override]
        return ("nope", None, 1)


@dataclass(frozen=True)
class Budgets(Rule):
    """Attack budgets: one finite non-negative number, or a non-empty sequence of them (0 is the clean point);
    ``positive``: every budget above 0."""

    positive: bool = False
    good = (0.1,)

    def check(self, value: Any, name: str) -> None:
        items = value if isinstance(value, Sequence) and not isinstance(value, str) else [value]
        if len(items) == 0:
            raise InputError(f"{name} needs at least one budget")
        for item in items:
            Real(0.0, open_low=self.positive).check(item, name)

    @property
    def bad(self) -> tuple[Any, ...]:  # type: ignore[override]
        return ([], -0.1, math.nan, [0.1, math.inf], "0.1", *([[0.0]] if self.positive else []))


@dataclass(frozen=True)
class Optional(Rule):
    """None (the entry point's own choice), or a value ``rule`` accepts."""

    rule: Rule

    @property
    def good(self) -> Any:  # type: ignore[override]
        return self.rule.good

    @property
    def bad(self) -> tuple[Any, ...]:  # type: ignore[override]
        return tuple(b for b in self.rule.bad if b is not None)

    def check(self, value: Any, name: str) -> None:
        if value is not None:
            self.rule.check(value, name)


@dataclass(frozen=True)
class Check(Rule):
    """A rule no other says (a number or a keyword, say), written as ``fn(value, name)`` that raises InputError."""

    fn: Callable[[Any, str], None]
    good: Any
    bad: tuple[Any, ...]

    def check(self, value: Any, name: str) -> None:
        self.fn(value, name)


NORM = Choice(("linf", "l2"))
OPEN_UNIT = Real(0.0, 1.0, open_low=True, open_high=True)  # alpha, fpr, a share strictly between 0 and 1
UNIT = Real(0.0, 1.0)  # a share or probability, ends included
POSITIVE = Real(0.0, open_low=True)
NON_NEGATIVE = Real(0.0)
COUNT = Int(1)
BASE = Real(1.0, open_low=True)  # a logarithm's base: 2 (bits), e (nats), 10, ...
SEED = Seed()
INT_SEED = Seed(allow_none=False)  # where every draw is keyed by the seed (the attacks' per-point draws)

#: Every declared entry point (the function or the class whose ``__init__`` was declared), for the tests.
DECLARED: list[Callable[..., Any]] = []


def declare(**rules: Rule) -> Callable[[F], F]:
    """Check the named arguments of the decorated function against their rules before it runs."""

    def decorate(func: F) -> F:
        signature = inspect.signature(func)
        unknown = set(rules) - set(signature.parameters)
        if unknown:
            raise TypeError(f"{func.__qualname__} has no parameter(s) {sorted(unknown)} to declare")

        # Where each declared argument sits when given by position (none after a *args).
        positions: dict[str, int] = {}
        for i, p in enumerate(signature.parameters.values()):
            if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                break
            positions[p.name] = i

        @functools.wraps(func)
        def checked(*args: Any, **kwargs: Any) -> Any:
            for name, rule in rules.items():
                at = positions.get(name, len(args))
                if name in kwargs:
                    if at < len(args):
                        return func(*args, **kwargs)  # given twice: Python's own message for a wrong call
                    rule.check(kwargs[name], name)
                elif at < len(args):
                    rule.check(args[at], name)
            return func(*args, **kwargs)

        checked.__rules__ = dict(rules)  # type: ignore[attr-defined]
        DECLARED.append(checked)
        return checked  # type: ignore[return-value]

    return decorate


C = TypeVar("C", bound=type)


def declare_fields(**rules: Rule) -> Callable[[C], C]:
    """``declare`` for a dataclass: its generated ``__init__`` checks the named fields before ``__post_init__``."""

    def decorate(cls: C) -> C:
        cls.__init__ = declare(**rules)(cls.__init__)  # type: ignore[misc]
        return cls

    return decorate
