r"""Dense quasi-Newton optimizers as Optax transformations: BFGS, SSBFGS and SSBroyden.

Each keeps a dense $n\times n$ inverse-Hessian approximation $H$ on the flattened
parameters (memory $8n^2$ bytes in float64: 11 MB for $n = 1185$, 200 MB for $n = 5000$;
each step costs $O(n^2)$ besides the loss), so they suit the small networks of
physics-informed fitting ($n \approx 10^3$–$5\cdot10^3$); for larger models use
`optax.lbfgs` or `pl.least_squares`.

A step $k$ takes the direction $d_k = -H_k g_k$, a step length $\alpha_k$ from a line
search satisfying the strong Wolfe conditions (Optax's zoom line search, Nocedal & Wright
Algorithms 3.5–3.6, which needs the `value_fn` extra argument), $s_k = \alpha_k d_k$,
$y_k = g_{k+1} - g_k$, then updates $H$ with the self-scaled Broyden-class formula
(Urbán, Stefanou & Pons 2025, eq. for $H_{k+1}$; Al-Baali 1998)

$$H_{k+1} = \frac{1}{\tau_k}\Big[H_k - \frac{H_k y_k y_k^\top H_k}{y_k^\top H_k y_k}
    + \phi_k\,(y_k^\top H_k y_k)\,v_k v_k^\top\Big] + \frac{s_k s_k^\top}{y_k^\top s_k},
\qquad v_k = \frac{s_k}{y_k^\top s_k} - \frac{H_k y_k}{y_k^\top H_k y_k},$$

which is the Broyden-class update of the scaled matrix $H_k/\tau_k$ (Hessian approximation
$\tau_k B_k$). Here $\phi_k$ is the parameter of the inverse form ($\phi = 1$: BFGS,
$\phi = 0$: DFP); the Hessian-form parameter $\theta_k$ ($\theta = 0$: BFGS, $\theta = 1$:
DFP) maps to it by $\phi_k = (1-\theta_k)/(1+a_k\theta_k)$. With
$b_k = s_k^\top B_k s_k / y_k^\top s_k = -\alpha_k\, s_k^\top g_k / y_k^\top s_k$
(because $B_k s_k = -\alpha_k g_k$), $h_k = y_k^\top H_k y_k / y_k^\top s_k$ and
$a_k = b_k h_k - 1 \ge 0$:

- `bfgs`: $\tau_k = 1$, $\theta_k = 0$.
- `ssbfgs` (Oren & Luenberger 1974 scaling, capped at one as in Al-Baali 1998):
  $\tau_k = \min(1, 1/b_k)$, $\theta_k = 0$.
- `ssbroyden` (Al-Baali & Khalfan 2005, as used by Urbán et al. 2025):
  $c_k = \sqrt{a_k/(1+a_k)}$, $\rho_k^- = \min(1, h_k(1-c_k))$,
  $\theta_k^- = (\rho_k^- - 1)/a_k$, $\theta_k^+ = 1/\rho_k^-$,
  $\theta_k = \max(\theta_k^-, \min(\theta_k^+, (1-b_k)/b_k))$,
  $\sigma_k = 1 + a_k\theta_k$, $\tau_k^{(1)} = \min(1, 1/b_k)$ and
  $\tau_k = \tau_k^{(1)}\min(\sigma_k^{-1/(n-1)}, 1/\theta_k)$ if $\theta_k > 0$,
  else $\tau_k = \min(\tau_k^{(1)}\sigma_k^{-1/(n-1)}, \sigma_k)$.

Safeguards: $H_0 = I$, rescaled before the first update to
$(s^\top y / y^\top y)\,I$ (Nocedal & Wright eq. 6.20); the update is skipped (H kept)
when $s^\top y \le \epsilon \lVert s\rVert \lVert y\rVert$ (curvature condition fails);
when $d_k$ is not a descent direction, or the line search ends without a decrease (neither
$f$ lower nor the line search's own decrease condition met), $H$ is reset to $I$ (the step
is then steepest descent, or no step at all). The loss therefore never increases, except
by at most $10^{-6}\lvert f\rvert$ where the zoom line search accepts Hager & Zhang's
approximate decrease next to a minimum (so it converges past the square root of
machine precision).

The update of $H$ is deferred to the next call: the state stores $s_k$ and $g_k$, and
$y_k$ is formed from the gradient the next `update` receives. Used through `pl.fit`, each
step costs one value-and-gradient plus those of the line search (usually one or two).

References:
    J. F. Urbán, P. Stefanou, J. A. Pons, "Unveiling the optimization process of physics
    informed neural networks: how accurate and competitive can PINNs be?", J. Comput.
    Phys. (2025), arXiv:2405.04230.
    S. S. Oren, D. G. Luenberger, "Self-scaling variable metric (SSVM) algorithms",
    Management Science 20 (1974) 845–862.
    M. Al-Baali, "Numerical experience with a class of self-scaling quasi-Newton
    algorithms", J. Optim. Theory Appl. 96 (1998) 533–553.
    M. Al-Baali, H. Khalfan, "A wide interval for efficient self-scaling quasi-Newton
    algorithms", Optim. Methods Softw. 20 (2005) 679–691.
    J. Nocedal, S. J. Wright, *Numerical Optimization*, 2nd ed., Springer 2006.

Example:
    >>> import pinnloss.optimizers as plo
    >>> sol = pl.fit(model, pl.DataMSE(x, y), plo.ssbroyden(), steps=1000)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, ArrayLike

__all__ = [
    "QuasiNewtonState",
    "bfgs",
    "broyden_update",
    "scale_by_quasi_newton",
    "ssbfgs",
    "ssbroyden",
]

Method = Literal["bfgs", "ssbfgs", "ssbroyden"]
_METHODS = ("bfgs", "ssbfgs", "ssbroyden")


class QuasiNewtonState(NamedTuple):
    """State of `scale_by_quasi_newton`.

    Attributes:
        count: number of `update` calls.
        inv_hessian: the dense inverse-Hessian approximation $H$, shape `(n, n)`.
        fresh: whether $H$ is the identity awaiting its first scaling (eq. 6.20).
        step: the last step $s$, flattened, shape `(n,)` (zero after a rejected step).
        grad: the gradient $g$ at the start of the last step, flattened.
        sbs: $s^\\top B s = -\\alpha\\, s^\\top g$ for the last step.
        updated: whether the last call updated $H$ (False: skipped or reset).
        tau, theta: the scaling $\\tau$ and Hessian-form parameter $\\theta$ last used.
        linesearch_state: the line search's state.
    """

    count: Array
    inv_hessian: Array
    fresh: Array
    step: Array
    grad: Array
    sbs: Array
    updated: Array
    tau: Array
    theta: Array
    linesearch_state: Any


def broyden_update(
    inv_hessian: ArrayLike,
    s: ArrayLike,
    y: ArrayLike,
    *,
    tau: ArrayLike = 1.0,
    theta: ArrayLike = 0.0,
) -> Array:
    r"""One self-scaled Broyden-class update of an inverse-Hessian approximation.

    $H_+ = \tau^{-1}[H - Hyy^\top H/(y^\top Hy) + \phi\,(y^\top Hy)\,vv^\top]
    + ss^\top/(y^\top s)$, $v = s/(y^\top s) - Hy/(y^\top Hy)$, with the inverse-form
    parameter $\phi = (1-\theta)/(1+a\theta)$, $a = (s^\top H^{-1}s)(y^\top Hy)/(y^\top s)^2
    - 1$ (Urbán et al. 2025; Nocedal & Wright §6.3). $\theta = 0$ is BFGS, $\theta = 1$
    DFP; $\tau = 1$ is unscaled. $H_+ y = s$ (secant equation) for every $\tau, \theta$.

    Args:
        inv_hessian: symmetric positive definite $H$, shape `(n, n)`.
        s: step, shape `(n,)`.
        y: gradient change, shape `(n,)`, with $y^\top s > 0$.
        tau: scaling $\tau > 0$ of the Hessian approximation ($H$ is divided by it).
        theta: Broyden-class parameter in the Hessian form.

    Returns:
        The updated $H$, shape `(n, n)`.

    Example:
        >>> H = plo.broyden_update(jnp.eye(2), jnp.array([1.0, 0.0]), jnp.array([2.0, 0.0]))
        >>> H @ jnp.array([2.0, 0.0])  # = s
        Array([1., 0.], dtype=float32)
    """
    H, s, y = jnp.asarray(inv_hessian), jnp.asarray(s), jnp.asarray(y)
    if H.ndim != 2 or H.shape[0] != H.shape[1] or s.shape != (H.shape[0],) or y.shape != s.shape:
        raise ValueError(
            "broyden_update: inv_hessian must be (n, n) and s, y (n,); "
            f"got {H.shape}, {s.shape}, {y.shape}."
        )
    sy = s @ y
    Hy = H @ y
    yHy = y @ Hy
    sbs = s @ jnp.linalg.solve(H, s)
    a = jnp.maximum(sbs * yHy / sy**2 - 1.0, 0.0)
    phi = (1.0 - theta) / (1.0 + a * theta)
    return _update(H, s, sy, Hy, yHy, tau, phi)


def _update(H, s, sy, Hy, yHy, tau, phi):
    v = s / sy - Hy / yHy
    inner = H - jnp.outer(Hy, Hy) / yHy + phi * yHy * jnp.outer(v, v)
    Hn = inner / tau + jnp.outer(s, s) / sy
    return 0.5 * (Hn + Hn.T)


def _scaling(method: str, b, h, n: int):
    """$(\\tau_k, \\theta_k)$ for `method` from $b_k$, $h_k$ and the dimension $n$."""
    one = jnp.ones_like(b)
    tau1 = jnp.minimum(1.0, 1.0 / b)
    if method == "bfgs":
        return one, 0.0 * one
    if method == "ssbfgs":
        return tau1, 0.0 * one
    a = jnp.maximum(b * h - 1.0, 0.0)
    tiny = jnp.finfo(b.dtype).tiny ** 0.5
    a_safe = jnp.maximum(a, tiny)
    c = jnp.sqrt(a_safe / (1.0 + a_safe))
    rho_minus = jnp.minimum(1.0, h * (1.0 - c))
    theta_minus = (rho_minus - 1.0) / a_safe
    theta_plus = 1.0 / rho_minus
    theta = jnp.maximum(theta_minus, jnp.minimum(theta_plus, (1.0 - b) / b))
    # a = 0: every member of the class gives the same H; take BFGS
    theta = jnp.where(a > tiny, theta, 0.0)
    sigma = 1.0 + a * theta
    sigma_pow = sigma ** (-1.0 / (n - 1)) if n > 1 else one
    tau = jnp.where(
        theta > 0.0,
        tau1 * jnp.minimum(sigma_pow, 1.0 / jnp.where(theta > 0.0, theta, 1.0)),
        jnp.minimum(tau1 * sigma_pow, sigma),
    )
    return tau, theta


def _init(linesearch, params) -> QuasiNewtonState:
    """The starting state: $H = I$, no step taken yet."""
    flat, _ = ravel_pytree(params)
    zero = jnp.zeros((), flat.dtype)
    return QuasiNewtonState(
        count=jnp.zeros((), jnp.int32),
        inv_hessian=jnp.eye(flat.shape[0], dtype=flat.dtype),
        fresh=jnp.asarray(True),
        step=jnp.zeros_like(flat),
        grad=jnp.zeros_like(flat),
        sbs=zero,
        updated=jnp.asarray(False),
        tau=zero + 1.0,
        theta=zero,
        linesearch_state=linesearch.init(params),
    )


def _deferred_update(method: str, state: QuasiNewtonState, g: Array, curvature_eps: float):
    """Step 1: the update of $H$ with the last step's $(s, y)$, skipped where the curvature
    condition fails. Returns `(H, fresh, ok, tau, theta)`."""
    n, dtype = g.shape[0], g.dtype
    H = state.inv_hessian
    s = state.step
    y = g - state.grad
    sy = s @ y
    ok = (state.count > 0) & (sy > curvature_eps * jnp.linalg.norm(s) * jnp.linalg.norm(y))
    ok = ok & jnp.isfinite(sy)
    sy_safe = jnp.where(ok, sy, 1.0)
    yy = jnp.where(ok, y @ y, 1.0)
    gamma = jnp.where(state.fresh, sy_safe / yy, 1.0)  # Nocedal & Wright eq. 6.20
    H0 = jnp.where(state.fresh, gamma * jnp.eye(n, dtype=dtype), H)
    Hy = H0 @ y
    yHy = jnp.where(ok, y @ Hy, 1.0)
    b = jnp.where(ok, state.sbs / gamma / sy_safe, 1.0)
    h = yHy / sy_safe
    tau, theta = _scaling(method, b, h, n)
    a = jnp.maximum(b * h - 1.0, 0.0)
    phi = (1.0 - theta) / (1.0 + a * theta)
    H_new = _update(H0, s, sy_safe, Hy, yHy, tau, phi)
    ok = ok & jnp.all(jnp.isfinite(H_new))
    return jnp.where(ok, H_new, H), state.fresh & ~ok, ok, tau, theta


def _direction(H: Array, g: Array, fresh: Array):
    """Step 2: $d = -H g$; steepest descent (and $H = I$) if it does not descend."""
    d = -(H @ g)
    descent = (d @ g < 0.0) & jnp.all(jnp.isfinite(d))
    eye = jnp.eye(g.shape[0], dtype=g.dtype)
    return jnp.where(descent, d, -g), jnp.where(descent, H, eye), fresh | ~descent


def _accepted(step_tree, ls_state, value, d: Array, g: Array, H: Array, fresh: Array):
    """Step 3: the line search's step if finite and decreasing (else none, and $H = I$).
    Returns `(s, H, fresh, s^T B s)`."""
    dtype = g.dtype
    s_new, _ = ravel_pytree(step_tree)
    new_value = getattr(ls_state, "value", None)
    accept = jnp.all(jnp.isfinite(s_new))
    if new_value is not None:
        decrease = new_value <= value
        info = getattr(ls_state, "info", None)
        if hasattr(info, "decrease_error"):  # Hager-Zhang's approximate decrease holds
            decrease = decrease | (info.decrease_error <= 0.0)
        accept = accept & jnp.isfinite(new_value) & decrease
    s_new = jnp.where(accept, s_new, 0.0)
    H = jnp.where(accept, H, jnp.eye(g.shape[0], dtype=dtype))
    # B s = -alpha g for s = alpha d, d = -H g: s^T B s = -alpha s^T g
    alpha = jnp.where(accept, (s_new @ d) / jnp.maximum(d @ d, jnp.finfo(dtype).tiny), 0.0)
    return s_new, H, fresh | ~accept, -alpha * (s_new @ g)


def scale_by_quasi_newton(
    method: Method = "ssbroyden",
    *,
    linesearch: optax.GradientTransformationExtraArgs | None = None,
    max_linesearch_steps: int = 25,
    curvature_eps: float = 1e-10,
) -> optax.GradientTransformationExtraArgs:
    r"""A dense quasi-Newton method with a line search, as an Optax transformation.

    See the module docstring for the formulas of `method` (`"bfgs"`, `"ssbfgs"`,
    `"ssbroyden"`). The returned updates are the steps $s_k = \alpha_k d_k$ (no further
    scaling needed); `update` needs the extra arguments `value`, `grad` and `value_fn`,
    which `pl.fit` passes.

    Args:
        method: which update of the inverse-Hessian approximation.
        linesearch: an Optax line search taking `value`, `grad`, `value_fn` (default
            `optax.scale_by_zoom_linesearch(max_linesearch_steps, initial_guess_strategy=
            "one")`: strong Wolfe, $c_1 = 10^{-4}$, $c_2 = 0.9$, with Hager–Zhang's
            approximate decrease near convergence).
        max_linesearch_steps: line-search evaluations per step (default line search).
        curvature_eps: skip the update of $H$ when $s^\top y \le \epsilon\lVert s\rVert
            \lVert y\rVert$.

    Returns:
        An `optax.GradientTransformationExtraArgs` with state `QuasiNewtonState`.

    Example:
        >>> opt = plo.scale_by_quasi_newton("ssbfgs")
        >>> sol = pl.fit(model, objective, opt, steps=500)
    """
    if method not in _METHODS:
        raise ValueError(
            f"scale_by_quasi_newton: method must be one of {_METHODS}; got {method!r}."
        )
    if linesearch is None:
        linesearch = optax.scale_by_zoom_linesearch(
            max_linesearch_steps=max_linesearch_steps, initial_guess_strategy="one"
        )

    def init_fn(params) -> QuasiNewtonState:
        return _init(linesearch, params)

    def update_fn(
        updates,
        state: QuasiNewtonState,
        params=None,
        *,
        value: ArrayLike,
        grad: Any = None,
        value_fn: Callable[..., ArrayLike],
        **extra_args,
    ):
        if params is None:
            raise ValueError(f"{method}: update needs params (the current parameters).")
        g, _ = ravel_pytree(updates)
        _, unravel = ravel_pytree(params)
        H, fresh, ok, tau, theta = _deferred_update(method, state, g, curvature_eps)
        d, H, fresh = _direction(H, g, fresh)
        step_tree, ls_state = linesearch.update(
            unravel(d),
            state.linesearch_state,
            params,
            value=value,
            grad=updates if grad is None else grad,
            value_fn=value_fn,
            **extra_args,
        )
        s_new, H, fresh, sbs = _accepted(step_tree, ls_state, value, d, g, H, fresh)
        dtype = g.dtype
        new_state = QuasiNewtonState(
            count=optax.safe_increment(state.count),
            inv_hessian=H,
            fresh=fresh,
            step=s_new,
            grad=g,
            sbs=sbs.astype(dtype),
            updated=ok,
            tau=jnp.where(ok, tau, 1.0).astype(dtype),
            theta=jnp.where(ok, theta, 0.0).astype(dtype),
            linesearch_state=ls_state,
        )
        return unravel(s_new), new_state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def bfgs(**kwargs) -> optax.GradientTransformationExtraArgs:
    r"""Dense BFGS with a strong-Wolfe line search ($\tau_k = 1$, $\theta_k = 0$).

    The unscaled reference for `ssbfgs` and `ssbroyden`; keyword arguments as
    `scale_by_quasi_newton`.

    Example:
        >>> sol = pl.fit(model, objective, plo.bfgs(), steps=500)
    """
    return scale_by_quasi_newton("bfgs", **kwargs)


def ssbfgs(**kwargs) -> optax.GradientTransformationExtraArgs:
    r"""Self-scaled BFGS: $\tau_k = \min(1, 1/b_k)$, $\theta_k = 0$ (Urbán et al. 2025).

    Keyword arguments as `scale_by_quasi_newton`; formulas in the module docstring.

    Example:
        >>> sol = pl.fit(model, objective, plo.ssbfgs(), steps=500)
    """
    return scale_by_quasi_newton("ssbfgs", **kwargs)


def ssbroyden(**kwargs) -> optax.GradientTransformationExtraArgs:
    r"""Self-scaled Broyden: $\tau_k$, $\theta_k$ of Al-Baali & Khalfan (Urbán et al. 2025).

    Keyword arguments as `scale_by_quasi_newton`; formulas in the module docstring.

    Example:
        >>> sol = pl.fit(model, objective, plo.ssbroyden(), steps=2000)
    """
    return scale_by_quasi_newton("ssbroyden", **kwargs)
