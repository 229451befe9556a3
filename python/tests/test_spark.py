"""emkit.spark.GaussianMixture on a local[2] Spark session: both execution
modes give the in-memory fit of the DataFrame's rows (1e-10), with weights,
every covariance type and array columns; transform, summary, gaussiansDF and
save/load behave as Spark ML's model does."""

import os
import shutil
import sys

import numpy as np
import pytest

import emkit
from emkit.spark import GaussianMixture, GaussianMixtureModel

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "data")
MODES = ["barrier", "collect"]


@pytest.fixture(scope="module")
def spark():
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.fail(
            "Java is missing: Spark needs a Java 17 runtime on PATH or in JAVA_HOME "
            "(Debian: apt-get install openjdk-17-jre-headless)"
        )
    # The executors' Python is this one, which has emkit installed.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def iris_df(spark):
    from pyspark.ml.linalg import Vectors

    x = np.loadtxt(os.path.join(DATA, "iris.csv"), delimiter=",", skiprows=1)
    w = (np.arange(len(x)) * 7 % 4).astype(float)
    rows = [(Vectors.dense(r), float(wi), r.tolist()) for r, wi in zip(x, w)]
    # Three partitions: more than local[2]'s two task slots.
    df = spark.createDataFrame(rows, ["features", "w", "values"]).repartition(3).cache()
    # The rows in the DataFrame's own order, which the fit reads.
    got = df.collect()
    return df, np.array([r["values"] for r in got]), np.array([r["w"] for r in got])


def same(a, b):
    """Sums merged in another order (per partition, then pairwise) round
    each term differently: a few ulps, grown by ~25 M-steps, far below 1e-10."""
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    "mode, kind",
    # Every covariance type in the default mode; the collect mode shares the
    # EM loop and merge, so one type checks its exchange.
    [("barrier", k) for k in ("full", "tied", "diag", "spherical")] + [("collect", "tied")],
)
def test_a_spark_fit_is_the_fit_in_memory(iris_df, mode, kind):
    df, x, _ = iris_df
    gm = GaussianMixture(k=3, seed=0, tol=1e-6, covarianceType=kind, mode=mode)
    model = gm.fit(df)
    local = emkit.GaussianMixture(3, covariance_type=kind, random_state=0, tol=1e-6).fit(x)
    same(model.weights, local.weights_)
    loaded = model.toEmkit()
    same(loaded.means_, local.means_)
    same(loaded.covariances_, local.covariances_)
    s = model.summary
    assert s.numIter == local.n_iter_ and s.converged == local.converged_ and s.k == 3
    same(s.logLikelihood, local.score(x) * len(x))


@pytest.mark.parametrize("mode", MODES)
def test_weights_restarts_and_array_columns(iris_df, mode):
    df, x, w = iris_df
    # Spark ML's default tol is 0.01, scikit-learn's 1e-3: the same tol here.
    model = GaussianMixture(k=2, seed=3, weightCol="w", covarianceType="diag", mode=mode).fit(df)
    local = emkit.GaussianMixture(2, covariance_type="diag", random_state=3, tol=0.01)
    local.fit(x, sample_weight=w)
    same(model.weights, local.weights_)
    same(model.toEmkit().means_, local.means_)
    # Restarts start as in memory; two may reach one optimum with the
    # components in another order, whose bounds differ by rounding only: the
    # pick may differ, the best log-likelihood may not.
    model = GaussianMixture(k=3, seed=3, nInit=4, tol=1e-6, mode=mode).fit(df)
    local = emkit.GaussianMixture(3, n_init=4, random_state=3, tol=1e-6).fit(x)
    same(model.summary.logLikelihood, local.score(x) * len(x))
    arrays = GaussianMixture(k=2, seed=3, featuresCol="values", mode=mode).fit(df)
    local = emkit.GaussianMixture(2, random_state=3, tol=0.01).fit(x)
    same(arrays.toEmkit().means_, local.means_)


def test_transform_gaussians_and_files(iris_df, tmp_path):
    df, x, _ = iris_df
    gm = GaussianMixture(k=3, seed=0).setPredictionCol("label").setProbabilityCol("p")
    assert gm.getK() == 3 and gm.getPredictionCol() == "label"
    model = gm.fit(df)
    local = model.toEmkit()
    out = model.transform(df).collect()
    labels = np.array([r["label"] for r in out])
    proba = np.array([r["p"].toArray() for r in out])
    np.testing.assert_array_equal(labels, local.predict(x))
    np.testing.assert_array_equal(proba, local.predict_proba(x))
    assert model.predict(df.first()["features"]) == local.predict(x[:1])[0]
    g = model.gaussiansDF.collect()
    assert len(g) == 3
    np.testing.assert_array_equal(g[1]["mean"].toArray(), local.means_[1])
    np.testing.assert_array_equal(g[1]["cov"].toArray(), local.covariances_[1])
    path = str(tmp_path / "m.json")
    model.save(path)
    back = GaussianMixtureModel.load(path)
    np.testing.assert_array_equal(back.weights, model.weights)
    again = np.array([r["prediction"] for r in back.transform(df).collect()])
    np.testing.assert_array_equal(again, labels)
    # The file is the CLI's and the Python package's model file.
    np.testing.assert_array_equal(emkit.load(path).score_samples(x), local.score_samples(x))


def test_bad_settings_are_refused(iris_df):
    df, _, _ = iris_df
    with pytest.raises(ValueError, match="no column 'nope'"):
        GaussianMixture(featuresCol="nope").fit(df)
    with pytest.raises(ValueError, match="covarianceType"):
        GaussianMixture(covarianceType="banana").fit(df)
    with pytest.raises(ValueError, match="n_samples"):
        GaussianMixture(k=500).fit(df)
    with pytest.raises(TypeError, match="no parameter"):
        GaussianMixture(kk=2)
