"""PINNacle problems for benchmarks/pinnacle.py: the registry, the spec every problem fills in,
the reference loader and PINNacle's error metric.

A problem lives in `benchmarks/pinnacle_problems/<module>.py` and defines one module-level
`SPEC = Spec(...)`. `PROBLEMS` maps PINNacle's name to that module; `get(name)` imports it.

    spec = get("Poisson2d-C")
    x, y = spec.reference()               # PINNacle's test points and reference values
    out = spec.run(budget=60.0, seed=0)   # the recommended recipe, within `budget` seconds
    err = l2re(out.predict(x), y)         # PINNacle's L2RE (TesterCallback)

Reference: Hao et al., "PINNacle: A Comprehensive Benchmark of Physics-Informed Neural
Networks for Solving PDEs", NeurIPS 2024 (arXiv 2306.08827); repository i207M/PINNacle.
"""

from __future__ import annotations

import dataclasses
import importlib
import itertools
import math
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import pinnloss as pl

#: Where the bundled PINNacle references live (MIT licence, see LICENSE and SOURCE.md there).
DATA = Path(__file__).resolve().parent.parent / "data" / "pinnacle"

#: PINNacle's name → module in this package (each defines `SPEC`), in table order.
PROBLEMS: dict[str, str] = {
    "Burgers1d-C": "burgers1d_c",
    "Poisson2d-C": "poisson2d_c",
    "Poisson2d-CG": "poisson2d_cg",
    "Heat2d-MS": "heat2d_ms",
    "NS2d-C": "ns2d_c",
    "HNd": "hnd",
}


#: PINNacle's reported L2RE, (vanilla PINN, best method's, best method), from the paper's main
#: table (Hao et al., NeurIPS 2024, arXiv 2306.08827, Table 3, mean of 3 runs, 20 000 Adam
#: epochs on a 5x100 net), as transcribed by third-party summaries of that table; None where
#: we could not confirm a figure.
PINNACLE: dict[str, tuple[float | None, float, str]] = {
    "Burgers1d-C": (1.45e-2, 1.45e-2, "PINN"),
    "Poisson2d-C": (6.94e-1, 1.23e-2, "NTK"),
    "Poisson2d-CG": (None, 1.43e-2, "NTK"),
    "Heat2d-MS": (6.21e-2, 6.21e-2, "PINN"),
    "NS2d-C": (4.70e-2, 3.60e-2, "LAAF"),
    "HNd": (3.61e-1, 1.19e-4, "LBFGS"),
}


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What a recipe returns: a prediction function and how the solve went.

    Attributes:
        predict: `predict(x) -> y`, x of shape (n, input_dim), y of shape (n, output_dim)
            (numpy in, numpy out; float64).
        solver: a short name of the solver, e.g. "lm" (pl.least_squares).
        steps: solver steps taken.
        loss: the final training loss (the objective the solver minimised).
        heldout: the mean squared PDE residual at fresh points the solver never saw,
            in the same units as the PDE term of `loss` (None if not measured).
        seconds: wall time of the solve (compile included).
        compile_seconds: wall time until the first compiled call returned: compilation plus
            that call's steps (the driver sizes its calls to the time left, so under heavy
            load this can be the whole solve). JSON key `first_call_seconds`.
        overfit: whether the solve warned `pl.OverfitWarning` (or the harness's own check:
            held-out residual far above the training loss).
        extra: further errors by name, e.g. {"l2re_cole_hopf": 3e-4} on Burgers1d-C.
        params: number of fitted parameters.
        points: number of collocation points (all terms).
    """

    predict: Callable[[np.ndarray], np.ndarray]
    solver: str
    steps: int
    loss: float
    heldout: float | None = None
    seconds: float = math.nan
    compile_seconds: float = math.nan
    overfit: bool = False
    extra: dict[str, float] = dataclasses.field(default_factory=dict)
    params: int = 0
    points: int = 0


@dataclasses.dataclass(frozen=True)
class Spec:
    """One PINNacle problem: its reference, PINNacle's reported errors and our recipe.

    Attributes:
        name: PINNacle's name ("Poisson2d-C").
        pinnacle_class: the class in PINNacle's `src/pde/` ("poisson.py Poisson2D_Classic").
        input_dim, output_dim: sizes of a point and of the solution (NS: u, v, p → 3).
        reference: `reference() -> (x, y)`: PINNacle's test points and values, as its
            `TesterCallback` builds them (all reference rows without NaN, or its uniform
            grid of an analytic solution).
        run: `run(budget, seed) -> Outcome`: the recommended recipe within `budget` seconds.
        recipe: what the recipe sets and why, one or two sentences (README and `--help`).
        owner: who maintains the recipe.
    """

    name: str
    pinnacle_class: str
    input_dim: int
    output_dim: int
    reference: Callable[[], tuple[np.ndarray, np.ndarray]]
    run: Callable[..., Outcome]
    recipe: str
    owner: str = "runner"

    # PINNacle's reported errors, read from the one `PINNACLE` table by name (not restated
    # per problem): the vanilla PINN L2RE (None if unconfirmed), the best over all its
    # methods, and which method reached it ("NTK", "LAAF", …)
    @property
    def vanilla(self) -> float | None:
        return PINNACLE[self.name][0]

    @property
    def best(self) -> float:
        return PINNACLE[self.name][1]

    @property
    def best_method(self) -> str:
        return PINNACLE[self.name][2]


def get(name: str) -> Spec:
    """The `Spec` of a problem by PINNacle's name (case-insensitive)."""
    key = {k.lower(): k for k in PROBLEMS}.get(name.lower())
    if key is None:
        raise ValueError(f"problem: unknown {name!r}; choose from {', '.join(PROBLEMS)}.")
    module = importlib.import_module(f"{__name__}.{PROBLEMS[key]}")
    return module.SPEC


def available() -> list[str]:
    """Names whose module exists (a problem still being written is skipped)."""
    here = Path(__file__).resolve().parent
    return [k for k, m in PROBLEMS.items() if (here / f"{m}.py").exists()]


# ---------------------------------------------------------------- metric and references


def l2re(pred, ref) -> float:
    r"""PINNacle's L2 relative error, as its `TesterCallback` computes it.

    $\mathrm{L2RE} = \sqrt{\operatorname{mean}((\hat y - y)^2)} / \sqrt{\operatorname{mean}(y^2)}$
    over all test points and all output components together (NS: u, v and p in one norm;
    the pressure counts as much as a velocity). Rows of `ref` holding a NaN are the caller's
    to drop (`load_reference` does, as PINNacle does).

    Args:
        pred, ref: arrays of the same shape (n, output_dim) (or (n,)).
    """
    pred = np.asarray(pred, np.float64)
    ref = np.asarray(ref, np.float64)
    if pred.shape != ref.shape:
        raise ValueError(f"l2re: pred has shape {pred.shape}, ref {ref.shape}: they must agree.")
    if ref.size == 0:
        raise ValueError("l2re: ref is empty.")
    den = math.sqrt(float(np.mean(ref**2)))
    if not den > 0:
        raise ValueError("l2re: ref is all zeros: the relative error is undefined.")
    return math.sqrt(float(np.mean((pred - ref) ** 2))) / den


def load_reference(
    filename: str, input_dim: int, output_dim: int, *, time_slices: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Read a PINNacle COMSOL reference (`%` comment lines) as PINNacle's `load_ref_data`.

    PINNacle reads it as float32 (then compares its float32 network with it); we keep those
    float32 values, widened to float64. With `time_slices` the file holds the spatial
    coordinates then one column per time slice (times in the `% ... @ t=...` header), and the
    rows are spread to (x..., t, u...) as its `trans_time_data_to_dataset` does. Rows with a
    NaN are dropped, as its `TesterCallback` does.

    Returns:
        x of shape (n, input_dim), y of shape (n, output_dim), float64.
    """
    path = DATA / filename
    data = np.loadtxt(path, comments="%").astype(np.float32)
    if time_slices:
        data = _spread_time(path, data, input_dim, output_dim)
    data = data.astype(np.float64)
    keep = ~np.isnan(data).any(axis=1)
    data = data[keep]
    return data[:, :input_dim], data[:, input_dim : input_dim + output_dim]


def _spread_time(path: Path, data: np.ndarray, input_dim: int, output_dim: int) -> np.ndarray:
    slices = (data.shape[1] - input_dim + 1) // output_dim
    if slices * output_dim != data.shape[1] - input_dim + 1:
        raise ValueError(f"{path.name}: {data.shape[1]} columns do not hold {output_dim} outputs.")
    times = None
    for line in path.read_text().splitlines():
        if line.startswith("%") and line.count("@") == slices * output_dim:
            times = [float(s.split("t=")[1].split()[0]) for s in line.split("@")[1:]]
    if times is None:
        raise ValueError(f"{path.name}: no '@ t=' header with {slices} time slices.")
    t = np.asarray(times[::output_dim], np.float32)
    tt, x0 = np.meshgrid(t, data[:, 0])
    cols = [x0.reshape(-1)]
    for i in range(1, input_dim - 1):
        cols.append(np.stack([data[:, i]] * slices).T.reshape(-1))
    cols.append(tt.reshape(-1))
    for i in range(output_dim):
        cols.append(data[:, input_dim - 1 + i :: output_dim].reshape(-1))
    return np.stack(cols).T


def uniform_grid(lo, hi, n: int) -> np.ndarray:
    """DeepXDE's `Hypercube.uniform_points(n, boundary=False)`: PINNacle's test points for a
    problem with an analytic solution (2500 points in 2-D, 20000 otherwise).

    Spacing $h = (\\text{volume}/n)^{1/d}$; per axis $\\lceil L/h\\rceil$ interior nodes of an
    equispaced grid that leaves out both ends; the product of the axes.
    """
    lo = np.asarray(lo, np.float64)
    hi = np.asarray(hi, np.float64)
    side = hi - lo
    h = (float(np.prod(side)) / n) ** (1 / len(lo))
    axes = []
    for a, b, s in zip(lo, hi, side):
        k = int(np.ceil(s / h))
        axes.append(np.linspace(a, b, num=k + 1, endpoint=False, dtype=np.float32)[1:])
    return np.array(list(itertools.product(*axes)), np.float64)


# ---------------------------------------------------------------- geometry


def rect_minus_disks(lo, hi, disks) -> pl.geometry.AbstractGeometry:
    """`pl.geometry.Rectangle(lo, hi)` minus the disks `(cx, cy, r)`: boundary parts
    `"rectangle"` (its four sides) and `"disk"` (every circle)."""
    dom = pl.geometry.Rectangle(lo, hi)
    for cx, cy, r in disks:
        dom = dom - pl.geometry.Disk((cx, cy), r)
    return dom


def boundary_parts(domain, n: int, key, lengths: dict[str, float]) -> dict[str, np.ndarray]:
    """`n` boundary points spread by length over the named parts of `domain`: `lengths`
    maps each part's label to its length; returns label -> points (numpy)."""
    total = sum(lengths.values())
    counts = {k: int(round(n * v / total)) for k, v in lengths.items()}
    last = list(lengths)[-1]
    counts[last] = n - sum(c for k, c in counts.items() if k != last)
    keys = jax.random.split(key, len(lengths))
    return {
        k: np.asarray(domain.sample_boundary(counts[k], key=kk, part=k)[0])
        for k, kk in zip(lengths, keys)
    }


# ---------------------------------------------------------------- shared recipe pieces


class Net(eqx.Module):
    """A tanh MLP called on one point (shape (input_dim,)), its inputs mapped from the box
    [lo, hi] to [-1, 1]; returns shape (output_dim,), or a scalar when output_dim == 1."""

    mlp: eqx.nn.MLP
    lo: Any
    hi: Any

    def __call__(self, x):
        lo, hi = jax.lax.stop_gradient(self.lo), jax.lax.stop_gradient(self.hi)
        return self.mlp(2 * (x - lo) / (hi - lo) - 1)


def mlp(input_dim: int, output_dim: int, *, lo, hi, width: int = 20, depth: int = 3, key) -> Net:
    """A `Net` of `depth` hidden tanh layers of `width` (PINNacle uses 5 x 100; 3 x 20 is
    enough here and keeps a dense Levenberg-Marquardt step cheap)."""
    out = output_dim if output_dim > 1 else "scalar"
    net = eqx.nn.MLP(input_dim, out, width, depth, activation=jnp.tanh, key=key)
    return Net(net, jnp.asarray(lo, float), jnp.asarray(hi, float))


def n_params(model) -> int:
    """Number of fitted parameters (inexact arrays, the box bounds excluded)."""
    leaves = jax.tree_util.tree_leaves(eqx.filter(model.mlp, eqx.is_inexact_array))
    return int(sum(x.size for x in leaves))


def predictor(model, batch: int = 8192) -> Callable[[np.ndarray], np.ndarray]:
    """`predict(x)` of a one-point model over an (n, d) array, jitted, in batches; (n, out)."""
    f = eqx.filter_jit(lambda m, x: jax.vmap(m)(x))

    def predict(x):
        x = np.asarray(x, np.float64)
        out = [np.asarray(f(model, jnp.asarray(x[i : i + batch]))) for i in range(0, len(x), batch)]
        y = np.concatenate(out, 0)
        return y.reshape(len(x), -1)

    return predict


def least_squares_for(model, objective, budget: float, **kwargs):
    """`pl.least_squares` for `budget` seconds of wall time (`time_limit=`, compilation
    included, checked between compiled calls). Returns (solution, seconds, first_call_seconds,
    overfit_warned): `first_call_seconds` is the time to the first callback (compilation plus
    the first compiled call); `overfit_warned` whether the solve warned `pl.OverfitWarning`."""
    t0 = time.perf_counter()
    first: list[float] = []

    def note(step, loss, m):
        if not first:
            first.append(time.perf_counter() - t0)
        return False

    kwargs.setdefault("max_steps", 1_000_000)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sol = pl.least_squares(model, objective, time_limit=budget, callback=note,
                               history=False, **kwargs)  # fmt: skip
    warned = False
    for w in caught:
        warned |= issubclass(w.category, pl.OverfitWarning)
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    seconds = time.perf_counter() - t0
    return sol, seconds, (first[0] if first else seconds), warned


def overfit_check(name: str, loss: float, heldout: float, factor: float = 100.0) -> bool:
    """`pl.OverfitWarning` when the held-out PDE residual is more than `factor` times the
    training loss (the driver checks each domain term; this also covers terms on fixed
    points): the points are too few for the net (more points, or resample between chunks)."""
    if heldout > factor * max(loss, 1e-300):
        warnings.warn(
            f"{name}: training loss {loss:.2e} but held-out residual {heldout:.2e} "
            f"(> {factor:g}x): the fit may be wrong between the points; use more points or "
            "resample.", pl.OverfitWarning, stacklevel=2,
        )  # fmt: skip
        return True
    return False


@eqx.filter_jit
def _mean_square(residual_fn, model, pts):
    r = jax.vmap(lambda x: jnp.ravel(jnp.asarray(residual_fn(model, x))))(pts)
    return jnp.mean(jnp.sum(r**2, axis=-1))


def finish(name: str, run, objective, *, residual_fn=None, fresh=None, pde_term: str = "pde",
           extra: dict | None = None) -> Outcome:  # fmt: skip
    """The `Outcome` of a `least_squares_for` run. The held-out residual is the driver's
    (`stats["heldout/<pde_term>"]`, a term over a domain), or else the mean over `fresh`
    points of |residual_fn(model, x)|²; the harness also checks it against the loss."""
    sol, seconds, compile_s, warned = run
    key = f"heldout/{pde_term}"
    if key in sol.stats:
        heldout = float(sol.stats[key])
    else:
        heldout = float(_mean_square(residual_fn, sol.model, jnp.asarray(fresh)))
    loss = float(sol.loss)
    flagged = warned or overfit_check(name, loss, heldout)
    points = sum(int(t.points.shape[0]) for t in objective.terms if hasattr(t, "points"))
    return Outcome(
        predict=predictor(sol.model), solver="lm", steps=int(sol.steps), loss=loss,
        heldout=heldout, seconds=seconds, compile_seconds=compile_s, overfit=flagged,
        extra=dict(extra or {}), params=n_params(sol.model), points=points,
    )  # fmt: skip
