"""pinnloss.pde: operators against central finite differences and closed forms (float64),
under jit / vmap / grad; collocation points; RAD resampling; hard Dirichlet constraints."""

import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import trace_count

import pinnloss as pl
import pinnloss.pde as pde

METHODS = ["auto", "hessian_trace", "fwd_over_rev", "taylor"]
H1, H2 = 1e-6, 1e-3  # central-difference steps for first and second derivatives


# ----------------------------------------------------------------------------- helpers


def _point(d, seed=0):
    x = jax.random.uniform(jax.random.key(seed), (max(d, 1),), minval=0.1, maxval=0.9)
    return x[0] if d == 1 else x


def _mlp(d, out="scalar", seed=1, width=16):
    return eqx.nn.MLP(
        "scalar" if d == 1 else d, out, width, 2, activation=jnp.tanh, key=jax.random.key(seed)
    )


def _basis(x, i):
    return jnp.ones_like(x) if x.ndim == 0 else jnp.zeros_like(x).at[i].set(1.0)


def _jitted(fd):
    """`fd(f, x, ...)` run as one compiled function (eager finite differences are slow)."""

    def run(f, x, *args):
        return eqx.filter_jit(lambda f, x: fd(f, x, *args))(f, x)

    return run


@_jitted
def fd_grad(f, x):
    """Central differences of `f` (any output shape): shape out + x.shape."""
    cols = [
        (jnp.asarray(f(x + H1 * _basis(x, i))) - jnp.asarray(f(x - H1 * _basis(x, i)))) / (2 * H1)
        for i in range(max(x.size, 1))
    ]
    return cols[0] if x.ndim == 0 else jnp.stack(cols, axis=-1)


@_jitted
def fd_hessian(f, x):
    """Central second differences of `f`: shape out + x.shape + x.shape."""
    n = max(x.size, 1)
    h = H2
    rows = []
    for i in range(n):
        row = []
        for j in range(n):
            ei, ej = _basis(x, i) * h, _basis(x, j) * h
            v = (
                jnp.asarray(f(x + ei + ej))
                - jnp.asarray(f(x + ei - ej))
                - jnp.asarray(f(x - ei + ej))
                + jnp.asarray(f(x - ei - ej))
            ) / (4 * h * h)
            row.append(v)
        rows.append(jnp.stack(row, -1))
    return rows[0][..., 0] if x.ndim == 0 else jnp.stack(rows, -2)


def fd_laplacian(f, x, axes=None):
    hess = np.asarray(fd_hessian(f, x))
    if x.ndim == 0:
        return hess
    axes = range(x.size) if axes is None else axes
    return sum(hess[..., i, i] for i in axes)


def sines(x):
    """$\\prod_i \\sin(\\pi x_i)$, with $\\Delta u = -d\\pi^2 u$."""
    return jnp.prod(jnp.sin(jnp.pi * jnp.atleast_1d(x)))


# -------------------------------------------------------------------------- operators


@pytest.mark.parametrize("d", [1, 2, 3])
def test_laplacian_closed_form_and_fd(d):
    x = _point(d)
    model = _mlp(d)
    eager = pde.laplacian(model)(x)  # one eager call; the rest compiled, all methods at once
    both = eqx.filter_jit(
        lambda m, x: [(pde.laplacian(sines, k)(x), pde.laplacian(m, k)(x)) for k in METHODS]
    )(model, x)
    fd = fd_laplacian(model, x)
    np.testing.assert_allclose(eager, fd, rtol=1e-5, atol=1e-7)
    assert pde._AUTO in METHODS[1:]
    for closed, net in both:
        assert closed.shape == () and net.shape == ()
        np.testing.assert_allclose(closed, -d * jnp.pi**2 * sines(x), rtol=1e-12)
        np.testing.assert_allclose(net, fd, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(net, eager, rtol=1e-12)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_laplacian_jit_vmap_grad(d):
    model = _mlp(d)
    xs = jax.vmap(lambda s: _point(d, s))(jnp.arange(3))
    methods = METHODS[1:]

    def losses(m):
        return jnp.stack([jnp.sum(jax.vmap(pde.laplacian(m, k))(xs) ** 2) for k in methods])

    batched = eqx.filter_jit(lambda m: [jax.vmap(pde.laplacian(m, k))(xs) for k in methods])(model)
    one = pde.laplacian(model)(xs[2])  # eager, one point
    for b in batched:
        np.testing.assert_allclose(b[2], one, rtol=1e-12)
        np.testing.assert_allclose(b, batched[0], rtol=1e-12)
    params, static = eqx.partition(model, eqx.is_inexact_array)
    grads = eqx.filter_jit(
        lambda m: [eqx.filter_grad(lambda m, i=i: losses(m)[i])(m) for i in range(len(methods))]
    )(model)
    direction = jax.tree_util.tree_map(
        lambda p: jax.random.normal(jax.random.key(p.size), p.shape), params
    )
    eps = 1e-6

    @eqx.filter_jit
    def shifted(s):
        p = jax.tree_util.tree_map(lambda a, v: a + s * v, params, direction)
        return losses(eqx.combine(p, static))

    fd = (shifted(eps) - shifted(-eps)) / (2 * eps)
    for i, g in enumerate(grads):
        slope = sum(
            jnp.vdot(a, b)
            for a, b in zip(
                jax.tree_util.tree_leaves(eqx.filter(g, eqx.is_inexact_array)),
                jax.tree_util.tree_leaves(direction),
            )
        )
        np.testing.assert_allclose(slope, fd[i], rtol=1e-6)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_grad(d):
    x = _point(d)
    model = _mlp(d)
    g = pde.grad(model)(x)
    assert g.shape == x.shape
    np.testing.assert_allclose(g, fd_grad(model, x), rtol=1e-7, atol=1e-9)
    exact = jnp.pi * jnp.cos(jnp.pi * x) * (jnp.ones(()) if d == 1 else 1.0)
    if d == 2:
        exact = jnp.pi * jnp.cos(jnp.pi * x) * jnp.sin(jnp.pi * x[::-1])
    if d != 3:
        np.testing.assert_allclose(pde.grad(sines)(x), exact, rtol=1e-12)
    # a (1,)-output model is a scalar model
    one = _mlp(d, out=1)
    assert pde.grad(one)(x).shape == x.shape


@pytest.mark.parametrize("d", [1, 2, 3])
def test_divergence(d):
    x = _point(d)
    field = _mlp(d, out="scalar" if d == 1 else d)
    div = pde.divergence(field)(x)
    assert div.shape == ()
    np.testing.assert_allclose(div, jnp.trace(jnp.atleast_2d(fd_grad(field, x))), rtol=1e-7)
    np.testing.assert_allclose(pde.divergence(lambda y: y**2)(x), 2 * jnp.sum(x), rtol=1e-12)
    xs = jax.vmap(lambda s: _point(d, s))(jnp.arange(4))
    batched = jax.jit(jax.vmap(pde.divergence(field)))(xs)
    np.testing.assert_allclose(batched, [pde.divergence(field)(y) for y in xs], rtol=1e-12)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_vector_laplacian(d):
    x = _point(d)
    model = _mlp(d, out=3)
    both = lambda y: jnp.stack([sines(y), 2 * sines(y)])
    xs = jax.vmap(lambda s: _point(d, s))(jnp.arange(3))
    out = eqx.filter_jit(
        lambda m: [
            (
                pde.vector_laplacian(m, k)(x),
                pde.vector_laplacian(both, k)(x),
                jax.vmap(pde.vector_laplacian(m, k))(xs),
            )
            for k in METHODS
        ]
    )(model)
    fd = fd_laplacian(model, x)
    eager = pde.vector_laplacian(model)(xs[1])
    for lap, closed, batched in out:
        assert lap.shape == (3,)
        np.testing.assert_allclose(lap, fd, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(closed, -d * jnp.pi**2 * both(x), rtol=1e-12)
        np.testing.assert_allclose(batched[1], eager, rtol=1e-12)


def test_time_derivative_and_spatial_laplacian():
    # heat equation u_t = Δu: exp(-2π² t) sin(πx) sin(πy) is an exact solution
    heat = lambda z: (
        jnp.exp(-2 * jnp.pi**2 * z[0]) * jnp.sin(jnp.pi * z[1]) * jnp.sin(jnp.pi * z[2])
    )
    z = jnp.array([0.05, 0.3, 0.6])
    zs = jnp.stack([z, z + 0.1])
    model = _mlp(3)

    def residual(m, z, k):
        return pde.dt(m)(z) - pde.spatial_laplacian(m, method=k)(z)

    out = eqx.filter_jit(
        lambda m: [
            (
                residual(heat, z, k),
                pde.laplacian(heat, k, exclude=(0,))(z) - pde.dt(heat)(z),
                pde.spatial_laplacian(m, method=k)(z),
                jax.vmap(lambda q, k=k: residual(m, q, k))(zs),
            )
            for k in METHODS
        ]
    )(model)
    fd = fd_laplacian(model, z, axes=(1, 2))
    eager = residual(model, zs[1], "auto")
    scale = abs(float(pde.dt(heat)(z)))
    for exact, exact2, lap, batched in out:
        assert abs(float(exact)) < 1e-12 * scale and abs(float(exact2)) < 1e-12 * scale
        np.testing.assert_allclose(lap, fd, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(batched[1], eager, rtol=1e-12)
    g = fd_grad(model, z)
    np.testing.assert_allclose(pde.dt(model)(z), g[0], rtol=1e-7)
    # time last, and an ODE model of a scalar t
    np.testing.assert_allclose(pde.dt(model, time_axis=2)(z), g[2], rtol=1e-7)
    np.testing.assert_allclose(pde.dt(jnp.sin)(0.4), jnp.cos(0.4), rtol=1e-14)


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("k", [1, 2, 4])  # fewer outputs than inputs (rev) and more (fwd)
def test_jacobian(d, k):
    x = _point(d)
    model = _mlp(d, out=k)
    j = pde.jacobian(model)(x)
    assert j.shape == (k,) + x.shape
    np.testing.assert_allclose(j, fd_grad(model, x), rtol=1e-7, atol=1e-9)
    xs = jax.vmap(lambda s: _point(d, s))(jnp.arange(3))
    np.testing.assert_allclose(
        jax.jit(jax.vmap(pde.jacobian(model)))(xs), jnp.stack([pde.jacobian(model)(y) for y in xs])
    )


@pytest.mark.parametrize("d", [1, 2, 3])
def test_hessian(d):
    x = _point(d)
    model = _mlp(d)
    h = pde.hessian(model)(x)
    assert h.shape == x.shape * 2
    np.testing.assert_allclose(h, fd_hessian(model, x), rtol=1e-5, atol=1e-7)
    if d == 2:  # u = sin(πx) sin(πy): u_xy = π² cos(πx) cos(πy)
        np.testing.assert_allclose(
            pde.hessian(sines)(x)[0, 1], jnp.pi**2 * jnp.prod(jnp.cos(jnp.pi * x)), rtol=1e-12
        )
    hv = pde.hessian(_mlp(d, out=2))(x)
    assert hv.shape == (2,) + x.shape * 2
    # gradient w.r.t. the parameters of a Hessian entry, against one finite difference
    f = lambda m: jnp.sum(pde.hessian(m)(x))
    g = eqx.filter_jit(eqx.filter_grad(f))(model)
    b = g.layers[-1].bias
    shift = lambda s: eqx.tree_at(lambda m: m.layers[0].bias, model, model.layers[0].bias + s)
    gb = g.layers[0].bias
    e = jnp.zeros_like(model.layers[0].bias).at[3].set(1.0)
    np.testing.assert_allclose(gb[3], (f(shift(1e-6 * e)) - f(shift(-1e-6 * e))) / 2e-6, rtol=1e-6)
    np.testing.assert_allclose(b, 0.0, atol=1e-15)  # the output bias drops out of H


def test_operator_errors():
    u = _mlp(2)
    with pytest.raises(ValueError, match=r"pde.laplacian: the point must be a scalar or a vector"):
        pde.laplacian(u)(jnp.ones((2, 2)))
    with pytest.raises(ValueError, match=r"must return a scalar .* got shape \(3,\)"):
        pde.laplacian(_mlp(2, out=3))(jnp.ones(2))
    with pytest.raises(ValueError, match="method must be one of"):
        pde.laplacian(u, "bogus")
    with pytest.raises(ValueError, match="exclude has axis 5"):
        pde.laplacian(u, exclude=(5,))(jnp.ones(2))
    with pytest.raises(ValueError, match="leaves no axis"):
        pde.laplacian(lambda z: z[0], exclude=(0,))(jnp.ones(1))
    with pytest.raises(ValueError, match="pde.divergence: the field must have one component"):
        pde.divergence(u)(jnp.ones(2))
    with pytest.raises(ValueError, match="time_axis=3"):
        pde.dt(u, time_axis=3)(jnp.ones(2))


# ------------------------------------------------------------------ collocation points


def _inside(points, lo, hi):
    p = np.asarray(points)
    return np.all(p >= np.asarray(lo)) and np.all(p <= np.asarray(hi))


def test_box_samplers_shapes_bounds_reproducible():
    lo, hi = [0.0, -1.0, 2.0], [1.0, 1.0, 5.0]
    dom = pde.box(lo, hi)
    key = jax.random.key(3)
    for pts in [
        dom.uniform(64, key),
        dom.sobol(64, seed=1),
        dom.halton(64, seed=1),
        dom.latin_hypercube(64, seed=1),
    ]:
        assert pts.shape == (64, 3) and pts.dtype == jnp.float64
        assert _inside(pts, lo, hi)
    np.testing.assert_array_equal(dom.uniform(8, key), dom.uniform(8, key))
    np.testing.assert_array_equal(dom.sobol(8, seed=4), dom.sobol(8, seed=4))
    assert not np.allclose(dom.sobol(8, seed=4), dom.sobol(8, seed=5))  # scrambled
    np.testing.assert_array_equal(dom.halton(8, 4), dom.halton(8, 4))
    assert dom.uniform(8, key, dtype=jnp.float32).dtype == jnp.float32
    assert dom.sobol(8, dtype=jnp.float32).dtype == jnp.float32
    jitted = eqx.filter_jit(lambda dom, key: dom.uniform(16, key))(dom, key)
    np.testing.assert_array_equal(jitted, dom.uniform(16, key))
    # an interval gives scalar points
    line = pde.box(0.0, 2.0)
    assert line.uniform(5, key).shape == (5,) and line.sobol(8).shape == (8,)
    assert line.grid(5).shape == (5,)
    np.testing.assert_allclose(line.grid(5), jnp.linspace(0.0, 2.0, 5))


def test_sobol_warns_and_integrates_better_than_random():
    dom = pde.box([0.0, 0.0], [1.0, 1.0])
    with pytest.warns(UserWarning, match="not a power of two"):
        dom.sobol(100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dom.sobol(128)
    exact = (2 / np.pi) ** 2  # ∫ sin(πx) sin(πy) over the unit square
    err = lambda p: abs(float(jnp.mean(jax.vmap(sines)(p))) - exact)
    qmc = max(err(dom.sobol(1024, seed=s)) for s in range(3))
    mc = np.mean([err(dom.uniform(1024, jax.random.key(s))) for s in range(10)])
    assert qmc < 1e-3 and qmc < mc / 5


def test_latin_hypercube_is_stratified_and_grid():
    dom = pde.box([0.0, 10.0], [1.0, 20.0])
    p = np.asarray(dom.latin_hypercube(50, seed=0))
    u = (p - [0.0, 10.0]) / [1.0, 10.0]
    for axis in range(2):  # one point in each of the 50 strata of each axis
        assert sorted(np.floor(u[:, axis] * 50).astype(int)) == list(range(50))
    g = dom.grid((3, 4))
    assert g.shape == (12, 2)
    np.testing.assert_allclose(g[0], [0.0, 10.0])
    np.testing.assert_allclose(g[-1], [1.0, 20.0])
    np.testing.assert_allclose(np.unique(g[:, 1]), np.linspace(10, 20, 4))


def test_boundary_points_by_face_area_and_normals():
    lo, hi = np.array([0.0, 0.0]), np.array([1.0, 3.0])
    dom = pde.box(lo, hi)
    n = 4000
    pts = np.asarray(dom.boundary(n, jax.random.key(0)))
    assert pts.shape == (n, 2) and _inside(pts, lo, hi)
    on_x = np.isin(pts[:, 0], [0.0, 1.0])
    on_y = np.isin(pts[:, 1], [0.0, 3.0])
    assert np.all(on_x | on_y)  # exactly on a face
    # x-faces have length 3 each, y-faces 1 each: P(x-face) = 6/8
    p = 0.75
    assert abs(on_x.mean() - p) < 4 * np.sqrt(p * (1 - p) / n)
    nrm = np.asarray(dom.boundary_normals(pts))
    assert nrm.shape == (n, 2)
    np.testing.assert_allclose(np.linalg.norm(nrm, axis=1), 1.0)
    expect = np.where(pts[:, :1] == 0.0, [-1.0, 0.0], np.where(pts[:, :1] == 1.0, [1.0, 0.0], 0))
    np.testing.assert_array_equal(nrm[on_x & ~on_y], expect[on_x & ~on_y])
    only_y = on_y & ~on_x
    np.testing.assert_array_equal(nrm[only_y, 1], np.where(pts[only_y, 1] == 0.0, -1.0, 1.0))
    # the uniform position along a face: mean of y on the x-faces is the middle
    assert abs(pts[on_x & ~on_y, 1].mean() - 1.5) < 4 * 3 / np.sqrt(12 * on_x.sum())
    line = pde.box(-1.0, 2.0)
    b = np.asarray(line.boundary(50, jax.random.key(1)))
    assert set(np.unique(b)) == {-1.0, 2.0}
    np.testing.assert_array_equal(line.boundary_normals(b), np.where(b == -1.0, -1.0, 1.0))


def test_time_box():
    dom = pde.time_box(0.5, 2.0, [0.0, -1.0], [1.0, 1.0])
    key = jax.random.key(0)
    z = dom.sobol(64)
    assert z.shape == (64, 3) and _inside(z, [0.5, 0.0, -1.0], [2.0, 1.0, 1.0])
    z0 = dom.initial(32, key)
    assert z0.shape == (32, 3) and np.all(np.asarray(z0[:, 0]) == 0.5)
    zb = np.asarray(dom.boundary(200, key))
    assert zb.shape == (200, 3) and _inside(zb, [0.5, 0.0, -1.0], [2.0, 1.0, 1.0])
    assert np.all(np.isin(zb[:, 1], [0.0, 1.0]) | np.isin(zb[:, 2], [-1.0, 1.0]))
    assert zb[:, 0].std() > 0.2  # t spread over [0.5, 2]
    assert dom.boundary_normals(zb).shape == (200, 2)
    line = pde.time_box(0.0, 1.0, 0.0, 1.0)
    assert line.initial(4, key).shape == (4, 2) and line.boundary(4, key).shape == (4, 2)
    with pytest.raises(ValueError, match="lower < upper"):
        pde.time_box(1.0, 0.0, [0.0], [1.0])


def test_box_errors():
    with pytest.raises(ValueError, match=r"pde.box: need finite lower < upper"):
        pde.box([0.0, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="shapes"):
        pde.box([0.0, 0.0], [1.0])
    with pytest.raises(ValueError, match="n must be a positive Python integer"):
        pde.box(0.0, 1.0).uniform(0, jax.random.key(0))


# ---------------------------------------------------------------------------- RAD


@pytest.mark.parametrize(("k", "c"), [(1.0, 1.0), (2.0, 0.0), (0.0, 0.5)])
def test_rad_distribution_matches_formula(k, c):
    cand = jnp.linspace(0.0, 1.0, 1000)
    r = jnp.where(cand > 0.5, 3.0, -1.0)  # |r| = 3 on the right half, 1 on the left
    a = np.abs(np.asarray(r)) ** k
    w = a / a.mean() + c
    p_right = w[np.asarray(cand) > 0.5].sum() / w.sum()
    n = 5000
    pts = pde.rad_resample(jax.random.key(7), cand, r, n, k, c, replace=True)
    frac = float(jnp.mean(pts > 0.5))
    assert abs(frac - p_right) < 4 * np.sqrt(p_right * (1 - p_right) / n)
    if k > 0 and c < 10:
        assert frac > 0.55  # most points where the residual is large


def test_rad_without_replacement_jit_and_vector_residuals():
    dom = pde.box([0.0, 0.0], [1.0, 1.0])
    cand = dom.uniform(500, jax.random.key(0))
    r = jnp.stack([cand[:, 0], jnp.zeros(500)], axis=1)  # a vector residual per point
    pts = pde.rad_resample(jax.random.key(1), cand, r, 200)
    assert pts.shape == (200, 2)
    # distinct points, all drawn from the candidates
    assert len(np.unique(np.asarray(pts), axis=0)) == 200
    assert np.all(np.isin(np.asarray(pts[:, 0]), np.asarray(cand[:, 0])))
    assert float(jnp.mean(pts[:, 0])) > 0.55
    jitted = jax.jit(pde.rad_resample, static_argnames=("n", "replace"))
    np.testing.assert_array_equal(jitted(jax.random.key(1), cand, r, n=200, k=1.0, c=1.0), pts)
    # all-zero residuals: uniform, no NaN
    flat = pde.rad_resample(jax.random.key(2), cand, jnp.zeros(500), 100, c=0.0)
    assert np.all(np.isfinite(np.asarray(flat)))
    with pytest.raises(ValueError, match="share a leading axis"):
        pde.rad_resample(jax.random.key(0), cand, jnp.zeros(7), 10)
    with pytest.raises(ValueError, match="without replacement"):
        pde.rad_resample(jax.random.key(0), cand, jnp.zeros(500), 600)


def _poisson2d(model, x):
    return pde.laplacian(model)(x) + 2 * jnp.pi**2 * sines(x)


def test_rad_resampled_points_do_not_recompile_a_fit():
    dom = pde.box([0.0, 0.0], [1.0, 1.0])
    model = eqx.nn.MLP(2, "scalar", 4, 1, activation=jnp.tanh, key=jax.random.key(0))
    pts = dom.sobol(64, seed=0)
    opt = optax.adam(1e-3)
    sol = pl.fit(model, pl.Residual(_poisson2d, pts), opt, steps=3, progress=False)
    lsq = pl.least_squares(model, pl.Residual(_poisson2d, pts), max_steps=2)
    count = trace_count()
    assert count > 0  # the counter does see these fits
    resample = jax.jit(pde.rad_resample, static_argnames=("n", "replace"))
    cand = dom.uniform(1000, jax.random.key(1))
    r = jax.vmap(lambda x: _poisson2d(sol.model, x))(cand)
    new = resample(jax.random.key(2), cand, r, n=64)
    assert new.shape == pts.shape and not np.allclose(new, pts)
    pl.fit(sol.model, pl.Residual(_poisson2d, new), opt, steps=3, progress=False)
    pl.least_squares(lsq.model, pl.Residual(_poisson2d, new), max_steps=2)
    new2 = resample(jax.random.key(3), cand, r, n=64, k=2.0, c=0.5)
    pl.fit(sol.model, pl.Residual(_poisson2d, new2), opt, steps=3, progress=False)
    assert trace_count() == count


# ------------------------------------------------------------------- hard constraints


def test_box_distance_and_exact_boundary_values():
    lo, hi = [0.0, -1.0], [2.0, 1.0]
    dom = pde.box(lo, hi)
    dist = pde.box_distance(lo, hi)
    xb = dom.boundary(200, jax.random.key(0))
    assert np.all(np.asarray(jax.vmap(dist)(xb)) == 0.0)
    xi = dom.uniform(200, jax.random.key(1))
    assert np.all(np.asarray(jax.vmap(dist)(xi)) > 0.0)
    np.testing.assert_allclose(dist(jnp.array([1.0, 0.0])), 1.0)
    g = lambda x: jnp.sin(x[0]) + x[1] ** 2
    net = _mlp(2, width=8, seed=5)
    model = pde.dirichlet(net, dist, g)
    got = jax.jit(jax.vmap(model))(xb)
    np.testing.assert_allclose(got, jax.vmap(g)(xb), rtol=1e-15, atol=1e-15)
    assert not np.allclose(jax.vmap(model)(xi), jax.vmap(g)(xi))  # the net acts inside
    # only the net is trained: the distance and an array g are constants with no leaves
    const = pde.dirichlet(net, dist, jnp.array(0.5))
    n_net = sum(a.size for a in jax.tree_util.tree_leaves(eqx.filter(net, eqx.is_array)))
    for m in (model, const):
        n_all = sum(a.size for a in jax.tree_util.tree_leaves(eqx.filter(m, eqx.is_array)))
        assert n_net == n_all
    np.testing.assert_allclose(jax.vmap(const)(xb), 0.5, rtol=1e-15)
    with pytest.raises(ValueError, match="boundary_value has shape"):
        pde.dirichlet(net, dist, jnp.zeros(3))(xi[0])
    with pytest.raises(ValueError, match="the box has 2 axes"):
        dist(jnp.zeros(3))


def _poisson1d(model, x):
    return pde.laplacian(model)(x) + jnp.pi**2 * jnp.sin(jnp.pi * x)


def test_hard_dirichlet_poisson_1d_least_squares():
    net = eqx.nn.MLP("scalar", "scalar", 10, 1, activation=jnp.tanh, key=jax.random.key(0))
    model = pde.dirichlet(net, pde.box_distance(0.0, 1.0), 0.0)
    x = pde.box(0.0, 1.0).grid(66)[1:-1]
    sol = pl.least_squares(model, pl.Residual(_poisson1d, x), max_steps=300)
    xt = jnp.linspace(0.0, 1.0, 201)
    err = jnp.max(jnp.abs(jax.vmap(sol.model)(xt) - jnp.sin(jnp.pi * xt)))
    assert float(err) < 1e-5, float(err)
    assert float(sol.model(0.0)) == 0.0 and float(sol.model(1.0)) == 0.0


# ------------------------------------------------------- models with several outputs


def _field(x):
    """(sin πx sin πy, x²y, eˣ cos y): closed-form gradients and Laplacians."""
    return jnp.stack(
        [
            jnp.sin(jnp.pi * x[0]) * jnp.sin(jnp.pi * x[1]),
            x[0] ** 2 * x[1],
            jnp.exp(x[0]) * jnp.cos(x[1]),
        ]
    )


def test_out_index_closed_forms_and_finite_differences():
    x = jnp.array([0.3, 0.7])
    s0, s1 = jnp.sin(jnp.pi * x)
    c0, c1 = jnp.cos(jnp.pi * x)
    e = jnp.exp(x[0])
    grads = jnp.array([[jnp.pi * c0 * s1, jnp.pi * s0 * c1], [2 * x[0] * x[1], x[0] ** 2],
                       [e * jnp.cos(x[1]), -e * jnp.sin(x[1])]])  # fmt: skip
    laps = jnp.array([-2 * jnp.pi**2 * s0 * s1, 2 * x[1], 0.0])
    model = _mlp(2, out=3)

    @eqx.filter_jit
    def ops(u, x):
        return dict(
            grad=[pde.grad(u, out=i)(x) for i in range(3)] + [pde.grad(u, out=(0, 2))(x)],
            lap=[pde.laplacian(u, k, out=i)(x) for k in METHODS for i in range(3)],
            laps=pde.laplacian(u, out=(0, 1, 2))(x),
            vlap=pde.vector_laplacian(u, out=(2, 0))(x),
            div=pde.divergence(u, out=(0, 1))(x),
            hess=[pde.hessian(u, out=1)(x), pde.hessian(u, out=(0, 2))(x)],
            jac=pde.jacobian(u, out=(1,))(x),
        )

    exact = ops(_field, x)
    for i in range(3):
        np.testing.assert_allclose(exact["grad"][i], grads[i], rtol=1e-12, atol=1e-14)
        for k in range(len(METHODS)):
            np.testing.assert_allclose(exact["lap"][3 * k + i], laps[i], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(exact["grad"][3], grads[jnp.array([0, 2])], rtol=1e-12)
    np.testing.assert_allclose(exact["laps"], laps, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(exact["vlap"], laps[jnp.array([2, 0])], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(exact["div"], grads[0, 0] + grads[1, 1], rtol=1e-12)
    np.testing.assert_allclose(
        exact["hess"][0], [[2 * x[1], 2 * x[0]], [2 * x[0], 0.0]], atol=1e-12
    )
    np.testing.assert_allclose(exact["jac"], grads[1:2], rtol=1e-12)
    # a network: against central differences of the full output
    net = ops(model, x)
    fdg, fdh = fd_grad(model, x), fd_hessian(model, x)
    fdl = fd_laplacian(model, x)
    for i in range(3):
        np.testing.assert_allclose(net["grad"][i], fdg[i], rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(net["lap"][i], fdl[i], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(net["laps"], fdl, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(net["div"], fdg[0, 0] + fdg[1, 1], rtol=1e-7)
    np.testing.assert_allclose(net["hess"][1], fdh[jnp.array([0, 2])], rtol=1e-5, atol=1e-7)
    assert net["hess"][0].shape == (2, 2) and net["jac"].shape == (1, 2)
    # vmapped and eager agree; a gradient w.r.t. the parameters flows through out=
    xs = jnp.stack([x, x[::-1]])
    batched = jax.jit(jax.vmap(pde.laplacian(_field, out=(0, 1))))(xs)
    np.testing.assert_allclose(batched[1], pde.laplacian(_field, out=(0, 1))(xs[1]), rtol=1e-12)
    g = eqx.filter_grad(lambda m: pde.laplacian(m, out=1)(x))(model)
    assert float(jnp.abs(g.layers[-1].weight[1]).sum()) > 0
    assert float(jnp.abs(g.layers[-1].weight[jnp.array([0, 2])]).sum()) == 0.0


def test_space_time_vector_model():
    # z = (t, x, y) -> (u, v, p) with u = e^{-t} sin x cos y, v = -e^{-t} cos x sin y: ∇·(u, v) = 0
    def ns(z):
        t, x, y = z
        a = jnp.exp(-t)
        return jnp.stack([a * jnp.sin(x) * jnp.cos(y), -a * jnp.cos(x) * jnp.sin(y), t * x * y])

    z = jnp.array([0.2, 0.4, 0.9])
    u = ns(z)
    div = eqx.filter_jit(lambda z: pde.divergence(ns, out=(0, 1), exclude=(0,))(z))(z)
    assert abs(float(div)) < 1e-15
    np.testing.assert_allclose(pde.dt(ns, out=(0, 1))(z), -u[:2], rtol=1e-12)
    np.testing.assert_allclose(pde.dt(ns, out=2)(z), z[1] * z[2], rtol=1e-12)
    np.testing.assert_allclose(pde.spatial_laplacian(ns, out=(0, 1))(z), -2 * u[:2], rtol=1e-12)
    # a network: the spatial divergence is the sum of two finite-difference entries
    model = _mlp(3, out=3)
    fd = fd_grad(model, z)
    got = pde.divergence(model, out=(1, 2), exclude=(0,))(z)
    np.testing.assert_allclose(got, fd[1, 1] + fd[2, 2], rtol=1e-7)
    np.testing.assert_allclose(
        pde.spatial_laplacian(model, out=2)(z), fd_laplacian(model, z, axes=(1, 2))[2], rtol=1e-5
    )


def test_out_errors():
    u = _mlp(2, out=3)
    x = jnp.ones(2)
    with pytest.raises(ValueError, match=r"pde.laplacian: out=3 has index 3; the model has 3"):
        pde.laplacian(u, out=3)(x)
    with pytest.raises(ValueError, match=r"pde.grad: out must be None, an output index"):
        pde.grad(u, out=1.0)
    with pytest.raises(ValueError, match=r"out must be None"):
        pde.hessian(u, out=())
    with pytest.raises(ValueError, match=r"pde.dt: out=0 picks components of a vector output"):
        pde.dt(lambda z: jnp.ones((2, 2)), out=0)(x)
    with pytest.raises(ValueError, match=r"pass out=i"):
        pde.grad(u)(x)
    with pytest.raises(ValueError, match=r"one component per summed input axis: shape \(1,\)"):
        pde.divergence(u, out=(0, 1), exclude=(0,))(x)
    with pytest.raises(ValueError, match=r"pde.dirichlet: out=5 has index 5"):
        pde.dirichlet(u, lambda x: 1.0, 0.0, out=5)(x)
    with pytest.raises(ValueError, match=r"boundary_value has shape \(3,\)"):
        pde.dirichlet(u, lambda x: 1.0, jnp.zeros(3), out=(0, 1))(x)


class _Disk(eqx.Module):
    """A disk with an array centre, a stand-in for a `pl.geometry` domain: its bound method
    `distance` is a pytree holding arrays."""

    centre: jax.Array
    radius: jax.Array

    def distance(self, x):
        return self.radius - jnp.linalg.norm(x - self.centre)


def test_dirichlet_on_a_disk_exact_and_only_the_net_trains():
    disk = _Disk(jnp.array([0.2, -0.1]), jnp.array(0.7))
    theta = jnp.linspace(0.0, 2 * jnp.pi, 97)
    xb = disk.centre + disk.radius * jnp.stack([jnp.cos(theta), jnp.sin(theta)], axis=1)
    xi = disk.centre + 0.5 * disk.radius * jax.random.uniform(jax.random.key(2), (50, 2))
    g = lambda x: jnp.stack([jnp.sin(x[0]), x[0] * x[1]])  # (u, v) on the wall
    net = _mlp(2, out=3, seed=7)
    analytic = lambda x: 0.49 - jnp.sum((x - jnp.array([0.2, -0.1])) ** 2)  # r² - |x - c|²
    geometry = pde.Disk((0.2, -0.1), 0.7)  # pl.geometry's signed distance, positive inside
    for dist in (disk.distance, analytic, geometry.distance):
        model = pde.dirichlet(net, dist, g, out=(0, 1))
        got = eqx.filter_jit(lambda m: jax.vmap(m)(xb))(model)
        # zero distance up to rounding: the constraint holds to ~1e-15 on the circle
        np.testing.assert_allclose(got[:, :2], jax.vmap(g)(xb), rtol=0, atol=1e-14)
        np.testing.assert_allclose(got[:, 2], jax.vmap(net)(xb)[:, 2], rtol=1e-15)  # free
        inside = jax.vmap(model)(xi)
        assert np.all(np.abs(np.asarray(inside[:, :2] - jax.vmap(g)(xi))) > 0)
        # no leaves but the net's: not trained, no Jacobian columns
        leaves = jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_inexact_array))
        assert sum(a.size for a in leaves) == sum(
            a.size for a in jax.tree_util.tree_leaves(eqx.filter(net, eqx.is_inexact_array))
        )
    # a copy built from an equal disk reuses the compiled program (constants compared by value)
    traces = []

    @eqx.filter_jit
    def f(m, x):
        traces.append(1)
        return m(x)

    for c in ([0.2, -0.1], [0.2, -0.1], [0.3, -0.1]):
        f(pde.dirichlet(net, _Disk(jnp.array(c), jnp.array(0.7)).distance, g, out=(0, 1)), xi[0])
    assert len(traces) == 2

    # built under jit (a traced centre): the centre stays a leaf, with its gradient stopped
    @eqx.filter_jit
    def loss_and_grad(c):
        model = pde.dirichlet(net, _Disk(c, jnp.array(0.7)).distance, g, out=(0, 1))
        value, grads = eqx.filter_value_and_grad(lambda m: jnp.sum(jax.vmap(m)(xi) ** 2))(model)
        return value, grads.distance.__self__.centre

    value, gc = loss_and_grad(disk.centre)
    ref = jnp.sum(jax.vmap(pde.dirichlet(net, disk.distance, g, out=(0, 1)))(xi) ** 2)
    np.testing.assert_allclose(value, ref, rtol=1e-12)
    assert np.all(np.asarray(gc) == 0.0)
