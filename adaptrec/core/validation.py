"""Argument checks for public boundaries.

Every message names the argument, says what was expected and shows what arrived, e.g.
``slate must have shape (5,), got (4,)``. Internal invariants use ``assert`` instead.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_int(name: str, value: Any, *, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as ``int`` if it is an integer in ``[low, high]``; raise otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {_show(value)}")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")
    return value


def check_float(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as a finite ``float`` within the given bounds; raise otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {_show(value)}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None and (value <= low if low_open else value < low):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value}")
    if high is not None and (value >= high if high_open else value > high):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}, got {value}")
    return value


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices``; raise a message listing them otherwise."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(
            f"{name} must be one of {', '.join(map(repr, choices))}; got {_show(value)}"
        )
    return value


def check_array(
    name: str,
    value: Any,
    *,
    shape: tuple[int | None, ...] | None = None,
    kind: str | None = None,
    finite: bool = False,
) -> np.ndarray:
    """Check an array's shape (``None`` = any size on that axis), dtype kind and finiteness.

    ``kind`` is a string of accepted ``numpy.dtype.kind`` codes: ``"iu"`` for integers, ``"f"``
    for floats, ``"b"`` for booleans. The array is returned as given (never copied or cast).
    """
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(value).__name__} {_show(value)}")
    if shape is not None:
        ok = value.ndim == len(shape) and all(
            want is None or want == got for want, got in zip(shape, value.shape, strict=True)
        )
        if not ok:
            want = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} must have shape {want}, got {value.shape}")
    if kind is not None and value.dtype.kind not in kind:
        names = {"i": "signed int", "u": "unsigned int", "f": "float", "b": "bool"}
        want = " or ".join(names.get(k, k) for k in kind)
        raise ValueError(f"{name} must have a {want} dtype, got {value.dtype}")
    if finite and value.dtype.kind == "f" and not np.isfinite(value).all():
        bad = int((~np.isfinite(value)).sum())
        raise ValueError(f"{name} must be finite, got {bad} NaN/inf value(s)")
    return value


def parse_choices(name: str, text: str, allowed: Sequence[str]) -> tuple[str, ...]:
    """A comma-separated list (e.g. a CLI option), each entry checked against ``allowed``."""
    items = tuple(part.strip() for part in text.split(",") if part.strip())
    if not items:
        raise ValueError(f"{name} must list at least one of {', '.join(allowed)}; got {text!r}")
    for item in items:
        if item not in allowed:
            raise ValueError(f"{name} must be from {', '.join(allowed)}; got {item!r}")
    return items


def check_slate_fits(slate_size: int, n_items: int) -> None:
    """A slate holds distinct items, so it cannot be larger than the catalog."""
    if slate_size > n_items:
        raise ValueError(
            f"env.slate_size must be <= the catalog's {n_items} items, got {slate_size}"
        )


_AGENT_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def check_agent_name(name: Any, argument: str = "name") -> str:
    """``name`` if it can name an agent (and its log file ``steps/<name>.parquet``), else
    ``ValueError``."""
    if not isinstance(name, str) or not _AGENT_NAME.match(name):
        raise ValueError(
            f"{argument} must be 1-64 characters of a-z, 0-9, '.', '_' or '-', starting with a "
            f"letter or digit, got {name!r}"
        )
    return name
