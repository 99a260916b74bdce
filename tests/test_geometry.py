"""pl.geometry: uniform sampling, boundary spread and normals, membership, signed distances,
parts, time axes, quasi-random points, jit/vmap/scan/grad, and refusals of bad input.

References are independent: NumPy rejection sampling, analytic areas and lengths,
matplotlib.path for polygon membership, scipy.stats for the statistical tests.
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from matplotlib.path import Path
from scipy import stats

import pinnloss as pl

geo = pl.geometry
N = 2048  # one sample size for most tests: one compiled sampler per domain structure

DISKS = [((0.5, 0.5), 0.2), ((0.4, -0.4), 0.4)]
AREA = 4.0 - math.pi * (0.2**2 + 0.4**2)
PERIMETER = 8.0 + 2 * math.pi * (0.2 + 0.4)


@pytest.fixture(scope="module")
def domain():
    return geo.Rectangle((-1, -1), (1, 1)) - geo.Disk(*DISKS[0]) - geo.Disk(*DISKS[1])


@pytest.fixture(scope="module")
def interior(domain):
    return np.asarray(domain.sample_interior(N, key=jax.random.key(0)))


@pytest.fixture(scope="module")
def boundary(domain):
    xb, nb = domain.sample_boundary(N, key=jax.random.key(1))
    return np.asarray(xb), np.asarray(nb)


def _outside_disks(x):
    out = np.ones(len(x), bool)
    for c, r in DISKS:
        out &= np.linalg.norm(x - np.asarray(c), axis=1) >= r
    return out


def _analytic_contains(x):
    return np.all(np.abs(x) <= 1, axis=1) & _outside_disks(x)


def test_the_contract(domain, key):
    n = 256
    x = domain.sample_interior(n, key=key)
    xb, normals = domain.sample_boundary(n, key=key)
    assert x.shape == (n, 2) and xb.shape == (n, 2) and normals.shape == (n, 2)
    inside = domain.contains(x)
    assert inside.shape == (n,) and inside.dtype == jnp.bool_ and bool(inside.all())
    assert np.allclose(np.linalg.norm(normals, axis=1), 1.0)
    assert np.max(np.abs(domain.distance(xb))) < 1e-12


def test_interior_is_uniform_against_numpy_rejection(interior):
    assert _analytic_contains(interior).all()
    rng = np.random.default_rng(0)
    ref = rng.uniform(-1, 1, (40_000, 2))
    ref = ref[_outside_disks(ref)]
    for axis in (0, 1):  # marginals against an independent sampler: KS two-sample
        assert stats.ks_2samp(interior[:, axis], ref[:, axis]).pvalue > 1e-3
    # a region of known area: x > 0 holds both holes, area 2 - 0.2 pi out of AREA
    p = (2.0 - math.pi * 0.2) / AREA
    frac = np.mean(interior[:, 0] > 0)
    assert abs(frac - p) < 4 * math.sqrt(p * (1 - p) / N)
    # chi-square over a 4 x 4 grid of cells, expected counts from the reference sample
    edges = np.linspace(-1, 1, 5)
    h, _, _ = np.histogram2d(interior[:, 0], interior[:, 1], [edges, edges])
    href, _, _ = np.histogram2d(ref[:, 0], ref[:, 1], [edges, edges])
    expected = href.ravel() / href.sum() * N
    assert stats.chisquare(h.ravel(), expected).pvalue > 1e-3


def test_boundary_is_spread_by_length(boundary):
    xb, _ = boundary
    counts = []
    for c, r in DISKS:
        on = np.abs(np.linalg.norm(xb - np.asarray(c), axis=1) - r) < 1e-9
        counts.append(on.sum())
    on_square = np.isclose(np.max(np.abs(xb), axis=1), 1.0, atol=1e-12)
    counts.append(on_square.sum())
    assert sum(counts) == N  # every point is on one of the three curves
    shares = [2 * math.pi * r / PERIMETER for _, r in DISKS] + [8.0 / PERIMETER]
    assert stats.chisquare(counts, np.asarray(shares) * N).pvalue > 1e-3
    # uniform in angle along the big circle, uniform along the square's sides
    c, r = DISKS[1]
    big = np.abs(np.linalg.norm(xb - np.asarray(c), axis=1) - r) < 1e-9
    ang = np.arctan2(xb[big, 1] - c[1], xb[big, 0] - c[0])
    assert stats.kstest(ang, stats.uniform(-math.pi, 2 * math.pi).cdf).pvalue > 1e-3
    side = on_square & np.isclose(xb[:, 1], 1.0)
    assert stats.kstest(xb[side, 0], stats.uniform(-1, 2).cdf).pvalue > 1e-3


def test_normals_are_unit_and_outward(domain, boundary):
    xb, nb = boundary
    assert np.allclose(np.linalg.norm(nb, axis=1), 1.0, atol=1e-12)
    eps = 1e-6
    assert not np.asarray(domain.contains(xb + eps * nb)).any()
    assert np.asarray(domain.contains(xb - eps * nb)).all()
    # on the holes the outward normal of the domain points into the disk: -(x - c) / r
    for c, r in DISKS:
        on = np.abs(np.linalg.norm(xb - np.asarray(c), axis=1) - r) < 1e-9
        assert np.allclose(nb[on], -(xb[on] - np.asarray(c)) / r, atol=1e-12)


def test_contains_and_distance_against_analytic_values(domain):
    x = np.random.default_rng(1).uniform(-1.3, 1.3, (3000, 2))
    assert (np.asarray(domain.contains(x)) == _analytic_contains(x)).all()
    # primitives: exact signed distances, positive inside
    disk = geo.Disk((0.5, 0.5), 0.2)
    assert np.allclose(disk.distance(x), 0.2 - np.linalg.norm(x - 0.5, axis=1), atol=1e-14)
    box = geo.Rectangle((-1, -1), (1, 1))
    q = np.abs(x) - 1
    exact = -(np.linalg.norm(np.maximum(q, 0), axis=1) + np.minimum(q.max(axis=1), 0))
    assert np.allclose(box.distance(x), exact, atol=1e-14)
    # the difference: min(phi_rect, -phi_disk1, -phi_disk2), exact sign, single points too
    want = np.minimum.reduce([exact] + [np.linalg.norm(x - c, axis=1) - r for c, r in DISKS])
    assert np.allclose(domain.distance(x), want, atol=1e-14)
    assert domain.distance(jnp.asarray(x[0])).shape == ()
    # |grad phi| = 1 almost everywhere (also through the min/max of the set operations)
    g = jax.vmap(jax.grad(domain.distance))(jnp.asarray(x))
    assert np.allclose(np.linalg.norm(g, axis=1), 1.0, atol=1e-9)
    fd = (domain.distance(x + [1e-6, 0]) - domain.distance(x - [1e-6, 0])) / 2e-6
    assert np.median(np.abs(fd - g[:, 0])) < 1e-6


def test_distance_is_a_hard_constraint(domain, boundary, interior):
    net = eqx.nn.MLP(2, "scalar", 8, 1, activation=jnp.tanh, key=jax.random.key(3))
    model = pl.pde.dirichlet(net, domain.distance, 0.0)
    xb, _ = boundary
    assert np.max(np.abs(jax.vmap(model)(jnp.asarray(xb[:200])))) < 1e-12
    assert np.all(np.asarray(domain.distance(interior)) >= 0)


def test_smooth_distance_vanishes_on_the_boundary_without_kinks(domain, boundary, interior):
    xb, nb = boundary
    phi = eqx.filter_jit(domain.smooth_distance)  # one compile per shape, not one per eager op
    assert np.max(np.abs(phi(xb))) < 1e-12 and np.all(np.asarray(phi(interior)) > 0)
    x = np.random.default_rng(4).uniform(-1.3, 1.3, (3000, 2))
    assert (np.asarray(phi(x)) > 0).tolist() == [bool(v) for v in _analytic_contains(x)]
    # normalised to first order: grad phi = -n on the boundary, away from the square's corners
    g = np.asarray(jax.vmap(jax.grad(phi))(jnp.asarray(xb)))
    far = np.linalg.norm(np.abs(xb) - 1, axis=1) > 0.02
    assert np.allclose(g[far], -nb[far], atol=1e-10)
    # no kink on the square's diagonal (the exact distance has one: its second difference
    # grows like 1/h there)
    p, e = jnp.array([-0.5, -0.5]), jnp.array([1.0, 0.0])
    d2 = lambda f, h: float((f(p + h * e) + f(p - h * e) - 2 * f(p)) / h**2)
    assert abs(d2(phi, 1e-2) - d2(phi, 1e-3)) < 1e-2
    dist = eqx.filter_jit(domain.distance)
    assert abs(d2(dist, 1e-2) - d2(dist, 1e-3)) > 100
    # polygons: sign by matplotlib, zero on edges, grad -n away from vertices
    ell = np.array([(0, 0), (2, 0), (2, 1), (1, 1), (1, 2), (0, 2)], float)
    poly = geo.Polygon(ell)
    psd = eqx.filter_jit(poly.smooth_distance)
    x = np.random.default_rng(5).uniform(-0.5, 2.5, (2000, 2))
    assert ((np.asarray(psd(x)) > 0) == Path(ell).contains_points(x)).all()
    pb, pn = poly.sample_boundary(256, key=jax.random.key(2))
    assert np.max(np.abs(psd(pb))) < 1e-12
    g = np.asarray(jax.vmap(jax.grad(psd))(pb))
    away = np.min(np.linalg.norm(np.asarray(pb)[:, None] - ell[None], axis=-1), axis=1) > 0.02
    assert np.allclose(g[away], -np.asarray(pn)[away], atol=1e-10)
    # a hard-constrained model has a finite Laplacian inside
    net = eqx.nn.MLP(2, "scalar", 8, 1, activation=jnp.tanh, key=jax.random.key(3))
    model = pl.pde.dirichlet(net, phi, 0.0)
    lap = jax.vmap(pl.pde.laplacian(model))(jnp.asarray(interior[:200]))
    assert np.isfinite(lap).all()


def test_parts_select_circles_sides_and_the_lid(domain, key):
    assert set(domain.boundary_labels) == {
        "rectangle.xmin",
        "rectangle.xmax",
        "rectangle.ymin",
        "rectangle.ymax",
        "disk",
    }
    xc, nc = domain.sample_boundary(256, key=key, part="disk")
    dist = np.min([np.abs(np.linalg.norm(xc - np.asarray(c), axis=1) - r) for c, r in DISKS], 0)
    assert dist.max() < 1e-12
    small = np.abs(np.linalg.norm(xc - 0.5, axis=1) - 0.2) < 1e-9
    assert abs(small.mean() - 1 / 3) < 4 * math.sqrt(2 / 9 / 256)  # by circumference, 1 : 2
    xs, ns = domain.sample_boundary(256, key=key, part="rectangle")
    assert np.allclose(np.max(np.abs(xs), axis=1), 1.0)
    lid, nl = geo.Rectangle((0, 0), (1, 1)).sample_boundary(256, key=key, part="rectangle.ymax")
    assert np.all(lid[:, 1] == 1.0) and np.all(nl == np.array([0.0, 1.0]))
    named = geo.Rectangle((-1, -1), (1, 1), name="walls") - geo.Disk((0, 0), 0.5, name="hole")
    assert named.boundary_labels[-1] == "hole"
    xh, _ = named.sample_boundary(256, key=key, part=("hole", "walls.xmin"))
    on_hole = np.isclose(np.linalg.norm(xh, axis=1), 0.5)
    assert np.all(on_hole | np.isclose(xh[:, 0], -1.0))
    with pytest.raises(ValueError, match="matches no boundary piece.*rectangle.ymax"):
        domain.sample_boundary(8, key=key, part="lid")


def test_a_boundary_part_is_a_domain_for_residual_terms(domain, key):
    circles = domain.boundary("disk")
    x = np.asarray(circles.sample_interior(256, key=key))
    xb, nb = domain.sample_boundary(256, key=key, part="disk")
    np.testing.assert_array_equal(x, np.asarray(xb))  # the same draw as sample_boundary
    # normals from -grad(distance) against the analytic ones: into each hole's centre
    centre = np.where((np.linalg.norm(x - 0.5, axis=1) < 0.3)[:, None], 0.5, [0.4, -0.4])
    inward = (centre - x) / np.linalg.norm(centre - x, axis=1, keepdims=True)
    np.testing.assert_allclose(np.asarray(circles.normal(x)), inward, atol=1e-12)
    np.testing.assert_allclose(np.asarray(circles.normal(x[0])), inward[0], atol=1e-12)
    # a pytree like any domain: under jit and vmap (over keys, over points)
    xs = eqx.filter_jit(lambda b, ks: jax.vmap(lambda k: b.sample_interior(8, key=k))(ks))(
        circles, jax.random.split(key, 2)
    )
    assert xs.shape == (2, 8, 2) and np.max(np.abs(domain.distance(xs))) < 1e-12
    np.testing.assert_allclose(
        np.asarray(jax.jit(jax.vmap(circles.normal))(jnp.asarray(x))), inward, atol=1e-12
    )
    lid = geo.Rectangle((0, 0), (1, 1)).boundary("rectangle.ymax")
    np.testing.assert_allclose(np.asarray(lid.normal(jnp.array([0.3, 1.0]))), [0.0, 1.0])
    # a term over the boundary redraws its points on it (RAD goes through the same draw;
    # 256 points: the sampler compiled above)
    term = pl.Residual(lambda m, p: m(p) - 1.0, circles, n=256, name="circles")
    new = term.resample(jax.random.key(5), lambda p: jnp.sum(p**2), "uniform")
    assert new.points.shape == (256, 2) and not np.allclose(new.points, term.points)
    assert np.max(np.abs(domain.distance(new.points))) < 1e-12
    with pytest.raises(ValueError, match="geometry.boundary: part='lid' matches no"):
        domain.boundary("lid")


def test_union_and_intersection_of_overlapping_disks(key):
    a, b = geo.Disk((0.0, 0.0), 1.0), geo.Disk((1.0, 0.0), 1.0)
    lens = 2 * math.pi / 3 - math.sqrt(3) / 2  # area of the intersection, d = r = 1
    assert abs((a & b).measure - lens) < 2e-3
    assert abs((a | b).measure - (2 * math.pi - lens)) < 4e-3
    # each boundary arc covers 2/3 (union) or 1/3 (intersection) of each circle
    assert abs((a | b).boundary_measure - 2 * (4 * math.pi / 3)) < 2e-2
    assert abs((a & b).boundary_measure - 2 * (2 * math.pi / 3)) < 2e-2
    for dom in (a | b, a & b):
        xb, nb = dom.sample_boundary(N, key=key)
        assert np.max(np.abs(dom.distance(xb))) < 1e-12
        assert not np.asarray(dom.contains(xb + 1e-6 * nb)).any()
        assert np.asarray(dom.contains(xb - 1e-6 * nb)).all()
        left = np.asarray(xb[:, 0] < 0.5)  # the two arcs are mirror images: half each
        assert abs(left.mean() - 0.5) < 4 * math.sqrt(0.25 / N)


def test_polygon_contains_against_matplotlib(key):
    star = [
        (math.cos(t) * r, math.sin(t) * r)
        for t, r in zip(np.linspace(0, 2 * math.pi, 10, endpoint=False), [1.0, 0.4] * 5)
    ]
    ell = [(0, 0), (2, 0), (2, 1), (1, 1), (1, 2), (0, 2)]
    for verts, area in ((ell, 3.0), (star[::-1], None)):  # clockwise order is accepted
        poly = geo.Polygon(verts)
        x = np.random.default_rng(2).uniform(-1.1, 2.1, (4000, 2))
        ref = Path(np.asarray(verts, float)).contains_points(x)
        assert (np.asarray(poly.contains(x)) == ref).all()
        shoelace = 0.5 * abs(
            sum(p[0] * q[1] - q[0] * p[1] for p, q in zip(verts, verts[1:] + verts[:1]))
        )
        assert poly.measure == pytest.approx(area or shoelace, rel=1e-12)
        xi = np.asarray(poly.sample_interior(N, key=key))
        assert Path(np.asarray(verts, float)).contains_points(xi).all()
        if verts is ell:  # the L's interior sits 1/3 in each of its three unit squares
            assert abs(np.mean(xi[:, 0] > 1) - 1 / 3) < 4 * math.sqrt(2 / 9 / N)
        xb, nb = poly.sample_boundary(256, key=key)
        assert np.max(np.abs(poly.distance(xb))) < 1e-12
        assert not Path(np.asarray(verts, float)).contains_points(xb + 1e-6 * nb).any()
    # a brute-force distance: the nearest of 20 000 points along the edges
    poly = geo.Polygon(ell)
    s = np.linspace(0, 1, 2000)[:, None]
    v = np.asarray(ell, float)
    dense = np.concatenate([p + s * (q - p) for p, q in zip(v, np.roll(v, -1, 0))])
    x = np.random.default_rng(3).uniform(-0.5, 2.5, (300, 2))
    brute = np.min(np.linalg.norm(x[:, None] - dense[None], axis=-1), axis=1)
    sign = np.where(Path(v).contains_points(x), 1.0, -1.0)
    assert np.allclose(poly.distance(x), sign * brute, atol=1e-3)


def test_areas_and_lengths(domain):
    assert domain.measure == pytest.approx(AREA, rel=2e-3)
    assert domain.boundary_measure == pytest.approx(PERIMETER, rel=1e-9)  # holes inside
    cube = geo.Box((0, 0, 0), (1, 1, 1)) - geo.Sphere((0.5, 0.5, 0.5), 0.3)
    assert cube.measure == pytest.approx(1 - 4 / 3 * math.pi * 0.3**3, rel=3e-3)
    assert cube.boundary_measure == pytest.approx(6 + 4 * math.pi * 0.09, rel=1e-9)
    assert geo.Ball(np.zeros(4), 2.0).measure == pytest.approx(math.pi**2 / 2 * 16, rel=1e-12)
    assert geo.Interval(-1, 3).measure == 4.0 and geo.Interval(-1, 3).boundary_measure == 2.0


def test_three_and_four_dimensions(key):
    cube = geo.Box((0, 0, 0), (1, 1, 1)) - geo.Sphere((0.5, 0.5, 0.5), 0.3)
    xb, nb = cube.sample_boundary(N, key=key)
    on_sphere = np.isclose(np.linalg.norm(xb - 0.5, axis=1), 0.3)
    share = 4 * math.pi * 0.09 / (6 + 4 * math.pi * 0.09)
    assert abs(on_sphere.mean() - share) < 4 * math.sqrt(share * (1 - share) / N)
    assert np.allclose(nb[on_sphere], -(xb[on_sphere] - 0.5) / 0.3)
    # uniform on the sphere: each coordinate of a uniform point on S^2 is uniform in [-1, 1]
    z = (xb[on_sphere, 2] - 0.5) / 0.3
    assert stats.kstest(z, stats.uniform(-1, 2).cdf).pvalue > 1e-3
    ball = geo.Ball(np.zeros(4), 1.0)
    xs, ns = ball.sample_boundary(N, key=key)
    assert np.allclose(np.linalg.norm(xs, axis=1), 1.0) and np.allclose(xs, ns)
    # |x|^4 is uniform in [0, 1] for a uniform point of the 4-ball
    xi = np.asarray(ball.sample_interior(N, key=key))
    assert stats.kstest(np.linalg.norm(xi, axis=1) ** 4, "uniform").pvalue > 1e-3


def test_space_time_orders_t_then_x_like_time_box(key):
    dom = geo.Interval(-1.0, 1.0) * (0.0, 2.0)
    ref = pl.pde.time_box(0.0, 2.0, -1.0, 1.0)
    lo, hi = dom.bbox
    assert np.allclose(lo, ref.domain.lower) and np.allclose(hi, ref.domain.upper)
    z = np.asarray(dom.sample_interior(N, key=key))
    assert z.shape == (N, 2) and z[:, 0].min() >= 0 and z[:, 0].max() <= 2
    assert stats.kstest(z[:, 0], stats.uniform(0, 2).cdf).pvalue > 1e-3
    z0 = dom.sample_initial(256, key=key)
    assert z0.shape == (256, 2) and np.all(z0[:, 0] == 0.0)
    zb, nb = dom.sample_boundary(256, key=key)
    assert np.all(np.abs(zb[:, 1]) == 1.0) and np.all(nb[:, 0] == zb[:, 1])  # spatial normals
    cavity = geo.Rectangle((0, 0), (1, 1)) * geo.TimeDomain(0.0, 1.0)
    zl, nl = cavity.sample_boundary(256, key=key, part="rectangle.ymax")
    assert zl.shape == (256, 3) and nl.shape == (256, 2) and np.all(zl[:, 2] == 1.0)
    assert bool(cavity.contains(jnp.array([0.5, 0.5, 0.5])))
    assert not bool(cavity.contains(jnp.array([1.5, 0.5, 0.5])))  # t outside [0, 1]


def test_quasi_random_methods(key):
    square = geo.Rectangle((0, 0), (1, 1))
    u = np.asarray(square.sample_interior(1024, key=key))
    s = np.asarray(square.sample_interior(1024, key=key, method="sobol"))
    h = np.asarray(square.sample_interior(1024, key=key, method="halton"))
    from scipy.stats import qmc

    assert qmc.discrepancy(s) < qmc.discrepancy(u) / 5
    assert qmc.discrepancy(h) < qmc.discrepancy(u) / 5
    other = square.sample_interior(1024, key=jax.random.key(7), method="sobol")
    assert not np.allclose(s, other)  # the random shift depends on the key


def test_quasi_random_and_grid_on_a_composite(domain, key):
    xs = np.asarray(domain.sample_interior(256, key=key, method="sobol"))
    assert xs.shape == (256, 2) and _analytic_contains(xs).all()
    xb, _ = domain.sample_boundary(256, key=key, method="halton")
    assert np.max(np.abs(domain.distance(xb))) < 1e-12
    xg = np.asarray(domain.sample_interior(500, method="grid"))
    assert _analytic_contains(xg).all() and 400 < len(xg) < 650
    gb, gn = domain.sample_boundary(400, method="grid")
    assert np.max(np.abs(domain.distance(gb))) < 1e-12 and abs(len(gb) - 400) <= 2
    top = np.sort(np.asarray(gb)[np.isclose(gb[:, 1], 1.0), 0])
    assert np.allclose(np.diff(top), np.diff(top).mean())  # equal spacing along a side


def test_jit_vmap_scan_and_grad(domain, interior, key):
    f = jax.jit(lambda g, k: g.sample_interior(N, key=k))
    assert np.array_equal(f(domain, jax.random.key(0)), interior)
    keys = jax.random.split(key, 3)
    xs = jax.vmap(lambda k: domain.sample_boundary(256, key=k)[0])(keys)
    assert xs.shape == (3, 256, 2) and not np.allclose(xs[0], xs[1])
    assert np.max(np.abs(domain.distance(xs))) < 1e-12
    one = domain.sample_boundary(256, key=keys[1])[0]
    assert np.array_equal(xs[1], one)  # vmap draws what the single call draws

    def step(carry, k):
        return carry, domain.sample_interior(256, key=k)

    _, ys = jax.lax.scan(step, 0, keys)
    assert ys.shape == (3, 256, 2) and bool(domain.contains(ys).all())
    # a traced radius: the geometry is built under grad; d/dr sum(r - |x|) = n
    pts = jnp.asarray(interior[:10])
    dr = jax.grad(lambda r: jnp.sum(geo.Disk((0.0, 0.0), r).distance(pts)))(2.0)
    assert dr == pytest.approx(10.0)
    # a geometry built inside jit samples too (rates unknown: the loop fills the rest)
    inner = jax.jit(
        lambda r, k: (geo.Rectangle((-1, -1), (1, 1)) - geo.Disk((0, 0), r)).sample_interior(
            256, key=k
        )
    )(0.9, key)
    assert np.all(np.linalg.norm(inner, axis=1) >= 0.9)


def test_bad_input_is_refused_clearly(domain, key):
    with pytest.raises(ValueError, match="radius must be a finite positive"):
        geo.Disk((0, 0), -1.0)
    with pytest.raises(ValueError, match="center must have shape"):
        geo.Disk((0, 0, 0), 1.0)
    with pytest.raises(ValueError, match="lower < upper"):
        geo.Rectangle((0, 0), (1, -1))
    with pytest.raises(ValueError, match="edges 0 and 2 intersect"):
        geo.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
    with pytest.raises(ValueError, match="zero area"):
        geo.Polygon([(0, 0), (1, 1), (2, 2)])
    with pytest.raises(ValueError, match="2-D and a 3-D"):
        geo.Rectangle((0, 0), (1, 1)) - geo.Sphere((0, 0, 0), 0.5)
    with pytest.raises(TypeError, match="two geometries"):
        geo.Rectangle((0, 0), (1, 1)) - 3
    with pytest.raises(ValueError, match="empty"):
        geo.Disk((0, 0), 0.5) & geo.Disk((3, 0), 0.5)
    with pytest.raises(ValueError, match="n must be a positive"):
        domain.sample_interior(0, key=key)
    with pytest.raises(ValueError, match="method must be one of"):
        domain.sample_boundary(8, key=key, method="random")
    with pytest.raises(ValueError, match="needs key="):
        domain.sample_interior(8)
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 2\)"):
        domain.contains(jnp.ones((5, 3)))
    with pytest.raises(ValueError, match="t0 < t1"):
        geo.Interval(0, 1) * (1.0, 0.0)
    with pytest.raises(Exception, match="radius must be > 0"):  # traced: eqx.error_if
        jax.jit(lambda r: geo.Disk((0.0, 0.0), r).distance(jnp.zeros(2)))(-1.0)


def test_public_names():
    assert pl.pde.Rectangle is geo.Rectangle and pl.pde.Disk is geo.Disk
    assert pl.pde.Box is not geo.Box  # pde.Box is the older collocation box
    assert isinstance(geo.Interval(0, 1), geo.Box)
