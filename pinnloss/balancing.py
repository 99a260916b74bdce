r"""Loss balancing: pure functions that compute new term weights for a `pl.Objective`.

Each function returns an array shaped like `objective.weights` (or, for ReLoBRaLo, the
weights and a new state); `reweight` puts it into the objective. Weights are arrays, so
a new value never recompiles `pl.fit`: alternate training chunks with weight updates,

Example:
    >>> for _ in range(10):
    ...     model = pl.fit(model, obj, optax.adam(1e-3), steps=500, progress=False).model
    ...     obj = bal.reweight(obj, bal.ntk_weights(obj, model))

or sweep a balancing hyperparameter with `jax.vmap` / `pl.sweep` (every function is pure
and works under `jit`, `vmap` and `grad`; the weights it returns carry no gradient).

Conventions:
    - Gradient-based methods (`annealing_weights`, `grad_norm_weights`, `ntk_weights`)
      take `(objective, model)` and differentiate each *unweighted* term with respect to
      the model's inexact arrays (`eqx.is_inexact_array`). Their moving average is
      $\lambda \leftarrow (1-\alpha)\,\lambda_\text{old} + \alpha\,\hat\lambda$, the old
      weights being `objective.weights`: `alpha` is the weight of the *new* estimate.
    - Loss-based methods (`relobralo`, `causal_weights`) take arrays of loss values.
    - Hyperparameters a user may sweep are arrays; a bad concrete value raises a
      `ValueError` naming the function and the argument, a bad traced one raises at run
      time through `eqx.error_if`. Non-finite weights (a term with zero gradient, a loss of
      exactly zero) raise at run time rather than returning NaN.
"""

# Implementation in pinnloss/pde/_balancing.py (the PDE layer); this module is its public name.
from .pde._balancing import CausalResidual as CausalResidual
from .pde._balancing import ReLoBRaLoState as ReLoBRaLoState
from .pde._balancing import annealing_weights as annealing_weights
from .pde._balancing import causal_weights as causal_weights
from .pde._balancing import grad_norm_weights as grad_norm_weights
from .pde._balancing import ntk_weights as ntk_weights
from .pde._balancing import relobralo as relobralo
from .pde._balancing import relobralo_init as relobralo_init
from .pde._balancing import reweight as reweight
from .pde._balancing import slab_losses as slab_losses

__all__ = [
    "reweight",
    "annealing_weights",
    "grad_norm_weights",
    "ntk_weights",
    "ReLoBRaLoState",
    "relobralo_init",
    "relobralo",
    "causal_weights",
    "slab_losses",
    "CausalResidual",
]
