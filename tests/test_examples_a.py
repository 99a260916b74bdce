"""Examples 1–8 of issue 5 run at smoke size, and each asserts its scientific claim."""

import importlib
import os
import sys

import numpy as np
import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def _example(name):
    if EXAMPLES not in sys.path:
        sys.path.insert(0, EXAMPLES)
    return importlib.import_module(name)


def _run(name, tmp_path):
    result = _example(name).main(smoke=True, out=str(tmp_path))
    assert os.path.getsize(result["figure"]) > 10_000, "the figure was not drawn"
    assert isinstance(result["headline"], str)
    return result


def test_energy_volume(tmp_path):
    r = _run("energy_volume", tmp_path)
    assert r["all_valid"] and r["max_final_loss"] < 1e-20  # every net fitted its objective
    # the penalties pull V0 and B0 onto the constraints, in every ensemble member ...
    assert abs(r["pinn_v0_mean"] - r["ref_v0"]) < 1e-8 * r["ref_v0"]
    assert abs(r["pinn_b0_gpa_mean"] - r["ref_b0_gpa"]) < 1e-6 * r["ref_b0_gpa"]
    assert r["pinn_b0_gpa_std"] < 1e-6 and r["pinn_max_abs_p_at_v0_gpa"] < 1e-8
    # ... while four points alone leave the data-only nets' B0 far off and scattered
    assert abs(r["data_b0_gpa_mean"] - r["ref_b0_gpa"]) > 0.05 * r["ref_b0_gpa"]
    assert r["data_b0_gpa_std"] > 1.0
    assert r["data_max_abs_p_at_v0_gpa"] > 1e-3
    # and they tame the curve between the points: the held-out DFT energies are closer
    assert r["pinn_held_out_rms_mev"] < 0.5 * r["data_held_out_rms_mev"]
    assert r["pinn_curve_rms_mev"] < 0.5 * r["data_curve_rms_mev"]
    # the four-parameter Birch-Murnaghan form is right for Cu: tiny held-out error, same V0
    assert r["bm4_held_out_rms_mev"] < 0.05
    assert abs(r["bm4_v0"] - r["ref_v0"]) < 1e-3


def test_outliers(tmp_path):
    r = _run("outliers", tmp_path)
    # MSE is the least-squares line: checked against NumPy on every draw
    assert r["mse_vs_lstsq_max_abs_diff"] < 1e-6
    # the Huber fits (Adam) reached the optimum: zero gradient of the Huber objective
    assert r["huber_max_grad_norm"] < 1e-6
    # the MSE estimate's spread explodes as the tails get heavier ...
    assert r["mse_spread_ratio"] > 4.0
    assert r["std_mse_nu1.5"] > r["std_mse_nu3"] > r["std_mse_nu30"]
    # ... while Huber's and MAE's stay bounded
    assert r["huber_spread_ratio"] < 2.0
    assert r["mae_spread_ratio"] < 2.0
    assert r["std_huber_nu1.5"] < r["std_mse_nu1.5"] / 3
    # near-Gaussian noise: MSE is as good as the robust losses (no free lunch for them)
    assert r["std_mse_nu30"] < 1.1 * min(r["std_huber_nu30"], r["std_mae_nu30"])


def test_posterior_mean(tmp_path):
    from scipy import stats

    r = _run("posterior_mean", tmp_path)
    n = r["n_samples"]
    post = stats.gamma(r["posterior_shape"], scale=1.0 / r["posterior_rate"])
    # squared loss -> the sample mean (exactly: one Gauss-Newton step on a linear problem)
    assert abs(r["squared_loss_estimate"] - r["sample_mean"]) < 1e-10
    # absolute loss -> the sample median (to the first-order solver's resolution)
    assert abs(r["absolute_loss_estimate"] - r["sample_median"]) < 1e-3
    # and both are the true posterior mean / median (SciPy) within sampling error
    assert abs(r["sample_mean"] - post.mean()) < 4 * post.std() / np.sqrt(n)
    se_median = 1.0 / (2 * post.pdf(post.median()) * np.sqrt(n))
    assert abs(r["absolute_loss_estimate"] - post.median()) < 4 * se_median + 1e-3
    assert r["posterior_mean_exact"] == pytest.approx(post.mean(), rel=1e-12)
    # the distribution is skewed: the two answers differ far beyond those errors
    assert r["squared_loss_estimate"] - r["absolute_loss_estimate"] > 0.05


def test_vanishing_gradients(tmp_path):
    r = _run("vanishing_gradients", tmp_path)
    s = 1.0 / (1.0 + np.exp(10.0))  # sigmoid(-10)
    assert r["grad_mse_at_z_minus10"] == pytest.approx(2 * (s - 1) * s * (1 - s), rel=1e-9)
    assert r["grad_bce_at_z_minus10"] == pytest.approx(s - 1, rel=1e-12)
    assert r["grad_ratio_bce_over_mse_at_z_minus10"] > 1e3
    # from a confidently wrong start, BCE recovers and MSE-after-sigmoid does not
    assert r["initial_error_rate"] > 0.95
    assert 0 <= r["steps_to_10pct_error_bce"] < r["steps"] // 3
    assert r["steps_to_10pct_error_mse"] == -1
    assert r["final_error_rate_bce"] < 0.05
    assert r["final_error_rate_mse"] > 0.3


def test_feature_scaling(tmp_path):
    r = _run("feature_scaling", tmp_path)
    assert r["gradient_slope_mse"] == pytest.approx(2.0, abs=0.05)
    assert r["gradient_slope_mae"] == pytest.approx(1.0, abs=0.05)
    assert r["hessian_cond_raw"] > 100 * r["hessian_cond_standardised"]
    assert 0 <= r["steps_standardised"] <= 20
    assert r["steps_raw"] == -1 or r["steps_raw"] > 50 * max(r["steps_standardised"], 1)
    assert r["final_gap_standardised"] < r["tol"]


def test_loss_landscape(tmp_path):
    r = _run("loss_landscape", tmp_path)
    # linear model: the Hessian is 2/N X^T X (independent formula), hence PSD
    assert r["linear_hessian_vs_2XtX_max_abs_err"] < 1e-12
    assert r["linear_min_eig"] >= -1e-12 * r["linear_max_eig"]
    # MLP: indefinite -- clearly negative eigenvalues, not round-off
    assert r["mlp_init_min_eig"] < -1e-3 * r["mlp_init_max_eig"]
    assert r["mlp_init_n_negative"] > 0
    # while its Gauss-Newton part 2 J^T J stays PSD
    assert r["mlp_gauss_newton_min_eig"] >= -1e-10 * r["mlp_gauss_newton_max_eig"]
    # the negative curvature comes from residuals: it shrinks as the fit improves
    assert abs(r["mlp_trained_min_eig"]) < 0.1 * abs(r["mlp_init_min_eig"])


def test_missing_labels(tmp_path):
    r = _run("missing_labels", tmp_path)
    # the masked MSE never looks at the missing labels
    assert r["filler_invariance_max_abs_diff"] < 1e-12
    for m in ("MCAR", "MAR", "MNAR"):
        assert 0.35 < r[f"kept_fraction_{m}"] < 0.65
    # unbiased under MCAR (and MAR): within a few standard errors of 0
    for m in ("none", "MCAR", "MAR"):
        for p in ("a", "b"):
            assert abs(r[f"t_{m}_{p}"]) < 4.0, (m, p, r[f"t_{m}_{p}"])
    # biased when missingness depends on the target: large labels missing -> line too low
    assert r["t_MNAR_a"] < -10 and r["bias_MNAR_a"] < -0.1
    assert r["t_MNAR_b"] < -10


def test_correlated_noise(tmp_path):
    r = _run("correlated_noise", tmp_path)
    # GLS is the MSE of Sigma^(-1/2)-whitened residuals, and the DataMSE(cov=) term agrees
    assert r["gls_vs_whitened_mse_rel_diff"] < 1e-12
    assert r["term_vs_whitened_mse_rel_diff"] < 1e-12
    assert r["gls_vs_plain_mse_rel_diff"] > 0.1  # the check is not vacuous
    # the fitted GLS line is the closed-form (X^T W X)^-1 X^T W y
    assert r["fit_vs_closed_form_max_abs_diff"] < 1e-6
    # and it estimates better: GLS < diagonal weights < plain MSE, as theory says
    assert r["var_slope_gls"] < r["var_slope_diagonal"] < r["var_slope_plain_mse"]
    assert r["var_intercept_gls"] < r["var_intercept_plain_mse"]
    assert r["variance_ratio_gls_over_mse"] == pytest.approx(r["variance_ratio_theory"], rel=0.3)
    assert abs(r["mean_slope_gls"] - 2.0) < 4 * np.sqrt(r["var_slope_gls"] / r["repeats"])


@pytest.mark.parametrize(
    "name",
    [
        "outliers",
        "posterior_mean",
        "vanishing_gradients",
        "feature_scaling",
        "loss_landscape",
        "missing_labels",
        "correlated_noise",
    ],
)
def test_example_documents_itself(name):
    """Every example has a docstring that says how to run it, and a main(smoke, out)."""
    mod = _example(name)
    assert f"python examples/{name}.py" in mod.__doc__
    assert callable(mod.main)


def test_example_runs_as_a_script(tmp_path):
    """`python examples/NAME.py --smoke` prints the headline and saves the figure in ./figures/."""
    import subprocess

    env = dict(os.environ, MPLBACKEND="Agg")
    env.pop("PINNLOSS_FIGURES", None)
    out = subprocess.run(
        [sys.executable, os.path.join(EXAMPLES, "vanishing_gradients.py"), "--smoke"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "BCE gradient is" in out.stdout and "grad_ratio_bce_over_mse_at_z_minus10" in out.stdout
    assert os.listdir(tmp_path) == ["figures"]  # nothing else lands in the current directory
    assert os.path.getsize(tmp_path / "figures" / "vanishing_gradients.png") > 10_000
    assert "figures/vanishing_gradients.png" in out.stdout


def test_figure_path_follows_out(tmp_path, monkeypatch):
    """`--out` a file, an existing folder, or a new folder ending in "/"; else
    $PINNLOSS_FIGURES; else ./figures/ (which .gitignore names)."""
    common = _example("_common")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PINNLOSS_FIGURES", raising=False)
    assert common.figure_path(None, "a.png") == os.path.join("figures", "a.png")
    assert (tmp_path / "figures").is_dir()
    assert common.figure_path("deep/er/b.pdf", "a.png") == "deep/er/b.pdf"
    assert (tmp_path / "deep" / "er").is_dir() and not (tmp_path / "deep/er/b.pdf").exists()
    assert common.figure_path("new/", "a.png") == os.path.join("new", "a.png")
    assert common.figure_path(str(tmp_path), "c.png") == str(tmp_path / "c.png")
    monkeypatch.setenv("PINNLOSS_FIGURES", str(tmp_path / "env"))
    assert common.figure_path(None, "d.png") == str(tmp_path / "env" / "d.png")
    root = os.path.dirname(EXAMPLES)
    with open(os.path.join(root, ".gitignore")) as f:
        assert f"{common.DEFAULT_DIR}/" in f.read().split()
