"""Optional tools that examples use, outside the fitting core: Langevin sampling and
per-sample losses and gradients.

    >>> from pinnloss import extras
    >>> grads = extras.per_sample_grads(pl.losses.mse, model, x, y)

The same functions are `pl.langevin_sample`, `pl.per_sample_losses`, `pl.per_sample_grads`
and `pl.per_sample_grad_norms` (the README's examples use those names).
"""

from ._samples import langevin_sample as langevin_sample
from ._samples import per_sample_grad_norms as per_sample_grad_norms
from ._samples import per_sample_grads as per_sample_grads
from ._samples import per_sample_losses as per_sample_losses

__all__ = ["langevin_sample", "per_sample_losses", "per_sample_grads", "per_sample_grad_norms"]
