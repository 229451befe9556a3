"""Fits on Dask collections, on a LocalCluster of two worker processes: the
distributed fit is the in-memory fit (1e-10 relative, bit for bit with one
partition), with weights, DataFrames, restarts and given starts; scoring a
dask array gives dask arrays of the in-memory scores."""

import os

import numpy as np
import pytest

import dask
import dask.array as da
import dask.dataframe as dd
import pandas as pd
from distributed import Client, LocalCluster

import emkit
from emkit import _dask

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "data")
KINDS = ["full", "tied", "diag", "spherical"]


@pytest.fixture(scope="module")
def client():
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture(scope="module")
def iris():
    return np.loadtxt(os.path.join(DATA, "iris.csv"), delimiter=",", skiprows=1)


def assert_same_fit(a, b, rtol):
    """The fitted parameters and bound of two estimators agree to rtol.
    Merging sums in another order rounds each of their terms differently:
    a few ulps (1e-16) per sum, grown by the M-steps' divisions and
    factorisations over a few dozen iterations, stays far below 1e-10."""
    for attr in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_allclose(getattr(a, attr), getattr(b, attr), rtol=rtol, atol=rtol)
    np.testing.assert_allclose(a.lower_bound_, b.lower_bound_, rtol=rtol)
    assert a.n_iter_ == b.n_iter_
    assert a.converged_ == b.converged_


@pytest.mark.parametrize("kind", KINDS)
def test_a_distributed_fit_is_the_fit_in_memory(client, iris, kind):
    settings = dict(n_components=3, covariance_type=kind, random_state=5, tol=1e-6)
    local = emkit.GaussianMixture(**settings).fit(iris)
    # Four partitions of unequal sizes.
    X = da.from_array(iris, chunks=((37, 50, 13, 50), (4,)))
    spread = emkit.GaussianMixture(**settings).fit(X)
    assert_same_fit(spread, local, 1e-10)
    # Restarts start as in memory and the best is kept. Two restarts may
    # reach one optimum with the components in another order, and their
    # bounds then differ by rounding only: the pick may differ, the best
    # bound may not.
    best = emkit.GaussianMixture(n_init=4, **settings).fit(iris)
    spread = emkit.GaussianMixture(n_init=4, **settings).fit(X)
    np.testing.assert_allclose(spread.lower_bound_, best.lower_bound_, rtol=1e-10)
    # One partition: the fit's own blocks and merge order, bit for bit.
    one = emkit.GaussianMixture(**settings).fit(da.from_array(iris, chunks=(150, 4)))
    for attr in ("weights_", "means_", "covariances_"):
        np.testing.assert_array_equal(getattr(one, attr), getattr(local, attr))
    assert one.lower_bounds_ == local.lower_bounds_


def test_weights_and_dataframes(client, iris):
    rng = np.random.default_rng(3)
    w = rng.integers(0, 4, len(iris)).astype(float)
    settings = dict(n_components=2, covariance_type="diag", random_state=1)
    local = emkit.GaussianMixture(**settings).fit(iris, sample_weight=w)
    X = da.from_array(iris, chunks=(40, 4))
    spread = emkit.GaussianMixture(**settings).fit(X, sample_weight=da.from_array(w, chunks=60))
    assert_same_fit(spread, local, 1e-10)
    # A DataFrame: its numeric columns (the text column is left out).
    frame = pd.DataFrame(iris, columns=list("abcd"))
    frame["label"] = ["x"] * len(iris)
    ddf = dd.from_pandas(frame, npartitions=3)
    local = emkit.GaussianMixture(n_components=3, random_state=2).fit(iris)
    spread = emkit.GaussianMixture(n_components=3, random_state=2).fit(ddf)
    assert_same_fit(spread, local, 1e-10)


def test_a_sampled_start_and_a_given_start(client, monkeypatch):
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [3.0, 1.0], [0.0, 4.0]])
    x = centres[rng.integers(0, 3, 6000)] + rng.standard_normal((6000, 2))
    X = da.from_array(x, chunks=1000)
    # Starts read a sample of 500 rows (of 6000): reproducible from the seed.
    monkeypatch.setattr(_dask, "SAMPLE_ROWS", 500)
    a = emkit.GaussianMixture(n_components=3, random_state=4).fit(X)
    b = emkit.GaussianMixture(n_components=3, random_state=4).fit(X)
    np.testing.assert_array_equal(a.means_, b.means_)
    assert a.converged_
    # From given parameters the sample plays no part: the in-memory fit.
    given = dict(
        n_components=3,
        means_init=centres + 0.5,
        weights_init=[0.2, 0.3, 0.5],
        precisions_init=np.stack([np.eye(2)] * 3),
        tol=1e-8,
        max_iter=500,
    )
    local = emkit.GaussianMixture(**given).fit(x)
    spread = emkit.GaussianMixture(**given).fit(X)
    assert_same_fit(spread, local, 1e-10)
    # A warm start continues from the fitted model, as in memory.
    local.set_params(warm_start=True, max_iter=3).fit(x)
    spread.set_params(warm_start=True, max_iter=3).fit(X)
    assert_same_fit(spread, local, 1e-10)


def test_scores_of_a_dask_array_are_dask_arrays(client, iris):
    gm = emkit.GaussianMixture(n_components=3, random_state=0).fit(iris)
    X = da.from_array(iris, chunks=(50, 4))
    for method in ("predict", "score_samples", "predict_proba"):
        out = getattr(gm, method)(X)
        assert isinstance(out, da.Array), method
        np.testing.assert_array_equal(out.compute(), getattr(gm, method)(iris))
    assert gm.score(X) == pytest.approx(gm.score(iris), rel=1e-15)
    labels = emkit.GaussianMixture(n_components=3, random_state=0).fit_predict(X)
    np.testing.assert_array_equal(labels.compute(), gm.predict(iris))


def test_bad_partitions_are_named(client, iris):
    bad = iris.copy()
    bad[117, 2] = np.nan
    X = da.from_array(bad, chunks=(50, 4))
    with pytest.raises(ValueError, match="row 117, column 2"):
        emkit.GaussianMixture(n_components=2, means_init=iris[:2]).fit(X)
    with pytest.raises(ValueError, match="features"):
        emkit.GaussianMixture(n_components=2).fit(iris).predict(X[:, :3])


def test_statistics_pickle_and_merge_like_the_library():
    import pickle

    x = np.random.default_rng(1).standard_normal((500, 3))
    gm = emkit.GaussianMixture(n_components=2, random_state=0).fit(x)
    model = gm._model()
    whole = model.expectation(x)
    a = model.expectation(x[:200])
    b = pickle.loads(pickle.dumps(model.expectation(x[200:], None, 200)))
    merged = a.merged(b)
    assert merged.total_weight == 500.0
    assert merged.log_likelihood == pytest.approx(whole.log_likelihood, rel=1e-12)
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(clone.score_samples(x), model.score_samples(x))
    other = emkit.GaussianMixture(n_components=2, random_state=9).fit(x[:100])._model()
    with pytest.raises(ValueError, match="different models"):
        a.merged(other.expectation(x))
    assert dask.is_dask_collection(da.from_array(x))
