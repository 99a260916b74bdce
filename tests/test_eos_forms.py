"""Classical EOS forms: physics invariants, derivatives against finite differences, ASE."""

import ase.eos as aseeos
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pinnloss import eos

P = dict(e0=-3.25, v0=11.95, b0=0.88, b1=5.05)
B2_BM3 = -((P["b1"] - 4.0) * (P["b1"] - 3.0) + 35.0 / 9.0) / P["b0"]

FORMS = [
    eos.BirchMurnaghan(**P),
    eos.BirchMurnaghan4(**P, b2=-9.0),
    eos.Vinet(**P),
    eos.Murnaghan(**P),
    eos.PoirierTarantola(**P),
    eos.StabilizedJellium(**P),
    eos.AntonSchmidt(**P),
    eos.Polynomial3(**P),
]
IDS = [type(f).__name__ for f in FORMS]
VOLS = np.array([10.9, 11.5, 11.95, 12.4, 13.0])


@pytest.mark.parametrize("form", FORMS, ids=IDS)
def test_equilibrium_invariants(form):
    v0 = form.v0
    assert np.isclose(form(v0), P["e0"], rtol=0, atol=1e-13)
    assert abs(float(jax.grad(form)(v0))) < 1e-13  # E'(V0) = 0
    assert np.isclose(v0 * jax.grad(jax.grad(form))(v0), P["b0"], rtol=1e-12)  # V0 E'' = B0
    assert np.isclose(eos.bulk_modulus(form, v0), P["b0"], rtol=1e-12)
    assert np.isclose(eos.bulk_modulus_derivative(form, v0), P["b1"], rtol=1e-11)
    assert abs(float(eos.pressure(form, v0))) < 1e-13
    # a minimum: energy above E0 on both sides
    assert float(form(0.97 * v0)) > P["e0"] and float(form(1.03 * v0)) > P["e0"]


def test_bm4_second_pressure_derivative_and_reduction():
    bm4 = eos.BirchMurnaghan4(**P, b2=-9.0)
    v0 = bm4.v0

    # B''(P) = d(B')/dP = (dB'/dV) / (dP/dV) = -(dB'/dV) / E''
    def b1_of_v(v):
        return eos.bulk_modulus_derivative(bm4, v)

    b2 = -jax.grad(b1_of_v)(v0) / jax.grad(jax.grad(bm4))(v0)
    assert np.isclose(b2, -9.0, rtol=1e-10)
    # with B0'' of the third-order form it *is* the third-order form
    red = eos.BirchMurnaghan4(**P, b2=B2_BM3)
    bm3 = eos.BirchMurnaghan(**P)
    assert np.allclose(jax.vmap(red)(VOLS), jax.vmap(bm3)(VOLS), rtol=0, atol=1e-13)


@pytest.mark.parametrize("form", FORMS, ids=IDS)
def test_derivatives_match_finite_differences(form):
    E = lambda v: float(form(jnp.asarray(v)))
    for v in VOLS:
        h = 1e-4 * v
        d1 = lambda h, v=v: -(E(v + h) - E(v - h)) / (2 * h)
        p_fd = (4.0 * d1(h / 2) - d1(h)) / 3.0  # Richardson: O(h^4)
        assert np.isclose(eos.pressure(form, v), p_fd, rtol=1e-8, atol=1e-10)
        # B = -V dP/dV with dP/dV by a central difference of the autodiff pressure
        dp = (eos.pressure(form, v + h) - eos.pressure(form, v - h)) / (2 * h)
        assert np.isclose(eos.bulk_modulus(form, v), -v * dp, rtol=1e-7)
        # B' = dB/dP by central differences of B and P
        db = eos.bulk_modulus(form, v + h) - eos.bulk_modulus(form, v - h)
        dpp = eos.pressure(form, v + h) - eos.pressure(form, v - h)
        assert np.isclose(eos.bulk_modulus_derivative(form, v), db / dpp, rtol=1e-6)
        # and B from a second difference of E itself
        h2 = 1e-3 * v
        b_fd = v * (E(v + h2) - 2 * E(v) + E(v - h2)) / h2**2
        assert np.isclose(eos.bulk_modulus(form, v), b_fd, rtol=1e-5)


ASE = {
    eos.BirchMurnaghan: aseeos.birchmurnaghan,
    eos.Vinet: aseeos.vinet,
    eos.Murnaghan: aseeos.murnaghan,
    eos.PoirierTarantola: aseeos.pouriertarantola,
    eos.AntonSchmidt: aseeos.anton_schmidt,
}


@pytest.mark.parametrize("cls", list(ASE), ids=[c.__name__ for c in ASE])
def test_energies_match_ase(cls):
    form = cls(**P)
    ours = np.asarray(jax.vmap(form)(VOLS))
    theirs = ASE[cls](VOLS, P["e0"], P["b0"], P["b1"], P["v0"])
    assert np.allclose(ours, theirs, rtol=0, atol=1e-12)


def test_jit_vmap_and_batched_fields():
    forms = eos.BirchMurnaghan(
        e0=jnp.zeros(3),
        v0=jnp.array([10.0, 11.0, 12.0]),
        b0=jnp.array([0.5, 0.9, 1.2]),
        b1=jnp.full(3, 4.5),
    )
    out = jax.jit(jax.vmap(lambda f, v: f(v), in_axes=(0, None)))(forms, 11.0)
    for i in range(3):
        one = eos.BirchMurnaghan(0.0, forms.v0[i], forms.b0[i], 4.5)
        assert np.isclose(out[i], one(11.0), rtol=1e-14)
    # parameters are arrays: a new value does not retrace
    f = eqx.filter_jit(eqx.debug.assert_max_traces(lambda m, v: m(v), max_traces=1))
    f(eos.Vinet(**P), 12.0)
    f(eos.Vinet(**{**P, "b0": 0.5}), 12.0)
    # gradients with respect to the parameters match finite differences
    g = jax.grad(lambda m: m(12.5))(eos.BirchMurnaghan(**P))
    h = 1e-6
    up = eos.BirchMurnaghan(**{**P, "b0": P["b0"] + h})(12.5)
    dn = eos.BirchMurnaghan(**{**P, "b0": P["b0"] - h})(12.5)
    assert np.isclose(g.b0, (up - dn) / (2 * h), rtol=1e-7)


def test_form_names():
    assert eos.FORM_REGISTRY["bm"].cls is eos.BirchMurnaghan
    assert eos.FORM_REGISTRY["pt"].cls is eos.PoirierTarantola
    with pytest.raises(ValueError, match="unknown equation of state 'spline'"):
        eos.fit_eos(eos.example_data(), form="spline")


def test_one_form_registry():
    reg = eos.FORM_REGISTRY
    specs = reg.specs()
    assert list({id(s): s for s in reg.values()}.values()) == list(specs)
    # every concrete form once, under its canonical name and its aliases, and nothing else
    assert sorted(s.cls.__name__ for s in specs) == sorted(IDS)
    assert list(reg) == [n for s in specs for n in s.names] and len(reg) == len(list(reg))
    assert all(s.description for s in specs)
    for name in ("bm", "birch_murnaghan", "bm4", "vinet", "murnaghan", "pt"):
        assert reg[name.upper()] is reg[name] and name.upper() in reg
    assert reg["bm"].name == "birch_murnaghan" and reg["pt"].name == "poirier_tarantola"
    assert reg[eos.BirchMurnaghan4] is reg["bm4"]

    class Mine(eos.BirchMurnaghan):
        pass

    assert reg[Mine].cls is Mine and reg[Mine].name == "Mine" and "Mine" not in reg
    with pytest.raises(ValueError, match="not AbstractEOS"):
        reg[eos.AbstractEOS]
    with pytest.raises(KeyError):  # a mapping's error too, so .get and `in` work
        reg["spline"]
    assert reg.get("spline") is None and 3 not in reg
    with pytest.raises(eos.UnknownFormError, match="choose one of .*'vinet'"):
        reg["spline"]
    # version 0.2's names still work, with a DeprecationWarning naming the replacement
    with pytest.warns(DeprecationWarning, match="use eos.FORM_REGISTRY\\[name\\].cls"):
        assert eos.FORMS == {n: s.cls for n, s in reg.items()}
    with pytest.warns(DeprecationWarning, match="FORM_REGISTRY\\[form\\].cls"):
        assert eos.form_class("vinet") is eos.Vinet
    with pytest.warns(DeprecationWarning, match="use eos.FORM_REGISTRY\\[form\\]"):
        assert eos.form_spec("bm") is reg["bm"]
    assert not {"FORMS", "form_class", "form_spec"} & set(eos.__all__)


def test_shift_energy():
    bm = eos.BirchMurnaghan(**P)
    up = eos.shift_energy(bm, 2.5)
    assert np.allclose(jax.vmap(up)(VOLS) - jax.vmap(bm)(VOLS), 2.5, rtol=0, atol=1e-12)
    assert (up.v0, up.b0, up.b1) == (bm.v0, bm.b0, bm.b1)
    assert eos.shift_energy(up, -2.5).e0 == bm.e0
    with pytest.raises(ValueError, match="equation of state"):
        eos.shift_energy(lambda v: v, 1.0)


def test_ase_coefficient_forms_and_birch():
    """sj and p3 are ASE's polynomials (fitted in coefficients there); ASE's birch is BM3."""
    for cls, k in ((eos.StabilizedJellium, 1 / 3), (eos.Polynomial3, -1.0)):
        e = np.asarray(jax.vmap(cls(**P))(VOLS))
        x = VOLS ** (-k)
        c = np.polyfit(x, e, 3)  # 5 points: a cubic through all of them only if it is one
        assert np.allclose(np.polyval(c, x), e, rtol=0, atol=1e-12)
        if cls is eos.Polynomial3:
            assert np.allclose(aseeos.p3(VOLS, *c[::-1]), e, rtol=0, atol=1e-11)
    bm = np.asarray(jax.vmap(eos.BirchMurnaghan(**P))(VOLS))
    assert np.allclose(aseeos.birch(VOLS, P["e0"], P["b0"], P["b1"], P["v0"]), bm, atol=1e-12)


def test_anton_schmidt_through_b1_equal_2():
    """n = -B0'/2 = -1 is a removable singularity: continuous, with the right invariants."""
    v = np.array([6.0, 11.0, 11.9, 12.0, 20.0])
    at = lambda b1: np.asarray(jax.vmap(eos.AntonSchmidt(**{**P, "b1": b1}))(v))
    lim = P["e0"] + P["b0"] * P["v0"] * np.log(v / P["v0"]) ** 2 / 2
    assert np.allclose(at(2.0), lim, rtol=0, atol=1e-14)
    for h in (1e-9, 1e-6, 1e-3):
        assert np.allclose(at(2.0 + h), at(2.0), rtol=0, atol=3 * h)
        assert np.allclose(at(2.0 - h), at(2.0), rtol=0, atol=3 * h)
    f = eos.AntonSchmidt(**{**P, "b1": 2.0})
    assert np.isclose(eos.bulk_modulus(f, P["v0"]), P["b0"], rtol=1e-12)
    assert np.isclose(eos.bulk_modulus_derivative(f, P["v0"]), 2.0, rtol=1e-10)


def test_ase_form_names():
    for name, cls in {
        "birchmurnaghan": eos.BirchMurnaghan,
        "birch": eos.BirchMurnaghan,
        "pouriertarantola": eos.PoirierTarantola,
        "murnaghan": eos.Murnaghan,
        "vinet": eos.Vinet,
        "sj": eos.StabilizedJellium,
        "antonschmidt": eos.AntonSchmidt,
        "anton-schmidt": eos.AntonSchmidt,
        "p3": eos.Polynomial3,
    }.items():
        assert eos.FORM_REGISTRY[name].cls is cls, name


def test_repr_shows_values_and_units():
    bm = eos.BirchMurnaghan(e0=-45035.748836, v0=11.9525, b0=0.8823, b1=5.05)
    text = repr(bm)
    assert text == str(bm)
    for part in ("BirchMurnaghan(", "e0=-45035.748836 eV", "v0=11.9525 Å³", "b0=0.8823 eV/Å³"):
        assert part in text, text
    assert f"({0.8823 * eos.EV_PER_A3_TO_GPA:.5g} GPa)" in text and "b1=5.05)" in text
    assert "b2=-9 Å³/eV" in repr(eos.BirchMurnaghan4(**P, b2=-9.0))
    many = eos.Vinet(
        e0=np.zeros(4), v0=np.array([10.0, 12.0, 11.0, np.nan]), b0=np.full(4, 0.5), b1=4.0
    )
    text = repr(many)
    assert text.startswith("Vinet[4 curves, shape (4,)]("), text
    assert "v0 10 … 12 Å³ (median 11)" in text and "1 with NaN parameters" in text
    # traced (inside jit): the structural repr, no error
    seen = []
    jax.jit(lambda f: seen.append(repr(f)) or f.e0)(bm)
    assert seen[0].startswith("BirchMurnaghan(") and "f64[]" in seen[0]
