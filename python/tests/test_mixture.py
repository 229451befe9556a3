"""emkit.GaussianMixture against scikit-learn's contract, references and class."""

import io
import json
import pickle
import warnings
from contextlib import redirect_stdout

import joblib
import numpy as np
import pytest
import sklearn.mixture
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.metrics import adjusted_rand_score
from sklearn.utils.estimator_checks import parametrize_with_checks

import emkit
import emkit.hmm
from conftest import REFERENCE, read_csv

# Every scikit-learn estimator check runs. A check that cannot pass is listed
# here with its reason and reported as an expected failure, never skipped.
EXPECTED_FAILED_CHECKS = {}


@parametrize_with_checks(
    [emkit.GaussianMixture(), emkit.GaussianMixture(accel="squarem")],
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS,
)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_checks_end_as_they_do_for_scikit_learns_own_class():
    from sklearn.utils.estimator_checks import check_estimator

    def outcome(est):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return {r["check_name"]: r["status"] for r in check_estimator(est, on_fail=None, on_skip=None)}

    ours, theirs = outcome(emkit.GaussianMixture()), outcome(sklearn.mixture.GaussianMixture())
    # Every check scikit-learn's class runs, ours runs with the same outcome:
    # what it passes, ours passes; what it skips (the array-API check without
    # SCIPY_ARRAY_API), ours skips. Ours also takes sample_weight, so the
    # sample-weight checks run too, and pass.
    assert {k: ours[k] for k in theirs} == theirs
    extra = {k: v for k, v in ours.items() if k not in theirs}
    assert set(extra) >= {"check_sample_weight_equivalence_on_dense_data", "check_all_zero_sample_weights_error"}
    assert all(name.startswith(("check_sample_weight", "check_all_zero_sample_weights")) for name in extra)
    assert all(s in ("passed", "skipped") for s in ours.values())
    assert all(s == "passed" for s in extra.values())


def test_accel_reaches_plain_em_optimum_in_fewer_passes():
    _, X = read_csv("faithful_std.csv")
    fits = {
        a: emkit.GaussianMixture(3, tol=1e-8, max_iter=10_000, random_state=0, accel=a).fit(X)
        for a in ("none", "squarem")
    }
    plain, fast = fits["none"], fits["squarem"]
    assert plain.n_em_steps_ == plain.n_iter_
    assert fast.n_em_steps_ < plain.n_em_steps_
    # The same optimum from the same start, to the 1e-7 relative.
    ll = {a: f.score(X) for a, f in fits.items()}
    assert ll["squarem"] >= ll["none"] - 1e-7 * abs(ll["none"])
    # The accepted iterates never lose likelihood (rounding of a sum of 272
    # log-densities is ~1e-15 relative; a rejected step would show as 1e-4).
    assert all(b >= a - 1e-12 for a, b in zip(fast.lower_bounds_, fast.lower_bounds_[1:]))
    with pytest.raises(ValueError, match="accel"):
        emkit.GaussianMixture(2, accel="fast").fit(X)


def test_the_python_default_accel_is_the_librarys():
    import inspect

    from emkit import _emkit

    for cls in (emkit.GaussianMixture, emkit.hmm.GaussianHMM, emkit.hmm.CategoricalHMM, emkit.hmm.GMMHMM):
        assert inspect.signature(cls).parameters["accel"].default == _emkit.DEFAULT_ACCEL, cls
    assert inspect.signature(emkit.GaussianMixture).parameters["strategy"].default == _emkit.DEFAULT_STRATEGY


def test_split_merge_runs_moves_and_keeps_the_best():
    _, X = read_csv("faithful_std.csv")
    plain = emkit.GaussianMixture(4, n_init=3, random_state=1).fit(X)
    search = emkit.GaussianMixture(4, n_init=3, random_state=1, strategy="split-merge").fit(X)
    # Three short runs, the continued ones inside them, then at least one
    # round of moves.
    assert len(search.restarts_) > 3
    lls = [r["mean_log_likelihood"] for r in search.restarts_ if r["error"] is None]
    assert search.score(X) == max(lls)
    assert all(r["n_em_steps"] >= r["n_iter"] for r in search.restarts_)
    assert len(plain.restarts_) == 3
    with pytest.raises(ValueError, match="strategy"):
        emkit.GaussianMixture(2, strategy="smem").fit(X)


# ------------------------------------------------------------------ references


def reference(name):
    with open(REFERENCE / f"{name}.gmm.json", encoding="utf-8") as f:
        return json.load(f)


def reference_params(fit):
    return (
        np.array(fit["weights"], dtype=np.float64),
        np.array(fit["means"], dtype=np.float64),
        np.array(fit["covariances"], dtype=np.float64),
    )


@pytest.mark.parametrize("name", ["iris", "faithful"])
def test_log_density_at_scikit_learns_parameters_is_its_score(name):
    X = read_csv(f"{name}.csv")[1]
    for fit in reference(name)["fits"]:
        gm = emkit.GaussianMixture(fit["k"], covariance_type=fit["covariance_type"]).fit(X[: 4 * fit["k"]])
        # Replacing the parameters makes the next call use them.
        gm.weights_, gm.means_, gm.covariances_ = reference_params(fit)
        total = gm.score_samples(X).sum()
        # As in the Rust reference test (crates/emkit/tests/reference.rs): the
        # same formula with another operation order agrees to ~1e-14; fits at
        # the 1e-6 variance floor lose digits in scikit-learn's expanded square.
        tol = 1e-8 if fit["degenerate_suspect"] else 1e-12
        want = fit["total_log_likelihood"]
        assert abs(total - want) <= tol * abs(want), (name, fit["k"], fit["covariance_type"])
        assert gm._n_parameters() == fit["n_parameters"]


@pytest.mark.parametrize("name", ["iris", "faithful"])
def test_fits_reach_scikit_learns_optima(name):
    X = read_csv(f"{name}.csv")[1]
    n = X.shape[0]
    worst = -np.inf
    for fit in reference(name)["fits"]:
        gm = emkit.GaussianMixture(
            fit["k"],
            covariance_type=fit["covariance_type"],
            n_init=20,
            max_iter=1000,
            tol=1e-8,
            reg_covar=1e-6,
            random_state=0,
        ).fit(X)
        label = f"{name} k={fit['k']} {fit['covariance_type']}"
        mine = gm.score(X)
        assert np.isfinite(mine), label
        bic = -2 * mine * n + gm._n_parameters() * np.log(n)
        # bic() is that formula: only the summation order of score differs.
        assert abs(gm.bic(X) - bic) <= 1e-12 * abs(bic), label
        if fit["degenerate_suspect"]:
            continue  # a collapsed optimum: only a finite result is owed
        gap = fit["mean_log_likelihood"] - mine
        worst = max(worst, gap)
        # The bound of the Rust reference tests: scikit-learn's optimum minus
        # 1e-6 per sample (a restart may stop a hair early at tol 1e-8).
        assert gap <= 1e-6, f"{label}: {mine} vs {fit['mean_log_likelihood']}"
    print(f"{name}: worst shortfall {worst:.3e} per sample")


def test_iris_three_components_find_the_species():
    names, X = read_csv("iris.csv")
    species = np.repeat(np.arange(3), 50)
    gm = emkit.GaussianMixture(3, n_init=20, tol=1e-8, max_iter=1000, random_state=0).fit(X)
    # scikit-learn's fit has ARI 0.904 (the reference); the same optimum gives the same.
    assert adjusted_rand_score(species, gm.predict(X)) >= 0.9


# ----------------------------------------------------------- side by side


@pytest.mark.parametrize("kind", ["full", "tied", "diag", "spherical"])
def test_agrees_with_scikit_learn_on_parameters_bic_and_labels(kind, blobs):
    X, truth = blobs
    theirs = sklearn.mixture.GaussianMixture(3, covariance_type=kind, random_state=0).fit(X)
    ours = emkit.GaussianMixture(3, covariance_type=kind, random_state=0).fit(X)
    assert ours._n_parameters() == theirs._n_parameters()
    assert adjusted_rand_score(truth, ours.predict(X)) == 1.0
    assert adjusted_rand_score(theirs.predict(X), ours.predict(X)) == 1.0
    # At scikit-learn's parameters, every criterion is scikit-learn's to rounding.
    ours.weights_, ours.means_, ours.covariances_ = (
        theirs.weights_,
        theirs.means_,
        theirs.covariances_,
    )
    for method in ("bic", "aic", "score"):
        a, b = getattr(ours, method)(X), getattr(theirs, method)(X)
        assert abs(a - b) <= 1e-12 * abs(b), method
    np.testing.assert_allclose(ours.score_samples(X), theirs.score_samples(X), rtol=1e-12)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind", ["full", "tied", "diag", "spherical"])
def test_attributes_have_scikit_learns_names_shapes_and_dtypes(kind, blobs):
    X, _ = blobs
    theirs = sklearn.mixture.GaussianMixture(3, covariance_type=kind, random_state=0).fit(X)
    ours = emkit.GaussianMixture(3, covariance_type=kind, random_state=0).fit(X)
    for name in (
        "weights_",
        "means_",
        "covariances_",
        "precisions_",
        "precisions_cholesky_",
    ):
        a, b = getattr(ours, name), getattr(theirs, name)
        assert a.shape == b.shape and a.dtype == b.dtype, name
    for name in ("converged_", "n_iter_", "lower_bound_", "n_features_in_"):
        assert type(getattr(ours, name)) is type(getattr(theirs, name)), name
    assert len(ours.lower_bounds_) == ours.n_iter_
    assert ours.lower_bound_ == ours.lower_bounds_[-1]
    assert ours.stop_reason_ == "converged" and ours.converged_
    # The precisions are the inverse covariances and their factors multiply back.
    d = X.shape[1]
    if kind in ("full", "tied"):
        cov = ours.covariances_.reshape(-1, d, d)
        prec = ours.precisions_.reshape(-1, d, d)
        np.testing.assert_allclose(prec @ cov, np.broadcast_to(np.eye(d), cov.shape), atol=1e-10)
    else:
        np.testing.assert_allclose(ours.precisions_ * ours.covariances_, 1.0, rtol=1e-12)
    pred = ours.predict(X)
    assert pred.dtype == theirs.predict(X).dtype


def test_sample_is_grouped_by_component_and_follows_random_state(blobs):
    X, _ = blobs
    gm = emkit.GaussianMixture(3, random_state=5).fit(X)
    a, la = gm.sample(500)
    b, lb = gm.sample(500)
    assert a.shape == (500, 3) and la.shape == (500,)
    assert np.all(np.diff(la) >= 0), "grouped by component, as scikit-learn returns them"
    np.testing.assert_array_equal(a, b)  # an int random_state gives the same draws
    np.testing.assert_array_equal(la, lb)
    gm.set_params(random_state=np.random.RandomState(0))
    c, _ = gm.sample(500)
    d, _ = gm.sample(500)
    assert not np.array_equal(c, d), "a RandomState advances"
    with pytest.raises(ValueError, match="n_samples"):
        gm.sample(0)


def test_verbose_prints_what_scikit_learn_prints(blobs):
    X, _ = blobs

    def lines(cls, verbose):
        out = io.StringIO()
        with redirect_stdout(out), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            cls(3, n_init=2, max_iter=20, tol=0.0, verbose=verbose, verbose_interval=5, random_state=0).fit(X)
        return out.getvalue().splitlines()

    for verbose in (1, 2):
        ours, theirs = lines(emkit.GaussianMixture, verbose), lines(sklearn.mixture.GaussianMixture, verbose)
        assert len(ours) == len(theirs), (ours, theirs)
        # Times and values differ; the words and the iterations are the same.
        shape = lambda line: line.split("\t")[0].split(" time lapse")[0]  # noqa: E731
        assert [shape(s) for s in ours] == [shape(s) for s in theirs]


def test_max_iter_zero_returns_the_initialisation(blobs):
    X, _ = blobs
    gm = emkit.GaussianMixture(3, max_iter=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ConvergenceWarning when max_iter=0
        gm.fit(X)
    assert gm.n_iter_ == 0 and not gm.converged_ and gm.lower_bound_ == -np.inf
    # One EM iteration from that start moves the log-likelihood up.
    assert emkit.GaussianMixture(3, max_iter=1, random_state=0).fit(X).score(X) >= gm.score(X)


def test_warm_start_continues_from_the_fitted_parameters(blobs):
    X, _ = blobs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        steps = emkit.GaussianMixture(3, max_iter=1, warm_start=True, random_state=0, init_params="random")
        for _ in range(30):
            steps.fit(X)
    whole = emkit.GaussianMixture(3, max_iter=30, tol=0.0, random_state=0, init_params="random")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        whole.fit(X)
    # 30 one-iteration fits are one 30-iteration fit from the same start.
    np.testing.assert_allclose(steps.means_, whole.means_, rtol=1e-12)


def test_partial_initial_parameters_are_used(blobs):
    X, truth = blobs
    means = np.array([[0.0, 8.0, 8.0], [0.0, 0.0, 0.0], [8.0, 8.0, 0.0]])
    gm = emkit.GaussianMixture(3, means_init=means, max_iter=0).fit(X)
    np.testing.assert_array_equal(gm.means_, means)
    gm = emkit.GaussianMixture(3, means_init=means, random_state=0).fit(X)
    # Started at the true centres in this order, group g ends in component (g + 1) % 3.
    assert np.array_equal(gm.predict(X), (truth + 1) % 3)
    precisions = np.array([np.eye(3) * 2.0] * 3)
    gm = emkit.GaussianMixture(
        3, weights_init=[0.2, 0.3, 0.5], means_init=means, precisions_init=precisions, max_iter=0
    ).fit(X)
    np.testing.assert_allclose(gm.covariances_, np.array([np.eye(3) * 0.5] * 3))
    np.testing.assert_array_equal(gm.weights_, [0.2, 0.3, 0.5])
    with pytest.raises(ValueError, match="should be normalized"):
        emkit.GaussianMixture(3, weights_init=[0.2, 0.3, 0.3]).fit(X)
    with pytest.raises(ValueError, match="should have the shape"):
        emkit.GaussianMixture(3, means_init=means[:2]).fit(X)
    with pytest.raises(ValueError, match="positive-definite"):
        emkit.GaussianMixture(3, precisions_init=-precisions).fit(X)


# ----------------------------------------------------------------- errors


def test_bad_input_raises_scikit_learns_exceptions_with_the_cell(blobs):
    X, _ = blobs
    gm = emkit.GaussianMixture(2)
    with pytest.raises(NotFittedError):
        gm.predict(X)
    bad = X.copy()
    bad[17, 2] = np.nan
    with pytest.raises(ValueError, match=r"NaN at row 17, column 2"):
        gm.fit(bad)
    bad[17, 2] = -np.inf
    with pytest.raises(ValueError, match=r"infinity at row 17, column 2"):
        gm.fit(bad)
    with pytest.raises(ValueError, match="n_components"):
        emkit.GaussianMixture(400).fit(X)
    with pytest.raises(ValueError, match="covariance_type"):
        emkit.GaussianMixture(2, covariance_type="banana").fit(X)
    gm.fit(X)
    with pytest.raises(ValueError, match="X has 2 features, but GaussianMixture is expecting 3"):
        gm.predict(X[:, :2])
    bad[17, 2] = np.nan
    with pytest.raises(ValueError, match="NaN at row 17, column 2"):
        gm.score_samples(bad)


def test_data_frames_give_feature_names():
    pd = pytest.importorskip("pandas")
    names, X = read_csv("iris.csv")
    df = pd.DataFrame(X, columns=names)
    gm = emkit.GaussianMixture(3, random_state=0).fit(df)
    assert list(gm.feature_names_in_) == names
    np.testing.assert_array_equal(gm.predict(df), emkit.GaussianMixture(3, random_state=0).fit(X).predict(X))


# --------------------------------------------------------------- sample weights


@pytest.mark.parametrize("kind", ["full", "tied", "diag", "spherical"])
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_integer_sample_weights_equal_repeated_rows(kind):
    X = read_csv("iris.csv")[1]
    counts = np.arange(len(X)) * 7 % 4
    start = emkit.GaussianMixture(3, covariance_type=kind, max_iter=2, random_state=0).fit(X.repeat(counts, axis=0))
    inits = dict(
        weights_init=start.weights_,
        means_init=start.means_,
        precisions_init=start.precisions_,
    )
    fit = lambda: emkit.GaussianMixture(3, covariance_type=kind, tol=1e-10, max_iter=200, **inits)
    weighted = fit().fit(X, sample_weight=counts)
    repeated = fit().fit(X.repeat(counts, axis=0))
    # The same sums in other orders: ~1e-15 per sum, and EM contracts.
    assert weighted.n_iter_ == repeated.n_iter_
    for attr in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(weighted, attr), getattr(repeated, attr), rtol=1e-10, atol=1e-12)
    assert weighted.lower_bound_ == pytest.approx(repeated.lower_bound_, rel=1e-12)
    np.testing.assert_array_equal(weighted.predict(X), repeated.predict(X))


def test_sample_weights_are_checked_the_scikit_learn_way():
    X = read_csv("iris.csv")[1]
    gm = emkit.GaussianMixture(2)
    for bad, match in [
        (np.ones(len(X) + 1), "sample_weight.shape"),
        (-np.ones(len(X)), "[Nn]egative"),
        (np.zeros(len(X)), "zero"),
        (np.full(len(X), np.nan), "NaN"),
    ]:
        with pytest.raises(ValueError, match=match):
            gm.fit(X, sample_weight=bad)


def test_select_takes_sample_weights():
    X = read_csv("iris.csv")[1]
    counts = np.arange(len(X)) % 3
    a = emkit.select(X, range(2, 4), ("full",), sample_weight=counts, random_state=0)
    assert len(a.table) == 2 and a.best_ is not None
