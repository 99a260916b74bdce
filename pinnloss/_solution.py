"""Result codes and the one result type every solver returns."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import numpy as np
from jaxtyping import Array

from ._validate import is_concrete

__all__ = [
    "RESULTS",
    "Solution",
    "SolveError",
    "NonFiniteLossError",
    "OverfitWarning",
    "is_success",
    "is_failure",
    "failure_mask",
]


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
        "the step budget (max_steps) ran out before the solver converged; the last iterate is "
        "returned (raise max_steps or loosen tol to converge)"
    )
    nonfinite_start = "the loss is not finite at the starting model"
    nonfinite_jacobian = (
        "the Jacobian (or gradient) of the residuals is not finite at the current model; "
        "no step could be taken"
    )
    nonfinite_loss = "the loss became non-finite during the fit"
    # appended last: the codes of the items above stay those stored in older checkpoints
    time_limit_reached = (
        "the time limit (time_limit) ran out before the solver converged; the last iterate is "
        "returned (raise time_limit or max_steps to go on, or pass state= to continue)"
    )


_SUCCESS = (
    RESULTS.successful,
    RESULTS.stopped,
    RESULTS.converged_atol,
    RESULTS.converged_ftol,
    RESULTS.converged_xtol,
    RESULTS.converged_gtol,
    RESULTS.stalled,
)


# a budget that runs out is an ordinary end: not a success (`.converged` is False), but
# not a failure either (`throw=True` does not raise)
_BUDGET = (RESULTS.max_steps_reached, RESULTS.time_limit_reached)
# every end that `throw=True` accepts
_NOT_FAILURE = _SUCCESS + _BUDGET


# the same on the host, as integer codes
_NOT_FAILURE_CODES = np.asarray([int(r._value) for r in _NOT_FAILURE])
_RUNNING_CODE = int(RESULTS.running._value)


def failure_mask(codes) -> np.ndarray:
    """`is_failure` on concrete integer codes (`sol.code`), computed by NumPy on the host."""
    codes = np.asarray(codes)
    return ~np.isin(codes, _NOT_FAILURE_CODES) & (codes != _RUNNING_CODE)


def _any_of(result: RESULTS, items) -> Array:
    out = result == items[0]
    for r in items[1:]:
        out = out | (result == r)
    return out


def is_success(result: RESULTS) -> Array:
    """True where `result` is one of the success codes (works traced and batched)."""
    return _any_of(result, _SUCCESS)


def is_failure(result: RESULTS) -> Array:
    """True where `result` is a failure (non-finite values): not running, not a success and
    not a budget (`max_steps_reached`, `time_limit_reached`) that ran out."""
    return ~(_any_of(result, _NOT_FAILURE) | (result == RESULTS.running))


class OverfitWarning(UserWarning):
    """A PDE solve whose loss at its training points is far below the residual at fresh
    points: the model fits the points but not the equation between them."""


def _messages(result: RESULTS) -> list[str]:
    codes = np.asarray(result._value).ravel()
    return [RESULTS._index_to_message[int(c)] for c in codes]


class Solution(eqx.Module):
    """What every solver returns (`pl.fit`, `pl.least_squares`, `pl.solve`).

    Attributes:
        model: the fitted model (for a failed fit: the last model with a finite loss).
        loss: the objective at `model`.
        steps: steps taken (iterations, accepted or not).
        result: why it stopped, a `pl.RESULTS` item; `sol.reason` gives the words
            (`pl.RESULTS[sol.result]` too), `.converged` whether it is a success. A budget
            that ran out (`max_steps_reached`, `time_limit_reached`) is not a success and not
            a failure: `.converged` is False and `throw=True` does not raise.
        history: `{name: values}` of each unweighted term per step plus `"total"`, the
            weighted objective; entry `i` is evaluated before step `i`. Eagerly each array
            is `steps` long (only the steps that ran). Inside `jax.jit` / `jax.vmap` /
            `pl.sweep` the length must be static: `max_steps` rows, NaN after the last step.
            Terms that report a held-out residual (a `pl.Residual` over a domain) add
            `"heldout/<name>"`: NaN except at the ends of chunks, where it was measured.
            `None` when recorded with `history=False`.
        state: the solver's state, to continue (`state=` / `opt_state=`).
        stats: scalars of the solve: `initial_loss`, `accepted` (LM), `failed_step`
            (first step whose loss was non-finite, -1 if none), `failed_term` (index of
            the first non-finite term there, -1 if none or unknown), `seconds` (eager runs:
            wall time including compilation), and `heldout/<name>` (the held-out mean squared
            residual of each domain term at the returned model).
        names: the objective's term names (static), so that `failed_term` can be named
            after the solve, e.g. by `pl.sweep` for each failed fit.
    """

    model: Any
    loss: Array
    steps: Array
    result: RESULTS
    history: dict[str, Array] | None
    state: Any
    stats: dict[str, Array]
    names: tuple[str, ...] = eqx.field(static=True, default=())

    # ---- views kept from the 0.1 result types
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
        stopped by the callback. False for a budget that ran out before convergence
        (`max_steps_reached`, `time_limit_reached`) and for a failure."""
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
    """A solve ended in a failure (`throw=True`). `.result` is the `Solution` (for `pl.sweep`:
    the whole batch's output), `.failed` the indices of the failed fits of a sweep (else
    empty)."""

    def __init__(self, message: str, *, result: Any = None, failed: tuple[int, ...] = ()):
        super().__init__(message)
        self.result = result
        self.failed = tuple(int(k) for k in failed)


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
