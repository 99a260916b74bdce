"""Peak memory of one solver step on a million data points: least_squares vs Adam.

    python benchmarks/memory.py            # about 1 minute on a 2-core CPU

MLP 1→32→32→1 (1153 parameters), `pl.DataMSE` on 10⁶ points, float64. Each solver runs
in a fresh process (peak RSS is per process): one `pl.least_squares` step (method="auto",
which goes matrix-free above 2²⁵ Jacobian entries) and one `pl.fit` Adam step. The issue
that asked for this measured 14.3 GB for the least-squares step (Adam 1.1 GB).
"""

from __future__ import annotations

import subprocess
import sys

CHILD = r"""
import resource, sys, time
import jax
jax.config.update("jax_enable_x64", True)
import equinox as eqx, jax.numpy as jnp, optax
import pinnloss as pl
x = jnp.linspace(-1.0, 1.0, 10**6)
obj = pl.DataMSE(x, jnp.sin(3 * x))
m = eqx.nn.MLP("scalar", "scalar", 32, 2, activation=jnp.tanh, key=jax.random.key(0))
t = time.perf_counter()
if sys.argv[1] == "lsq":
    r = pl.least_squares(m, obj, max_steps=1, throw=False)
else:
    r = pl.fit(m, obj, optax.adam(1e-3), steps=1, progress=False)
jax.block_until_ready(r.loss)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, time.perf_counter() - t)
"""


def peak(which: str) -> tuple[float, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, which], capture_output=True, text=True, check=True
    ).stdout.split()
    return float(out[-2]), float(out[-1])


def main():
    (gb_lsq, t_lsq), (gb_adam, t_adam) = peak("lsq"), peak("adam")
    print("| one step on 10⁶ points | peak RSS | wall (compile included) |")
    print("|---|---|---|")
    print(f"| pl.least_squares (auto → matrix-free CG) | {gb_lsq:.2f} GB | {t_lsq:.1f} s |")
    print(f"| pl.fit, Adam | {gb_adam:.2f} GB | {t_adam:.1f} s |")
    print(f"least_squares / Adam peak memory: {gb_lsq / gb_adam:.1f}× (was 14.3 / 1.1 = 13×)")


if __name__ == "__main__":
    main()
