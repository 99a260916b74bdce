"""Examples 9–15 of issue 5 run at smoke size and their scientific claims hold."""

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "examples"))


def _run(module, tmp_path):
    result = module.main(smoke=True, out=str(tmp_path))
    assert os.path.isfile(result["figure"]) and os.path.getsize(result["figure"]) > 10_000
    assert isinstance(result["headline"], str) and result["headline"]
    return result


def test_keypoints_mask_keeps_occluded_peaks(tmp_path):
    import keypoints

    r = _run(keypoints, tmp_path)
    # behind the occluder the plain-MSE peaks fade (pulled toward the empty labels) ...
    assert r["relative_peak_occluded_plain"] < 0.3
    assert r["detected_occluded_plain"] < 0.1
    # ... the masked loss keeps them: several times higher, most of their clear height
    assert r["peak_occluded_masked"] > 3 * r["peak_occluded_plain"]
    assert r["relative_peak_occluded_masked"] > 0.5
    assert r["detected_occluded_masked"] > 5 * max(r["detected_occluded_plain"], 0.02)
    # away from the occluder the two agree
    assert abs(r["peak_clear_masked"] - r["peak_clear_plain"]) < 0.15
    assert 0.15 < r["fraction_hidden"] < 0.5


def test_lqr_riccati_against_scipy():
    import lqr_imitation as m
    import scipy.linalg

    a, b = m.cart_pole()
    a_c = np.zeros((4, 4))
    q, r = np.diag(m.Q_DIAG) * m.DT, np.diag(m.R_DIAG) * m.DT
    p, k = m.lqr(a, b, q, r)
    np.testing.assert_allclose(p, scipy.linalg.solve_discrete_are(a, b, q, r), rtol=1e-8)
    # K makes the closed loop stable and satisfies the Riccati fixed point
    assert np.abs(np.linalg.eigvals(a - b @ k)).max() < 1
    rhs = q + a.T @ p @ a - a.T @ p @ b @ np.linalg.solve(r + b.T @ p @ b, b.T @ p @ a)
    np.testing.assert_allclose(p, rhs, rtol=1e-9)
    # the home-made matrix exponential agrees with SciPy's
    a_c[0, 2] = a_c[1, 3] = 1.0
    a_c[2:, 1] = [-2.0, 30.0]
    np.testing.assert_allclose(m.expm(a_c * 0.3), scipy.linalg.expm(a_c * 0.3), rtol=1e-10)


def test_lqr_excess_cost_is_quadratic_in_the_control_error():
    # Q*(x, u) = V*(x) + (u − u*)ᵀ(R + BᵀPB)(u − u*): the excess cost of any policy is the
    # sum of its control errors weighed by H = R + BᵀPB along its own trajectory
    import jax.numpy as jnp
    import lqr_imitation as m

    a, b = m.cart_pole()
    q, r = np.diag(m.Q_DIAG) * m.DT, np.diag(m.R_DIAG) * m.DT
    p, k = m.lqr(a, b, q, r)
    h = r + b.T @ p @ b
    k_hat = k + 0.05 * np.random.default_rng(0).normal(size=k.shape) * np.abs(k)
    assert np.abs(np.linalg.eigvals(a - b @ k_hat)).max() < 1
    x0 = np.random.default_rng(1).normal(size=(5, 4)) * m.X0_SCALE
    cost, xs = m.closed_loop_cost(lambda x: -x @ jnp.asarray(k_hat).T, a, b, q, r, x0, 3000)
    e = np.einsum("ij,tnj->tni", k - k_hat, np.asarray(xs))  # u − u* at each visited state
    excess = np.einsum("tni,ij,tnj->n", e, h, e)
    optimum = np.einsum("ni,ij,nj->n", x0, p, x0)
    np.testing.assert_allclose(np.asarray(cost) - optimum, excess, rtol=1e-6)


def test_lqr_imitation_weighted_loss_costs_less(tmp_path):
    import lqr_imitation

    r = _run(lqr_imitation, tmp_path)
    assert r["converged"]
    # the simulated LQR cost is x0ᵀ P x0 (long horizon), and no policy beats it
    np.testing.assert_allclose(r["cost_lqr_simulated"], r["cost_lqr_theory"], rtol=1e-6)
    assert r["cost_ratio_plain"] > 1.0 and r["cost_ratio_weighted"] > 1.0
    # the R-weighted imitation is closer to the optimum than plain MSE
    assert r["cost_ratio_weighted"] < r["cost_ratio_plain"] - 0.1
    # because it gets the expensive input (torque) right and gives up on the cheap one
    assert r["torque_gain_rel_error_weighted"] < 0.5 * r["torque_gain_rel_error_plain"]
    assert r["force_gain_rel_error_plain"] < r["force_gain_rel_error_weighted"]
    # R + BᵀPB ≈ R for this time step: the R-weighted loss measures the excess cost
    assert r["h_minus_r_relative"] < 0.1


def test_unit_vectors_penalty_keeps_norm_one(tmp_path):
    import unit_vectors

    r = _run(unit_vectors, tmp_path)
    assert abs(r["mean_norm_unit"] - 1.0) < 1e-2
    assert r["mean_norm_plain"] < 0.9
    # plain MSE learns the conditional mean: length A(κ) of a von Mises–Fisher draw
    assert abs(r["mean_norm_plain"] - r["mean_resultant_length"]) < 0.05
    # and the penalty does not spoil the directions
    assert r["median_angle_unit_deg"] < r["median_angle_plain_deg"] + 3.0


def test_unit_vectors_vmf_sampler():
    import unit_vectors

    rng = np.random.default_rng(0)
    mu = unit_vectors.true_direction(rng.uniform(-1, 1, size=(20000, 2)))
    y = unit_vectors.sample_vmf(mu, unit_vectors.KAPPA, rng)
    np.testing.assert_allclose(np.linalg.norm(y, axis=1), 1.0, rtol=1e-12)
    # E[y·μ] = A(κ)
    np.testing.assert_allclose(
        np.mean(np.sum(y * mu, axis=1)),
        unit_vectors.mean_resultant_length(unit_vectors.KAPPA),
        atol=3e-3,
    )


def test_tied_autoencoder_half_weights_lower_test_error(tmp_path):
    import tied_autoencoder

    r = _run(tied_autoencoder, tmp_path)
    assert 2 * r["weights_tied"] == r["weights_untied"]
    assert r["params_tied"] < r["params_untied"]
    assert r["test_mse_tied"] < r["test_mse_untied"]
    assert r["tied_wins"] >= r["n_sets"] - 1
    # the untied model fits the training noise better and generalises worse
    assert r["train_mse_untied"] < r["train_mse_tied"]
    assert r["test_mse_tied"] > r["noise_floor"]


def test_time_shift_recovers_delay(tmp_path):
    import time_shift

    r = _run(time_shift, tmp_path)
    err = r["tau_error"]
    assert err < 3 * r["tau_standard_error"]
    assert err < 0.01
    # finer than the sampling grid, where cross-correlation stops
    assert err < r["grid_step"] / 4
    # from more than half a period away, gradient descent finds a side minimum
    assert abs(r["tau_far_end"] - r["tau_true"]) > 1.0


def test_energy_based_model_samples_approach_data(tmp_path):
    import energy_based_model

    r = _run(energy_based_model, tmp_path)
    assert r["distance_last"] < 0.5 * r["distance_first"]
    assert r["distance_last"] > r["distance_data_floor"] * 0.5
    # data energies pulled down toward 0, sample energies up toward 1; once the samples
    # sit on the data both settle in between
    assert 0.0 < r["mean_energy_data"] < 1.0 and 0.0 < r["mean_energy_samples"] < 1.0


def test_energy_distance_properties():
    import energy_based_model as m
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(300, 2)))
    assert abs(float(m.energy_distance(x, x))) < 1e-5
    near = float(m.energy_distance(x, x + 0.1))
    far = float(m.energy_distance(x, x + 1.0))
    assert 0 < near < far


def test_per_sample_outlier_dominates(tmp_path):
    import per_sample

    r = _run(per_sample, tmp_path)
    # the heavy-tailed draw has the largest loss and the largest gradient
    assert r["worst_index"] == r["biggest_noise_index"] == r["worst_loss_index"]
    assert r["max_over_median"] > 5
    assert r["share_of_squared_norms"] > 0.2
    # at the MSE fit the per-sample gradients average to zero
    assert abs(r["mean_grad_a"]) < 1e-6 and abs(r["mean_grad_b"]) < 1e-6
    assert abs(r["slope_shift"]) > 0.05


def test_helmholtz_inverse_recovers_the_wavenumber(tmp_path):
    import helmholtz_inverse

    r = _run(helmholtz_inverse, tmp_path)
    assert abs(r["k_exact_data"] - 2.0) < 1e-6  # exact data: k to (at least) 6 digits
    assert abs(r["k_noisy_data"] - 2.0) < 1e-2  # noise 0.01 on 12 points
    assert r["field_max_error"] < 1e-4


@pytest.mark.parametrize(
    "name",
    [
        "helmholtz_inverse",
        "keypoints",
        "lqr_imitation",
        "unit_vectors",
        "tied_autoencoder",
        "time_shift",
        "energy_based_model",
        "per_sample",
    ],
)
def test_example_has_docstring_and_cli(name):
    import importlib

    module = importlib.import_module(name)
    assert module.__doc__ and "Run:" in module.__doc__
    src = open(module.__file__).read()
    assert 'if __name__ == "__main__":' in src and "run_cli(main" in src
