"""Result codes and the one result type every solver returns."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import numpy as np
from jaxtyping import Array

from ._validate import is_concrete

__all__ = ["RESULTS", "Solution", "SolveError", "NonFiniteLossError", "is_success"]


class RESULTS(eqx.Enumeration):
    """Why a solve stopped. Items are compared with `==`; `RESULTS[item]` is the message."""

    running = "still running"
    stopped = "stopped: the callback asked to stop (pass state= to go on from here)"
    successful = "the step budget was used up (a fixed-length fit)"
    converged_atol = "converged: the loss fell below atol"
    converged_ftol = "converged: the relative decrease of the loss fell below tol"
    converged_xtol = "converged: the relative step size fell below tol"
    converged_gtol = "converged: the gradient is zero"
    stalled = (
        "converged: no further decrease is possible (the damping is exhausted; the loss is at "
        "its floor in this precision)"
    )
    max_steps_reached = (
        "the solver did not converge within max_steps steps; raise max_steps, loosen tol, or "
        "pass throw=False to keep the last iterate"
    )
    nonfinite_start = "the loss is not finite at the starting model"
    nonfinite_jacobian = (
        "the Jacobian (or gradient) of the residuals is not finite at the current model; "
        "no step could be taken"
    )
    nonfinite_loss = "the loss became non-finite during the fit"


_SUCCESS = (
    RESULTS.successful,
    RESULTS.stopped,
    RESULTS.converged_atol,
    RESULTS.converged_ftol,
    RESULTS.converged_xtol,
    RESULTS.converged_gtol,
    RESULTS.stalled,
)


def is_success(result: RESULTS) -> Array:
    """True where `result` is one of the success codes (works traced and batched)."""
    out = result == _SUCCESS[0]
    for r in _SUCCESS[1:]:
        out = out | (result == r)
    return out


def _messages(result: RESULTS) -> list[str]:
    codes = np.asarray(result._value).ravel()
    return [RESULTS._index_to_message[int(c)] for c in codes]


class Solution(eqx.Module):
    """What every solver returns (`pl.fit`, `pl.least_squares`, `pl.solve`).

    Attributes:
        model: the fitted model (for a failed fit: the last model with a finite loss).
        loss: the objective at `model`.
        steps: steps taken (iterations, accepted or not).
        result: why it stopped, a `pl.RESULTS` item; `.reason` gives the words,
            `.converged` whether it is a success.
        history: `{name: values}` of each unweighted term per step plus `"total"`, the
            weighted objective; entry `i` is evaluated before step `i`, entries after the
            last step are NaN. `None` when recorded with `history=False`.
        state: the solver's state, to continue (`state=` / `opt_state=`).
        stats: scalars of the solve: `initial_loss`, `accepted` (LM), `failed_step`
            (first step whose loss was non-finite, -1 if none), `failed_term` (index of
            the first non-finite term there, -1 if none or unknown).
    """

    model: Any
    loss: Array
    steps: Array
    result: RESULTS
    history: dict[str, Array] | None
    state: Any
    stats: dict[str, Array]

    # ---- views kept from the 0.1 result types (FitResult, LeastSquaresResult)
    @property
    def code(self) -> Array:
        """The result as an integer (an index into `pl.RESULTS`)."""
        return self.result._value

    @property
    def reason(self) -> str:
        """Why the solve stopped, in words (`"; "`-joined over a batch)."""
        if not is_concrete(self.result._value):
            return "traced: read .result"
        return "; ".join(_messages(self.result))

    @property
    def converged(self) -> Array:
        """True for a success: converged, stalled at the floor, a fixed budget used up, or
        stopped by the callback."""
        return is_success(self.result)

    @property
    def opt_state(self) -> Any:
        """The Optax state of an `OptaxSolver` fit (to continue with `opt_state=`)."""
        return getattr(self.state, "opt_state", None)

    @property
    def failed_step(self) -> Array:
        return self.stats["failed_step"]

    @property
    def failed_term(self) -> Array:
        return self.stats["failed_term"]

    @property
    def accepted(self) -> Array:
        return self.stats.get("accepted", self.steps)

    @property
    def initial_loss(self) -> Array:
        return self.stats["initial_loss"]


class SolveError(RuntimeError):
    """A solve ended without success (`throw=True`). `.result` is the `Solution`."""

    def __init__(self, message: str, *, result: Any = None):
        super().__init__(message)
        self.result = result


class NonFiniteLossError(SolveError, FloatingPointError, ValueError):
    """A fit met a non-finite loss, gradient or Jacobian.

    `.model` is the last model with a finite loss, `.step` the first step whose loss was
    non-finite (0: the starting model), `.term` the first non-finite term's name (or None).
    """

    def __init__(
        self, message: str, *, step: int, term: str | None, model: Any, result: Any = None
    ):
        super().__init__(message, result=result)
        self.step = step
        self.term = term
        self.model = model
