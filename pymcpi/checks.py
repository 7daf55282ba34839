"""Argument checks for the Python layer: one function per kind of value, one
message per mistake, each naming the argument.

`index` says exactly what the C binding says for ``n``, ``seed`` and
``start`` (the tests hold the two to the same words), so that a mistake reads
the same whether ``count_hits``, ``split``, ``estimate_pi`` or ``Estimate``
caught it.
"""

from __future__ import annotations

import math
import numbers
import operator

__all__ = ["index", "level", "positive", "real"]

STREAM = 1 << 64  # points in a seed's stream; seeds and starts lie below it


def index(value: object, name: str, least: int | None = 0, below: int | None = None) -> int:
    """``value`` as an int in ``[least, below)``; None leaves that side open.

    Ints, NumPy integers and anything with ``__index__`` are integers; bool
    and float are not (a whole float gets a hint: ``1e9`` -> ``10**9``).

    Raises
    ------
    TypeError
        ``{name} must be an integer, not ...``.
    ValueError
        ``{name} must be >= {least}, got ...`` or ``{name} must be below
        2**64, got ...``.
    """
    if isinstance(value, bool) or type(value).__name__ == "bool":  # numpy.bool too
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}")
    if isinstance(value, float):
        raise TypeError(f"{name} must be an integer, not float {value!r}{_hint(value)}")
    try:
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}") from None
    if least is not None and number < least:
        raise ValueError(f"{name} must be >= {least}, got {number}")
    if below is not None and number >= below:
        limit = "2**64" if below == STREAM else str(below)
        raise ValueError(f"{name} must be below {limit}, got {number}")
    return number


def _hint(value: float) -> str:
    """The integer to write for a whole float, as the C binding suggests it."""
    if not (0.0 <= value < STREAM and value == math.floor(value)):
        return ""
    whole = int(value)
    digits = str(whole)
    if whole >= 1000 and digits == "1" + "0" * (len(digits) - 1):
        return f"; write 10**{len(digits) - 1}"
    return f"; write {whole}"


def real(value: object, name: str) -> float:
    """``value`` as a float; bool, str and complex are not real numbers.

    Raises
    ------
    TypeError
        ``{name} must be a number, not ...``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    return float(value)


def positive(value: object, name: str) -> float:
    """``value`` as a float > 0 (NaN is not).

    Raises
    ------
    TypeError, ValueError
        ``{name} must be > 0, got ...``.
    """
    number = real(value, name)
    if not number > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return number


def level(value: object, name: str) -> float:
    """``value`` as a confidence level, strictly between 0 and 1.

    Raises
    ------
    TypeError, ValueError
        ``{name} must be strictly between 0 and 1, got ...``.
    """
    number = real(value, name)
    if not 0.0 < number < 1.0:
        raise ValueError(f"{name} must be strictly between 0 and 1, got {value!r}")
    return number
