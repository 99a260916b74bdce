"""jinns and DeepXDE rows for benchmarks/pinn.py (the optional `bench` environment).

Each runner trains on the same collocation points as pinnloss (benchmarks/pinn_problems.py)
in float64 and returns `(relative L2 error, steps as text, wall seconds incl. compile)`.
Setups follow each library's documentation for these problems: DeepXDE Adam (lr 1e-3)
then torch L-BFGS, half the budget each (its Burgers example); jinns its self-scaled
Broyden optimizer (`jinns.optimizers.scale_by_SSBroyden_family`, zoom line search) and
Adam. Budgets are met by a stop callback (DeepXDE) or a step count sized from a short
timed run (jinns).
"""

from __future__ import annotations

import importlib.util
import os
import time

import numpy as np
import pinn_problems as pp


class Missing(Exception):
    """A peer library is not installed."""


def available() -> str:
    found = [m for m in ("jinns", "deepxde", "torch") if importlib.util.find_spec(m)]
    return ", ".join(found) if found else "none (jinns/DeepXDE rows are skipped)"


def _need(*mods):
    for m in mods:
        if importlib.util.find_spec(m) is None:
            raise Missing(
                f"{m} is not installed (pip install -e '.[bench]' jinns==1.10.2 "
                "deepxde==1.15.0 in a separate venv)"
            )


# ---------------------------------------------------------------- DeepXDE


def _dde():
    _need("deepxde", "torch")
    os.environ.setdefault("DDE_BACKEND", "pytorch")
    import deepxde as dde

    dde.config.set_default_float("float64")
    return dde


def _dde_train(dde, data, layers, budget, predict_error):
    import torch

    torch.manual_seed(0)
    net = dde.nn.FNN(layers, "tanh", "Glorot normal")
    model = dde.Model(data, net)
    t0 = time.perf_counter()

    class Stop(dde.callbacks.Callback):
        def __init__(self, until):
            super().__init__()
            self.until = until

        def on_epoch_end(self):
            if time.perf_counter() - t0 > self.until:
                self.model.stop_training = True

    model.compile("adam", lr=1e-3)
    model.train(iterations=1_000_000, display_every=10**9, callbacks=[Stop(budget / 2)],
                verbose=0)  # fmt: skip
    adam_steps = model.train_state.step
    dde.optimizers.config.set_LBFGS_options(maxiter=1_000_000)
    # torch L-BFGS keeps its memory between calls; 50 iterations per call lets the stop
    # callback act (DeepXDE's default is 1000 per call)
    opts = dde.optimizers.config.LBFGS_options
    opts["iter_per_step"], opts["fun_per_step"] = 50, 63
    model.compile("L-BFGS")
    model.train(display_every=10**9, callbacks=[Stop(budget)], verbose=0)
    wall = time.perf_counter() - t0
    lbfgs_steps = model.train_state.step - adam_steps
    err = predict_error(lambda x: model.predict(x))
    return err, f"{adam_steps} + {lbfgs_steps}", wall


def dde_poisson(budget):
    dde = _dde()
    interior, bnd = pp.poisson_points()
    geom = dde.geometry.Rectangle([0.0, 0.0], [1.0, 1.0])
    bk = dde.backend

    def pde(x, u):
        lap = dde.grad.hessian(u, x, i=0, j=0) + dde.grad.hessian(u, x, i=1, j=1)
        f = 2 * np.pi**2 * bk.sin(np.pi * x[:, 0:1]) * bk.sin(np.pi * x[:, 1:2])
        return -lap - f

    bc = dde.icbc.DirichletBC(geom, lambda x: 0.0, lambda x, on_b: on_b)
    data = dde.data.PDE(geom, pde, bc, num_domain=0, num_boundary=0,
                        anchors=np.vstack([interior, bnd]))  # fmt: skip
    return _dde_train(dde, data, [2, 32, 32, 1], budget, pp.poisson_rel_l2)


def dde_burgers(budget):
    dde = _dde()
    b = pp.Burgers()
    geom = dde.geometry.GeometryXTime(dde.geometry.Interval(-1, 1), dde.geometry.TimeDomain(0, 1))

    def pde(x, y):
        y_x = dde.grad.jacobian(y, x, i=0, j=0)
        y_t = dde.grad.jacobian(y, x, i=0, j=1)
        y_xx = dde.grad.hessian(y, x, i=0, j=0)
        return y_t + y * y_x - pp.NU * y_xx

    bc = dde.icbc.DirichletBC(geom, lambda x: 0.0, lambda _, on_b: on_b)
    ic = dde.icbc.IC(geom, lambda x: -np.sin(np.pi * x[:, 0:1]), lambda _, on_i: on_i)
    anchors = np.vstack([b.interior, b.initial, b.boundary])
    data = dde.data.TimePDE(geom, pde, [bc, ic], num_domain=0, num_boundary=0, num_initial=0,
                            anchors=anchors)  # fmt: skip
    layers = [2] + [b.width] * b.depth + [1]
    return _dde_train(dde, data, layers, budget, b.rel_l2)


# ---------------------------------------------------------------- jinns


def jinns_poisson(budget, optimizer):
    _need("jinns")
    import pinn_jinns

    return pinn_jinns.poisson(budget, optimizer)


def jinns_burgers(budget, optimizer):
    _need("jinns")
    import pinn_jinns

    return pinn_jinns.burgers(budget, optimizer)


def runners(problem: str, budget: float, quick: bool):
    """(name, thunk) pairs for `problem` ("poisson" or "burgers")."""
    dde_fn = {"poisson": dde_poisson, "burgers": dde_burgers}[problem]
    jinns_fn = {"poisson": jinns_poisson, "burgers": jinns_burgers}[problem]
    return [
        ("jinns 1.10.2 SSBroyden", lambda: jinns_fn(budget, "ssbroyden")),
        ("jinns 1.10.2 Adam 1e-3", lambda: jinns_fn(budget, "adam")),
        ("DeepXDE 1.15 (torch) Adam + L-BFGS", lambda: dde_fn(budget)),
    ]
