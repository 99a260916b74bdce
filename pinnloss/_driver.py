"""One compiled loop for any solver, and the host-side layers around it.

`_chunk` is the only compiled loop: a `lax.while_loop` over steps `[start, end)` that
stops early once the solver's state holds a result, writing each step's record into a
history buffer. Everything else — chunking, the progress bar, callbacks, history,
checkpoints, the final `Solution` and `throw` — runs on the host between chunks, or once
at the end when the inputs are traced (inside `jax.jit`, `jax.vmap`, `pl.sweep`).

A step that ends in a non-finite result keeps the previous iterate, so the returned model
is always the last one with a finite loss, eagerly and under `vmap` alike. That costs one
select over the parameters per step (1.20× a hand-written `lax.scan` Adam loop on a quiet
machine, benchmarks/run.py), so a solver that never stops by itself (`OptaxSolver`) runs
lean on concrete inputs — no select, no early exit — and the host replays a chunk with the
guard only when a failure ran on in it (1.04×).
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
import warnings
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._checkpoint import fingerprint, read_raw, tree_from_bytes, write_checkpoint
from ._solution import _SUCCESS, RESULTS, NonFiniteLossError, Solution, SolveError, is_success
from ._solvers._base import AbstractSolver, Problem
from ._terms import Residual
from ._validate import is_concrete

__all__ = ["run", "collect_failures", "trace_count"]

_TRACES = {"chunk": 0}


class UnderdeterminedWarning(UserWarning):
    """A PDE objective with fewer residuals than parameters."""


def trace_count() -> int:
    """How many times the compiled loop has been traced (a compile each): for tests."""
    return _TRACES["chunk"]


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
    length: int,
    record: bool,
    init: bool,
    guard: bool = True,
):
    """Steps `start, start+1, ...` until `stop`, `start + length` or the solver is done.

    With `guard` the loop stops as soon as the state holds a result, and a step ending in
    a failure keeps the previous iterate (one select over the parameters per step). Without
    it (`OptaxSolver` on concrete inputs: it never stops by itself) the loop is lean — no
    select — and a failure runs on; the host then replays the chunk with `guard`.

    Returns `(i, y, state, history, (loss, values))`: the next step index, the iterate and
    state (its result set to the solver's `budget_result` once `stop` is reached while
    running), the records of the steps run (NaN rows after the last), and the objective
    at the returned iterate.
    """
    _TRACES["chunk"] += 1
    solver = solver.specialise(problem, y)
    if init:
        state = solver.init(problem, y, state)
    else:  # a budget that ran out earlier (a resumed checkpoint given more steps) runs on
        spent = state.result == solver.budget_result
        state = eqx.tree_at(
            lambda s: s.result, state, RESULTS.where(spent, RESULTS.running, state.result)
        )
    dtype = jnp.result_type(*jax.tree_util.tree_leaves(y))
    hist = jnp.full((length if record else 0, len(problem.names) + 1), jnp.nan, dtype)
    end = jnp.minimum(start + length, stop)

    def cond(carry):
        i, _, state, _ = carry
        if guard:
            return (i < end) & (state.result == RESULTS.running)
        return i < end

    def body(carry):
        i, y, state, hist = carry
        y_new, state_new, rec = solver.step(problem, y, state, i)
        if guard:
            failed = (state_new.result != RESULTS.running) & ~is_success(state_new.result)
            y_new = _select(failed, y, y_new)
        if record:
            rec = rec[None].astype(hist.dtype)
            hist = jax.lax.dynamic_update_slice_in_dim(hist, rec, i - start, 0)
        return i + 1, y_new, state_new, hist

    i, y, state, hist = jax.lax.while_loop(cond, body, (start, y, state, hist))
    out_of_steps = (i >= stop) & (state.result == RESULTS.running)
    result = RESULTS.where(out_of_steps, solver.budget_result, state.result)
    state = eqx.tree_at(lambda s: s.result, state, result)
    return i, y, state, hist, problem.values(y)


@eqx.filter_jit
def _init_state(solver: AbstractSolver, problem: Problem, y, state):
    """The solver's starting state, compiled on its own: a run of several chunks then
    compiles the loop once (`init=False`) instead of twice (the first chunk with `init`)."""
    state = solver.specialise(problem, y).init(problem, y, state)
    # the loop returns strongly typed leaves: match them, or the second chunk recompiles
    strong = lambda x: x + jnp.zeros((), x.dtype) if eqx.is_array(x) and x.dtype != bool else x
    return jax.tree_util.tree_map(strong, state)


_RUNNING = int(RESULTS.running._value)
_SUCCESS_CODES = np.asarray([int(r._value) for r in _SUCCESS])


def _code(state) -> int:
    return int(state.result._value)


# ---------------------------------------------------------------- deferred throw (pl.sweep)

_COLLECTOR: contextvars.ContextVar[list | None] = contextvars.ContextVar(
    "pinnloss_failures", default=None
)


@contextlib.contextmanager
def collect_failures():
    """Inside, a traced solve with `throw=True` records its outcome instead of raising.

    `pl.sweep` uses it to name the failing fit, step and term itself: the list it yields
    receives one dict per solve traced inside (arrays of the current trace).
    """
    found: list = []
    token = _COLLECTOR.set(found)
    try:
        yield found
    finally:
        _COLLECTOR.reset(token)


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
            lambda s, p, y, st: s.specialise(p, y).init(p, y, st), solver, problem, y0, state0
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
        ok = np.isin(codes, _SUCCESS_CODES)
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
    found = _COLLECTOR.get()
    if found is not None:
        found.append(
            dict(
                where=where,
                names=tuple(names),
                code=sol.result._value,
                failed_step=sol.stats["failed_step"],
                failed_term=sol.stats["failed_term"],
                steps=sol.steps,
            )
        )
        return sol
    return sol.result.error_if(sol, ~is_success(sol.result))


def default_chunk(steps: int, progress: bool, every: int | None) -> int:
    """~10 chunks of at least 500 steps with a progress bar, else one (or `every`)."""
    chunk = max(500, math.ceil(steps / 10)) if progress else steps
    if every is not None:
        chunk = min(chunk, every)
    return max(1, min(chunk, steps))


def _warn_if_underdetermined(problem: Problem, y, where: str) -> None:
    """Warn when a PDE objective has fewer residuals than parameters: the fit can match
    every collocation point and still miss the solution between them."""
    if not any(isinstance(t, Residual) for t in problem.objective.terms):
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


def _history(rows: list, names, max_steps: int, traced: bool) -> dict[str, Any]:
    """`{name: values}` and `"total"`, each `max_steps` long, NaN after the last step run."""
    if traced:
        h = rows[0][:max_steps]  # the traced buffer: one chunk of max(max_steps, 1) rows
    else:
        got = np.concatenate(rows, 0) if rows else np.zeros((0, len(names) + 1))
        h = np.full((len(names) + 1, max_steps), np.nan, got.dtype)
        h[:, : got.shape[0]] = got.T
        cols = jax.device_put(list(h))  # one transfer for all columns
        return dict(zip((*names, "total"), cols))
    out = {n: h[:, k] for k, n in enumerate(names)}
    out["total"] = h[:, -1]
    return out


def _host_loop(
    solver,
    problem,
    y,
    state,
    *,
    done,
    rows,
    init,
    max_steps,
    chunk,
    history,
    progress,
    callback,
    ckpt,
    where,
):
    """Run chunks until the solver is done, the budget is used or `callback` says stop.

    Between chunks: the progress bar, the history rows, the checkpoint, the callback.
    Returns `(i, y, state, rows, loss, stopped)`; `stopped`: the callback stopped a run
    that was still going.
    """
    bar, stopped = None, False
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=max_steps, initial=done, desc=where, leave=False)
    stop = jnp.asarray(max_steps)
    guard = solver.converges  # a solver that never stops by itself runs lean (see _chunk)
    if init and done + chunk < max_steps:
        # several chunks: start the state apart, so every chunk is the same compiled loop
        # (2-D Poisson, pl.fit SSBroyden in chunks of 50: two loop compiles, 10 s + 9 s,
        # became one; 2-core CPU at load 4)
        state, init = _init_state(solver, problem, y, state), False
    try:
        while True:
            start = jnp.asarray(done)
            args = (solver, problem, y, state, start, stop, chunk, history, init)
            i, y, state, hist, (loss, _) = _chunk(*args, guard)
            if not guard and _code(state) != _RUNNING and _code(state) not in _SUCCESS_CODES:
                # a failure ran on in the lean loop: replay the chunk, stopping at it
                i, y, state, hist, (loss, _) = _chunk(*args, True)
            init = False
            i_host = int(i)
            if history:
                rows.append(np.asarray(hist[: i_host - done]))
            if bar is not None:
                bar.update(i_host - done)
                bar.set_postfix(loss=f"{float(loss):.3e}")
            done = i_host
            if ckpt is not None:
                ckpt.save(y, state, done, rows)
            if callback is not None and callback(done, float(loss), problem.model(y)):
                stopped = _code(state) == _RUNNING
                break
            if _code(state) != _RUNNING or done >= max_steps:
                break
    finally:
        if bar is not None:
            bar.close()
    return i, y, state, rows, loss, stopped


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
    where: str = "solve",
) -> Solution:
    """Run `solver` on `objective(model)` for at most `max_steps` steps; see `pl.solve`."""
    y, static = eqx.partition(model, filter_spec)
    if not jax.tree_util.tree_leaves(y):
        raise ValueError(f"{where}: the model has no trainable (inexact array) parameters.")
    problem = Problem(objective, static)
    traced = not is_concrete((y, problem, solver, state))
    _warn_if_underdetermined(problem, y, where)
    if traced:
        if checkpoint is not None or callback is not None:
            raise ValueError(
                f"{where}: checkpoint= and callback= need concrete inputs; inside jax.jit, "
                "jax.vmap or pl.sweep use pl.sweep(..., checkpoint=) instead."
            )
        # one compiled call: the host cannot look between chunks
        i, y, state, hist, (loss, _) = _chunk(
            solver,
            problem,
            y,
            state,
            jnp.asarray(0),
            jnp.asarray(max_steps),
            max(max_steps, 1),
            history,
            True,
        )
        rows, stopped = [hist], False
    else:
        if chunk_size is None:
            chunk_size = default_chunk(
                max_steps, progress or callback is not None, checkpoint_every
            )
        ckpt, done, rows, init = None, 0, [], True
        if checkpoint is not None:
            ckpt = _Checkpointer(checkpoint, problem, solver, y, state, max_steps, history, where)
            resumed = ckpt.load()
            if resumed is not None:
                (y, state, done, rows), init = resumed, False
        i, y, state, rows, loss, stopped = _host_loop(
            solver,
            problem,
            y,
            state,
            done=done,
            rows=rows,
            init=init,
            max_steps=max_steps,
            chunk=max(1, min(chunk_size, max_steps)),
            history=history,
            progress=progress,
            callback=callback,
            ckpt=ckpt,
            where=where,
        )
    sol = Solution(
        model=problem.model(y),
        loss=loss,
        steps=i,
        # a callback's stop is the user's choice, not a failure; the state stays `running`
        # so that `state=` goes on from here
        result=RESULTS.stopped if stopped else state.result,
        history=_history(rows, objective.names, max_steps, traced) if history else None,
        state=state,
        stats=solver.stats(state),
    )
    return _finish(sol, objective.names, where, throw)
