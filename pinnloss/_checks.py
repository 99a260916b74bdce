"""Argument checks shared by the public entry points."""

from __future__ import annotations

import numpy as np


def check_int(where: str, name: str, value, *, minimum: int, kind: str | None = None) -> int:
    """`value` as an int, or a `ValueError` naming `where` and `name` (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        if kind is None:
            kind = {0: "a non-negative integer", 1: "a positive integer"}.get(
                minimum, f"an integer >= {minimum}"
            )
        raise ValueError(f"{where}: {name} must be {kind}; got {value!r}.")
    return int(value)
