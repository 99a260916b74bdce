"""One compiled loop for any solver, and the host-side layers around it.

`_chunk` is the only compiled loop: a `lax.while_loop` over steps `[start, end)` that
stops early once the solver's state holds a result, writing each step's record into a
history buffer. Everything else — chunking, the progress bar, callbacks, history,
checkpoints, the final `Solution` and `throw` — runs on the host between chunks, or once
at the end when the inputs are traced (inside `jax.jit`, `jax.vmap`, `pl.sweep`).

A budget is not a failure: a run that uses up `max_steps` (or `time_limit`, checked on the
host between compiled calls) ends with `max_steps_reached` / `time_limit_reached` and its
last iterate, and `throw=True` does not raise for it — unlike optimistix, whose
`throw=True` raises on `max_steps`: a PINN or E(V) user sets a budget to spend it.

Eagerly, each compiled call runs at most `_MAX_ROWS` steps when history is recorded, so
the history buffer stays small whatever `max_steps` is, and the returned history holds only
the steps that ran. Between chunks the host may also resample the points of terms over a
domain, apply a user's `update` to the objective (loss balancing) and measure held-out
residuals; all keep the shapes, so the loop never recompiles.

A step that ends in a non-finite result keeps the previous iterate, so the returned model
is always the last one with a finite loss, eagerly and under `vmap` alike. That costs one
select over the parameters per step (benchmarks/run.py measures it against a hand-written
`lax.scan` loop), so a solver that never stops by itself (`OptaxSolver`) runs lean on
concrete inputs — no select, no early exit — and the host replays a chunk with the guard
only when a failure ran on in it.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import time
import warnings
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ._solution import (
    _NOT_FAILURE,
    RESULTS,
    NonFiniteLossError,
    OverfitWarning,
    Solution,
    SolveError,
    failure_mask,
    is_failure,
)
from ._solvers._base import AbstractSolver, Problem
from ._terms import Objective
from ._validate import fail_if, is_concrete, runtime_message
from .parallel._checkpoint import fingerprint, read_raw, tree_from_bytes, write_checkpoint

__all__ = ["run", "describe_failure", "plain_error"]

# the most steps one eager compiled call runs while recording history: its buffer is
# `_MAX_ROWS x (terms + 1)` floats whatever `max_steps` is (a 5e6-step budget with four terms
# allocated 200 MB before)
_MAX_ROWS = 10_000
# OverfitWarning: the held-out residual of a domain term is more than `_OVERFIT_RATIO` times
# its value at the training points, and above `_OVERFIT_FLOOR` times its held-out value at
# the starting model (below that, the equation already holds between the points to ~1e-4 of
# its starting size, and a ratio between two tiny numbers says little)
_OVERFIT_RATIO = 100.0
_OVERFIT_FLOOR = 1e-8


class UnderdeterminedWarning(UserWarning):
    """A PDE objective with fewer residuals than parameters."""


def _select(pred, a, b):
    """`a` where `pred` else `b`, leaf by leaf (non-array leaves taken from `a`)."""
    return jax.tree_util.tree_map(
        lambda u, v: jnp.where(pred, u, v) if eqx.is_array(u) else u, a, b
    )


@eqx.filter_jit
def _chunk(
    solver: AbstractSolver,
    problem: Problem,
    y,
    state,
    start,
    stop,
    count,
    length: int,
    record: bool,
    init: bool,
    guard: bool = True,
):
    """Steps `start, start+1, ...` until `stop`, `start + count` or the solver is done.

    `count` (an array, at most `length`: a new value never recompiles) is how many steps
    this call may run; `length` (static) is the number of history rows it can hold.

    With `guard` the loop stops as soon as the state holds a result, and a step ending in
    a failure keeps the previous iterate (one select over the parameters per step). Without
    it (`OptaxSolver` on concrete inputs: it never stops by itself) the loop is lean — no
    select — and a failure runs on; the host then replays the chunk with `guard`.

    Returns `(i, y, state, history, (loss, values))`: the next step index, the iterate and
    state (its result set to the solver's `budget_result` once `stop` is reached while
    running), the records of the steps run (NaN rows after the last), and the objective
    at the returned iterate.
    """
    if init:
        state = solver.init(problem, y, state)
    else:  # a budget that ran out earlier (a resumed checkpoint given more steps) runs on
        spent = (state.result == solver.budget_result) | (
            state.result == RESULTS.time_limit_reached
        )
        state = eqx.tree_at(
            lambda s: s.result, state, RESULTS.where(spent, RESULTS.running, state.result)
        )
    dtype = jnp.result_type(*jax.tree_util.tree_leaves(y))
    hist = jnp.full((length if record else 0, len(problem.names) + 1), jnp.nan, dtype)
    end = jnp.minimum(start + jnp.minimum(count, length), stop)

    def cond(carry):
        i, y, state, _ = carry
        if guard:
            return (i < end) & ~solver.terminate(problem, y, state)[0]
        return i < end

    def body(carry):
        i, y, state, hist = carry
        y_new, state_new, rec = solver.step(problem, y, state, i)
        if guard:
            failed = is_failure(state_new.result)
            y_new = _select(failed, y, y_new)
        if record:
            rec = rec[None].astype(hist.dtype)
            hist = jax.lax.dynamic_update_slice_in_dim(hist, rec, i - start, 0)
        return i + 1, y_new, state_new, hist

    i, y, state, hist = jax.lax.while_loop(cond, body, (start, y, state, hist))
    if guard:  # the solver's own verdict: its `terminate` may end a state still running
        done, said = solver.terminate(problem, y, state)
        state = eqx.tree_at(lambda s: s.result, state, RESULTS.where(done, said, state.result))
    out_of_steps = (i >= stop) & (state.result == RESULTS.running)
    result = RESULTS.where(out_of_steps, solver.budget_result, state.result)
    state = eqx.tree_at(lambda s: s.result, state, result)
    return i, y, state, hist, problem.values(y)


@eqx.filter_jit
def _init_state(solver: AbstractSolver, problem: Problem, y, state):
    """The solver's starting state, compiled on its own: a run of several chunks then
    compiles the loop once (`init=False`) instead of twice (the first chunk with `init`)."""
    state = solver.init(problem, y, state)
    # the loop returns strongly typed leaves: match them, or the second chunk recompiles
    strong = lambda x: x + jnp.zeros((), x.dtype) if eqx.is_array(x) and x.dtype != bool else x
    return jax.tree_util.tree_map(strong, state)


_RUNNING = int(RESULTS.running._value)


def _code(state) -> int:
    return int(state.result._value)


# ---------------------------------------------------------------- failures


def describe_failure(where: str, names, code: int, failed_step: int, failed_term: int, steps):
    """One line saying why a solve failed, naming the step and the term where known."""
    msg = RESULTS._index_to_message[int(code)]
    term = names[failed_term] if 0 <= failed_term < len(names) else None
    extra = []
    if failed_step >= 0:
        extra.append(f"at step {failed_step}")
    if term is not None:
        extra.append(f"term {term!r} is non-finite")
    if int(code) == RESULTS.max_steps_reached._value.item():
        extra.append(f"after {int(steps)} steps")
    return f"{where}: {msg}" + (f" ({', '.join(extra)})" if extra else "")


# ---------------------------------------------------------------- host side


class _Checkpointer:
    """Saves `(iterate, solver state, history so far)` between chunks; resumes from the file.

    The file carries a fingerprint of the problem (the objective with its data, the model's
    fixed part and starting values, the solver), so a rerun of a different problem on the
    same path is refused instead of resuming the wrong fit. A larger step budget continues
    a finished checkpoint.
    """

    def __init__(self, path, problem, solver, y0, state0, max_steps, history, where):
        self.path, self.where, self.history = path, where, history
        self.n_rec = len(problem.names) + 1
        self.max_steps = max_steps
        self.fp = {
            "objective": fingerprint(problem.objective),
            "model": fingerprint(problem.static, y0),
            "solver": fingerprint(solver, state0),
        }
        self.y_like = y0
        self.state_like = eqx.filter_eval_shape(
            lambda s, p, y, st: s.init(p, y, st), solver, problem, y0, state0
        )

    def load(self):
        if not os.path.exists(self.path):
            return None
        raw = read_raw(self.path, kind="solve", fingerprint=self.fp, where=self.where)
        done, n_rows = int(raw.meta["done"]), int(raw.meta["rows"])
        if done > self.max_steps:
            raise ValueError(
                f"{self.where}: checkpoint {os.fspath(self.path)!r} is at step {done}, past "
                f"steps={self.max_steps}; give at least {done} steps or another path."
            )
        like = (self.y_like, self.state_like, np.zeros((n_rows, self.n_rec), np.float64))
        y, state, hist = tree_from_bytes(raw.payload, like, path=self.path, where=self.where)
        rows = []
        if self.history:
            rows = [np.asarray(hist)]
            if n_rows < done:  # saved without history: unknown rows are NaN
                rows.append(np.full((done - n_rows, self.n_rec), np.nan))
        return y, state, done, rows

    def save(self, y, state, done: int, rows) -> None:
        hist = np.concatenate(rows, 0) if rows else np.zeros((0, self.n_rec))
        write_checkpoint(
            self.path,
            kind="solve",
            meta={"done": int(done), "rows": int(hist.shape[0])},
            fingerprint=self.fp,
            tree=(y, state, hist.astype(np.float64)),
        )


def _raise(sol: Solution, names, where: str, code: int) -> None:
    step = int(sol.stats["failed_step"])
    ti = int(sol.stats["failed_term"])
    term = names[ti] if 0 <= ti < len(names) else None
    R = RESULTS
    nonfinite = {
        int(R.nonfinite_start._value): (
            0,
            term,
            "the initial loss is not finite at step 0 ("
            + (f"term(s) [{term!r}] non-finite" if term else "the loss is non-finite")
            + " at the starting model; the initial model is on this error's .model); check "
            "the data and the model's starting point.",
        ),
        int(R.nonfinite_loss._value): (
            step,
            term,
            f"the loss became non-finite at step {step} ("
            + (f"term {term!r} is non-finite" if term else "the loss is non-finite")
            + "); the last model with a finite loss is on this error's .model (lower the "
            "learning rate or check the data).",
        ),
        int(R.nonfinite_jacobian._value): (
            int(sol.steps),
            None,
            f"{R._index_to_message[code]} (after {int(sol.steps)} steps); the model on this "
            "error's .model is the last iterate; check the residuals for non-differentiable "
            "points such as sqrt(0) or log(0).",
        ),
    }
    if code in nonfinite:
        at, named, text = nonfinite[code]
        raise NonFiniteLossError(
            f"{where}: {text}", step=at, term=named, model=sol.model, result=sol
        )
    raise SolveError(
        f"{where}: {R._index_to_message[code]} (loss {float(sol.loss):.3e} after "
        f"{int(sol.steps)} steps).",
        result=sol,
    )


def _finish(sol: Solution, names, where: str, throw: bool) -> Solution:
    if not throw:
        return sol
    if is_concrete((sol.result, sol.stats)):
        codes = np.asarray(sol.result._value)
        ok = ~failure_mask(codes)
        if not ok.all():
            if codes.ndim == 0:
                _raise(sol, names, where, int(codes))
            k = int(np.argmax(~ok.ravel()))
            raise SolveError(
                describe_failure(
                    f"{where} (batch entry {k})",
                    names,
                    codes.ravel()[k],
                    int(np.ravel(sol.stats["failed_step"])[k]),
                    int(np.ravel(sol.stats["failed_term"])[k]),
                    np.ravel(sol.steps)[k],
                ),
                result=sol,
            )
        return sol
    # traced (jax.jit, jax.vmap, pl.sweep): the host cannot look; the check runs with the
    # compiled program and names the reason (the fit, step and term are not known there)
    for item in _FAILURES:
        sol = fail_if(sol, sol.result == item, _traced_message(where, item))
    return sol


# the failure codes (`is_failure`), each with its own message under tracing
_FAILURES = tuple(
    getattr(RESULTS, name)
    for name in RESULTS._name_to_item
    if name != "running" and getattr(RESULTS, name) not in _NOT_FAILURE
)


def is_traced_failure(msg: str) -> bool:
    """Whether `msg` is the run-time message of a traced solve that failed (`throw=True`)."""
    return any(f": {RESULTS[item]} (inside jax.jit" in msg for item in _FAILURES)


_RUNTIME_ERRORS = (jax.errors.JaxRuntimeError, eqx.EquinoxRuntimeError)


def plain_error(err: BaseException) -> BaseException | None:
    """A one-line error for a run-time check of ours that fired inside a compiled call (`err`
    a `JaxRuntimeError` or `EquinoxRuntimeError` of 20-40 lines): a `SolveError` for a traced
    solve that failed with `throw=True`, a `ValueError` for a refused input; else `None`."""
    msg = runtime_message(err)
    if msg is None:
        return None
    return SolveError(msg) if is_traced_failure(msg) else ValueError(msg)


def _plainly(fn):
    """`fn`, raising `plain_error` of the run-time errors it can shorten (`from None`)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except _RUNTIME_ERRORS as e:
            plain = plain_error(e)
            if plain is None:
                raise
            raise plain from None

    return wrapper


def _traced_message(where: str, item) -> str:
    return (
        f"{where}: {RESULTS[item]} (inside jax.jit, jax.vmap or pl.sweep; pass throw=False "
        "and read .result, .failed_step and .failed_term, or return the Solution from "
        "pl.sweep's fn with throw=False: the sweep then names each failed fit)"
    )


def default_chunk(steps: int, progress: bool, every: int | None) -> int:
    """~10 chunks of at least 500 steps with a progress bar, else one (or `every`)."""
    chunk = max(500, math.ceil(steps / 10)) if progress else steps
    if every is not None:
        chunk = min(chunk, every)
    return max(1, min(chunk, steps))


def _warn_if_underdetermined(problem: Problem, y, where: str) -> None:
    """Warn when a PDE objective has fewer residuals than parameters: the fit can match
    every collocation point and still miss the solution between them."""
    if not any(t.collocation for t in problem.objective.terms):
        return
    m = sum(problem.sizes(y))
    n = sum(int(np.size(a)) for a in jax.tree_util.tree_leaves(y))
    if n > m:
        warnings.warn(
            f"{where}: the objective has {m} residuals but the model {n} parameters; with "
            "more parameters than residuals a PDE fit can match every collocation point and "
            "still miss the solution between them. Use more collocation points (several "
            "per parameter), or a smaller model.",
            UnderdeterminedWarning,
            stacklevel=5,
        )


# ---------------------------------------------------------------- terms over a domain


def _domain_names(objective: Objective) -> list[str]:
    """Names of the terms that can draw fresh points (`term.resamplable`)."""
    return [n for n, t in zip(objective.names, objective.terms) if t.resamplable]


@eqx.filter_jit
def _heldout(problem: Problem, y, key) -> Array:
    """Each domain term's mean squared residual at fresh points, shape `(k,)`."""
    model = problem.model(y)
    terms = [t for t in problem.objective.terms if t.resamplable]
    return jnp.stack([t.heldout(model, jax.random.fold_in(key, k)) for k, t in enumerate(terms)])


@eqx.filter_jit
def _resampled(problem: Problem, y, key, method: str) -> Problem:
    """The problem with every domain term's points drawn again (same shapes)."""
    model = problem.model(y)
    terms = tuple(
        t.resample(jax.random.fold_in(key, k), model, method) if t.resamplable else t
        for k, t in enumerate(problem.objective.terms)
    )
    return eqx.tree_at(lambda p: p.objective.terms, problem, terms)


def _same_structure(where: str, old: Objective, new) -> Objective:
    """`new` (from `update`) as an objective shaped like `old`, arrays in `old`'s dtypes."""
    if not isinstance(new, Objective):
        from ._terms import AbstractTerm

        if not isinstance(new, AbstractTerm):
            raise ValueError(
                f"{where}: update must return the objective (a pinnloss term); got "
                f"{type(new).__name__}."
            )
        new = Objective.of(new)
    a, sa = eqx.partition(old, eqx.is_array)
    b, sb = eqx.partition(new, eqx.is_array)
    ta, tb = jax.tree_util.tree_structure(a), jax.tree_util.tree_structure(b)
    shapes = lambda t: [x.shape for x in jax.tree_util.tree_leaves(t)]
    if (
        ta != tb
        or shapes(a) != shapes(b)
        or jax.tree_util.tree_structure(sa) != (jax.tree_util.tree_structure(sb))
    ):
        raise ValueError(
            f"{where}: update must return an objective with the same terms and array shapes "
            f"as it was given (new weights or points of the same shape); got {new!r} for {old!r}."
        )
    b = jax.tree_util.tree_map(lambda u, v: jnp.asarray(v, u.dtype), a, b)
    return eqx.combine(b, sa)


def _carry_counters(new, old):
    """`new` (a restarted state) with the run's counters taken from `old`."""
    for f in ("initial_loss", "failed_step", "failed_term", "accepted"):
        if hasattr(old, f) and hasattr(new, f):
            new = eqx.tree_at(lambda s, f=f: getattr(s, f), new, getattr(old, f))
    return new


@dataclasses.dataclass(frozen=True)
class _Between:
    """What the host does between chunks to the problem: resample domain terms, apply the
    user's `update`, record held-out residuals. Changing the problem restarts the solver's
    state at the same iterate (its damping or optimizer state kept)."""

    key: Any
    resample: str | None
    resample_every: int | None
    update: Callable | None
    heldout: bool
    where: str

    def __call__(self, solver, problem, y, state, done: int, held: dict):
        changed = False
        if self.resample is not None and done % self.resample_every == 0:
            k = jax.random.fold_in(jax.random.fold_in(self.key, 2), done)
            problem, changed = _resampled(problem, y, k, self.resample), True
        if self.update is not None:
            new = self.update(done, problem.model(y), problem.objective)
            new = _same_structure(self.where, problem.objective, new)
            problem, changed = Problem(new, problem.static), True
        if changed:
            state = _carry_counters(_init_state(solver, problem, y, state), state)
        if self.heldout:
            held[done] = self.measure(problem, y, done)
        return problem, state

    def measure(self, problem, y, done: int) -> np.ndarray:
        return np.asarray(_heldout(problem, y, jax.random.fold_in(self.key, done)))


# ---------------------------------------------------------------- history


def _history(rows: list, names, max_steps: int, traced: bool, held=None, held_names=()):
    """`{name: values}` and `"total"`: eagerly only the steps that ran (traced: `max_steps`
    rows, NaN after the last), plus `"heldout/<name>"` (NaN but where measured)."""
    if traced:
        h = rows[0][:max_steps]  # the traced buffer: one chunk of max(max_steps, 1) rows
        out = {n: h[:, k] for k, n in enumerate(names)}
        out["total"] = h[:, -1]
        return out
    got = np.concatenate(rows, 0) if rows else np.zeros((0, len(names) + 1))
    cols = list(got.T)
    steps = got.shape[0]
    for j in range(len(held_names)):
        col = np.full(steps, np.nan, got.dtype if steps else np.float64)
        for row, vals in (held or {}).items():
            if row < steps:
                col[row] = vals[j]
        cols.append(col)
    keys = (*names, "total", *(f"heldout/{n}" for n in held_names))
    return dict(zip(keys, jax.device_put(cols)))  # one transfer for all columns


# ---------------------------------------------------------------- the host loop


def _next_count(count: int, ran: int, seconds: float, remaining: float, limit: float, cap: int):
    """Steps for the next compiled call under a time limit: about `limit / 20` seconds (at
    most half of what is left), growing at most 8x a call from the measured step time."""
    target = max(1e-3, min(limit / 20, remaining / 2))
    return int(max(1, min(cap, 8 * count, target / max(seconds / ran, 1e-9))))


def _host_loop(solver, problem, y, state, *, done, rows, init, max_steps, chunk, length, opts):
    """Run compiled calls until the solver is done, a budget is used or `callback` says stop.

    A call runs at most `length` steps (fewer under a time limit, from the measured step
    time); every `chunk` steps the host updates the bar, writes the checkpoint, calls the
    callback and `opts.between`. Returns `(i, y, state, rows, (loss, vals), stopped,
    problem)`; `stopped`: the callback stopped a run that was still going.
    """
    bar, stopped, where = None, False, opts["where"]
    if opts["progress"]:
        from tqdm.auto import tqdm

        bar = tqdm(total=max_steps, initial=done, desc=where, leave=False)
    stop = jnp.asarray(max_steps)
    guard = solver.converges  # a solver that never stops by itself runs lean (see _chunk)
    deadline, limit = opts["deadline"], opts["time_limit"]
    count = 1 if opts["adaptive"] else length
    if init and done + min(chunk, count) < max_steps:
        # several calls: start the state apart, so every call is the same compiled loop
        # (one compile of the loop instead of two)
        state, init = _init_state(solver, problem, y, state), False
    next_event = min(done + chunk, max_steps)
    try:
        while True:
            t_call = time.perf_counter()
            n = max(1, min(count, next_event - done))
            args = (solver, problem, y, state, jnp.asarray(done), stop, jnp.asarray(n), length)
            args = (*args, opts["history"], init)
            i, y, state, hist, values = _chunk(*args, guard)
            if not guard and failure_mask(_code(state)):
                # a failure ran on in the lean loop: replay the call, stopping at it
                i, y, state, hist, values = _chunk(*args, True)
            init = False
            i_host = int(i)
            if opts["history"]:
                rows.append(np.asarray(hist[: i_host - done]))
            if bar is not None:
                bar.update(i_host - done)
                bar.set_postfix(loss=f"{float(values[0]):.3e}")
            ran, done, now = i_host - done, i_host, time.perf_counter()
            if opts["adaptive"] and ran:
                count = _next_count(count, ran, now - t_call, deadline - now, limit, length)
            running = _code(state) == _RUNNING and done < max_steps
            if running and deadline is not None and now >= deadline:
                state = eqx.tree_at(lambda s: s.result, state, RESULTS.time_limit_reached)
                running = False
            if done < next_event and running:
                continue
            next_event = min(done + chunk, max_steps)
            if opts["ckpt"] is not None:
                opts["ckpt"].save(y, state, done, rows)
            cb = opts["callback"]
            if cb is not None and cb(done, float(values[0]), problem.model(y)):
                stopped = _code(state) == _RUNNING
                break
            if not running:
                break
            if opts["between"] is not None:
                problem, state = opts["between"](solver, problem, y, state, done, opts["held"])
    finally:
        if bar is not None:
            bar.close()
    return i, y, state, rows, values, stopped, problem


def _check_options(where, traced, *, time_limit, resample, resample_every, update, names):
    """Refuse what the host-side options cannot do; returns `time_limit` as a float."""
    if traced and (time_limit is not None or resample is not None or update is not None):
        raise ValueError(
            f"{where}: time_limit=, resample= and update= act on the host between compiled "
            "chunks, so they need concrete inputs; inside jax.jit, jax.vmap or pl.sweep use "
            "max_steps alone."
        )
    if time_limit is not None:
        bad = isinstance(time_limit, bool) or not isinstance(time_limit, (int, float, np.number))
        if bad or not (0 < float(time_limit) < math.inf):
            raise ValueError(
                f"{where}: time_limit must be a positive finite number of seconds; got "
                f"{time_limit!r}."
            )
        time_limit = float(time_limit)
    if resample not in (None, "uniform", "rad"):
        raise ValueError(f"{where}: resample must be None, 'uniform' or 'rad'; got {resample!r}.")
    if resample is not None and not names:
        raise ValueError(
            f"{where}: resample={resample!r} needs a term over a domain, e.g. "
            "pl.Residual(fn, domain, n=...); this objective's terms all have fixed points."
        )
    if resample_every is not None:
        b = isinstance(resample_every, bool) or not isinstance(resample_every, (int, np.integer))
        if b or resample_every < 1:
            raise ValueError(
                f"{where}: resample_every must be a positive integer; got {resample_every!r}."
            )
    if update is not None and not callable(update):
        raise ValueError(
            f"{where}: update must be callable update(step, model, objective) -> objective; "
            f"got {type(update).__name__}."
        )
    return time_limit


def _chunking(max_steps, chunk_size, checkpoint_every, resample_every, update, host, history):
    """`(chunk, length)`: steps between host events (bar, callback, checkpoint, resampling,
    `update`) and the most steps one compiled call runs (its history rows)."""
    every = checkpoint_every
    if resample_every is not None:
        every = resample_every if every is None else min(every, resample_every)
    elif update and chunk_size is None:
        every = max(1, math.ceil(max_steps / 10)) if every is None else every
    if chunk_size is None:
        chunk_size = default_chunk(max_steps, host, every)
    chunk = max(1, min(chunk_size, every or chunk_size, max_steps))
    return chunk, (min(chunk, _MAX_ROWS) if history else chunk)


def _warn_if_overfit(where, objective: Objective, vals, held, held0) -> None:
    """`pl.OverfitWarning` for a domain term whose held-out residual is far above its
    training value (see `_OVERFIT_RATIO`, `_OVERFIT_FLOOR`)."""
    names = objective.names
    domain = [(n, t) for n, t in zip(names, objective.terms) if t.resamplable]
    for j, (name, term) in enumerate(domain):
        n_pts = len(getattr(term, "points", ())) or "its"
        train, h, h0 = float(vals[names.index(name)]), float(held[j]), float(held0[j])
        floor = max(_OVERFIT_FLOOR * h0, np.finfo(np.float64).tiny)
        if h > _OVERFIT_RATIO * train and h > floor:
            warnings.warn(
                f"{where}: term {name!r} has mean squared residual {train:.2e} at "
                f"{n_pts} training points but {h:.2e} at fresh points "
                f"({h / max(train, 1e-300):.1e}x): the model fits the points, not the equation "
                "between them, and a low loss here does not mean a good solution. Use more "
                "points (several per parameter) or resample them between chunks "
                "(resample='rad', resample_every=...).",
                OverfitWarning,
                stacklevel=5,
            )


def _run_traced(solver, problem, y, state, max_steps, history, checkpoint, callback, where):
    """The whole solve as one compiled call (inside `jax.jit`, `vmap`, `pl.sweep`): the
    host cannot look between chunks. Returns `(i, y, state, [history], values)`."""
    if checkpoint is not None or callback is not None:
        raise ValueError(
            f"{where}: checkpoint= and callback= need concrete inputs; inside jax.jit, "
            "jax.vmap or pl.sweep use pl.sweep(..., checkpoint=) instead."
        )
    rows = max(max_steps, 1)
    i, y, state, hist, values = _chunk(
        solver, problem, y, state, jnp.asarray(0), jnp.asarray(max_steps),
        jnp.asarray(rows), rows, history, True,
    )  # fmt: skip
    return i, y, state, [hist], values


@_plainly  # a refusal inside a compiled call reads as its one-line message
def run(
    solver: AbstractSolver,
    model,
    objective,
    *,
    max_steps: int,
    filter_spec: Any = eqx.is_inexact_array,
    state: Any = None,
    chunk_size: int | None = None,
    progress: bool = False,
    history: bool = True,
    callback: Callable | None = None,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    throw: bool = True,
    time_limit: float | None = None,
    resample: str | None = None,
    resample_every: int | None = None,
    update: Callable | None = None,
    key: Any = None,
    where: str = "solve",
) -> Solution:
    """Run `solver` on `objective(model)` for at most `max_steps` steps; see `pl.solve`."""
    t0 = time.perf_counter()  # the time limit counts compilation: it is time the user waits
    y, static = eqx.partition(model, filter_spec)
    if not jax.tree_util.tree_leaves(y):
        raise ValueError(f"{where}: the model has no trainable (inexact array) parameters.")
    problem = Problem(objective, static)
    traced = not is_concrete((y, problem, solver, state))
    held_names = _domain_names(objective)
    time_limit = _check_options(
        where, traced, time_limit=time_limit, resample=resample,
        resample_every=resample_every, update=update, names=held_names,
    )  # fmt: skip
    key = jax.random.key(0) if key is None else key
    _warn_if_underdetermined(problem, y, where)
    if traced:
        i, y, state, rows, values = _run_traced(
            solver, problem, y, state, max_steps, history, checkpoint, callback, where
        )
        stopped, held = False, {}
    else:
        if resample is not None and resample_every is None:
            resample_every = min(100, max_steps) or 1
        adaptive = time_limit is not None and chunk_size is None
        chunk, length = _chunking(
            max_steps, chunk_size, checkpoint_every, resample_every, update is not None,
            progress or callback is not None, history,
        )  # fmt: skip
        ckpt, done, rows, init = None, 0, [], True
        if checkpoint is not None:
            ckpt = _Checkpointer(checkpoint, problem, solver, y, state, max_steps, history, where)
            resumed = ckpt.load()
            if resumed is not None:
                (y, state, done, rows), init = resumed, False
        between = _Between(key, resample, resample_every, update, bool(held_names), where)
        held = {}
        if held_names:
            held[done] = between.measure(problem, y, done)
        opts = dict(
            where=where, progress=progress, history=history, callback=callback, ckpt=ckpt,
            deadline=None if time_limit is None else t0 + time_limit, time_limit=time_limit,
            adaptive=adaptive,
            between=between if (held_names or update is not None) else None, held=held,
        )  # fmt: skip
        i, y, state, rows, values, stopped, problem = _host_loop(
            solver, problem, y, state, done=done, rows=rows, init=init, max_steps=max_steps,
            chunk=chunk, length=length, opts=opts,
        )  # fmt: skip
    stats = dict(solver.stats(state))
    if held_names:
        final = _heldout(problem, y, jax.random.fold_in(key, i))
        stats.update({f"heldout/{n}": final[j] for j, n in enumerate(held_names)})
        if not traced:
            _warn_if_overfit(where, problem.objective, values[1], final, held[min(held)])
    if not traced:
        stats["seconds"] = time.perf_counter() - t0
    sol = Solution(
        model=problem.model(y),
        loss=values[0],
        steps=i,
        # a callback's stop is the user's choice, not a failure; the state stays `running`
        # so that `state=` goes on from here
        result=RESULTS.stopped if stopped else state.result,
        history=(
            _history(rows, objective.names, max_steps, traced, held, () if traced else held_names)
            if history
            else None
        ),
        state=state,
        stats=stats,
        names=tuple(objective.names),
    )
    return _finish(sol, objective.names, where, throw)
