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

from conftest import HMM_ATTRS, regimes

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


# k-means‖ on the cluster (initMode="k-means||"). The blobs have fewer rows
# than SAMPLE_ROWS, where the default is the driver-side sample, so the
# tests ask for k-means‖ by name.


@pytest.fixture(scope="module")
def blobs(spark):
    """8 well-separated blobs in 5-D, 20 000 rows, in a fixed row order; the
    same rows as DataFrames of 1, 2 and 3 partitions (3 is more than
    local[2]'s task slots: the barrier mode joins them in order)."""
    from pyspark.ml.linalg import Vectors

    rng = np.random.default_rng(14)
    centres = rng.normal(0, 10, (8, 5))
    x = centres[rng.integers(0, 8, 20_000)] + rng.normal(0, 1, (20_000, 5))
    rows = [(Vectors.dense(r),) for r in x]
    sc = spark.sparkContext
    dfs = {p: sc.parallelize(rows, p).toDF(["features"]).cache() for p in (1, 2, 3)}
    for df in dfs.values():
        df.count()
    return dfs, x


def start_of(df, **params):
    """The start of a k-means‖ fit: with maxIter = 0 the fit returns it."""
    gm = GaussianMixture(**{"k": 8, "seed": 5, "maxIter": 0, "initMode": "k-means||", **params})
    return gm.fit(df).toEmkit()


def test_kmeans_parallel_is_deterministic_for_a_seed(blobs):
    dfs, _ = blobs
    a, b = start_of(dfs[2]), start_of(dfs[2])
    np.testing.assert_array_equal(a.means_, b.means_)
    np.testing.assert_array_equal(a.covariances_, b.covariances_)
    # Every draw is a function of the row's place in the DataFrame, not of
    # the partitions or the mode, so the candidates and the centres are the
    # same; the start's statistics are summed per partition (or task) and
    # merged, which rounds differently: a few ulps, far below 1e-12.
    for other in (start_of(dfs[1]), start_of(dfs[3]), start_of(dfs[2], mode="collect")):
        np.testing.assert_allclose(other.means_, a.means_, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(other.covariances_, a.covariances_, rtol=1e-12, atol=1e-12)
    # Another seed, another start.
    assert not np.allclose(start_of(dfs[2], seed=6).means_, a.means_)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kmeans_parallel_start_reaches_the_best_in_memory_fit(blobs, seed):
    dfs, x = blobs
    model = GaussianMixture(k=8, seed=seed, tol=1e-6, initMode="k-means||").fit(dfs[2])
    best = emkit.GaussianMixture(8, n_init=5, random_state=seed, tol=1e-6).fit(x)
    assert model.summary.converged
    # Both stop when the mean log-likelihood moves by less than 1e-6 a
    # step, near the same optimum: their means agree to ~1e-5. A start that
    # merged two blobs and split another ends in a local optimum lower by
    # about 0.1 per row (blobs 10 sigma apart), so 1e-4 tells them apart.
    mean = model.summary.logLikelihood / len(x)
    assert abs(mean - best.score(x)) < 1e-4, (mean, best.score(x))


def test_rows_of_weight_zero_are_never_centres(spark, blobs):
    from pyspark.ml.linalg import Vectors

    _, x = blobs
    # Every tenth row moved far away with weight 0: by distance alone
    # k-means‖ would draw each of them (probability min(1, l·d²/φ) = 1).
    w = np.ones(len(x))
    w[::10] = 0.0
    far = x.copy()
    far[::10] += 1e4
    rows = [(Vectors.dense(r), float(wi)) for r, wi in zip(far, w)]
    df = spark.sparkContext.parallelize(rows, 2).toDF(["features", "w"])
    for seed in range(3):
        start = start_of(df, seed=seed, weightCol="w")
        # A far row as a centre would own no weight, and the M-step keeps
        # the centre of an empty component: a mean ~1e4 away.
        assert np.abs(start.means_).max() < 100, start.means_
        fitted = GaussianMixture(k=8, seed=seed, weightCol="w", initMode="k-means||").fit(df)
        assert np.abs(fitted.toEmkit().means_).max() < 100


def test_kmeans_parallel_adds_no_spark_job(spark, blobs):
    dfs, _ = blobs
    sc = spark.sparkContext
    tracker = sc.statusTracker()

    def jobs(group, **params):
        sc.setJobGroup(group, group)
        try:
            GaussianMixture(k=8, seed=5, maxIter=2, **params).fit(dfs[2])
        finally:
            sc.setJobGroup("", "")
        return len(tracker.getJobIdsForGroup(group))

    # Barrier mode: the counts job and the barrier job; the sample mode
    # adds the job that gathers the sample.
    assert jobs("kmpar-barrier", initMode="k-means||") == 2
    assert jobs("sample-barrier", initMode="sample") == 3
    # Collect mode: k-means‖ is 2·initSteps + 3 jobs a restart instead of
    # the sample's one job (every restart's EM jobs are the same in both).
    for steps, n_init in ((2, 1), (1, 2)):
        sample = jobs(f"sample-collect-{n_init}", initMode="sample", mode="collect", nInit=n_init)
        got = jobs(f"kmpar-collect-{steps}-{n_init}", initMode="k-means||", mode="collect",
                   initSteps=steps, nInit=n_init)
        assert got == sample - 1 + (2 * steps + 3) * n_init


def test_row_draws_do_not_depend_on_the_partitions():
    from emkit.spark import _uniforms

    whole = _uniforms(123, 0, 1000)
    np.testing.assert_array_equal(np.concatenate([_uniforms(123, 0, 400), _uniforms(123, 400, 600)]),
                                  whole)
    assert whole.min() >= 0 and whole.max() < 1 and abs(whole.mean() - 0.5) < 0.05


def test_init_settings_are_checked(iris_df):
    df, _, _ = iris_df
    with pytest.raises(ValueError, match="initMode"):
        GaussianMixture(initMode="random").fit(df)
    with pytest.raises(ValueError, match="initSteps"):
        GaussianMixture(initSteps=0).fit(df)
    assert GaussianMixture().getInitSteps() == 5 and GaussianMixture().getInitMode() is None


# ------------------------------------------------------------------ HMMs

def hmm_sequences(seed, symbols=False):
    """conftest's regimes: 2-D Gaussian sequences, or 1-D float symbols."""
    seqs = regimes(seed, symbols=symbols)
    return [q.ravel().astype(float) for q in seqs] if symbols else seqs


def sequence_df(spark, seqs, vectors=False):
    """One row per sequence in column ``sequence`` (array<double> of symbols,
    array<array<double>>, or with `vectors` an array of DenseVectors), in
    three partitions; and the sequences in the DataFrame's own order, which
    the fit reads."""
    from pyspark.ml.linalg import Vectors

    def cell(s):
        if s.ndim == 1:
            return s.tolist()
        return [Vectors.dense(r) for r in s] if vectors else s.tolist()

    rows = [(i, cell(s)) for i, s in enumerate(seqs)]
    df = spark.createDataFrame(rows, ["id", "sequence"]).repartition(3).cache()
    order = [r["id"] for r in df.collect()]
    return df, [seqs[i] for i in order]


def max_hmm_difference(a, b):
    """The largest relative difference (|x| >= 1) of the fitted parameters
    and the log-likelihood history."""
    worst = 0.0
    for attr in HMM_ATTRS:
        if hasattr(b, attr):
            pa, pb = np.asarray(getattr(a, attr)), np.asarray(getattr(b, attr))
            worst = max(worst, float(np.max(np.abs(pa - pb) / np.maximum(np.abs(pb), 1.0))))
    ha, hb = np.array(a.monitor_.history), np.array(b.monitor_.history)
    return max(worst, float(np.max(np.abs(ha - hb) / np.abs(hb))))


@pytest.mark.parametrize(
    "case", ["gaussian-diag", "gaussian-full", "gaussian-full-vectors", "categorical"]
)
def test_a_spark_hmm_fit_is_the_fit_in_memory(spark, case):
    from emkit.hmm import CategoricalHMM, GaussianHMM
    from emkit.spark import fit_hmm

    if case == "categorical":
        cls, extra, seqs = CategoricalHMM, {}, hmm_sequences(1, symbols=True)
    else:
        kind = case.split("-")[1]
        cls, extra, seqs = GaussianHMM, dict(covariance_type=kind), hmm_sequences(1)
    df, seqs = sequence_df(spark, seqs, vectors=case.endswith("vectors"))
    settings = dict(n_components=3, random_state=7, n_iter=20, tol=1e-6, **extra)
    x = np.concatenate(seqs)
    if x.ndim == 1:
        x = x[:, None].astype(int)
    # 500 observations, fewer than the sample limit: the Spark fit starts
    # from the in-memory initialisation on all sequences, in the same order.
    local = cls(**settings).fit(x, [len(s) for s in seqs])
    spread = fit_hmm(cls(**settings), df)
    assert spread is not None and spread.n_features == local.n_features
    worst = max_hmm_difference(spread, local)
    print(case, "max relative difference", worst)
    # Each partition's E-step sums are merged pairwise, in partition order,
    # where the in-memory fit sums all sequences in one pass: each sum is
    # rounded differently by a few ulps (~1e-16), grown by the M-steps'
    # normalisations and factorisations over at most 20 iterations, which
    # stays far below 1e-10.
    assert worst < 1e-10
    for attr in HMM_ATTRS:
        if hasattr(local, attr):
            np.testing.assert_allclose(
                getattr(spread, attr), getattr(local, attr), rtol=1e-10, atol=1e-10, err_msg=attr
            )
    assert spread.monitor_.iter == local.monitor_.iter
    assert spread.stop_reason_ == local.stop_reason_
    assert spread.reseeded_ == local.reseeded_
    assert spread.score(x, [len(s) for s in seqs]) == pytest.approx(
        local.score(x, [len(s) for s in seqs]), rel=1e-10
    )


def test_bad_hmm_sequences_are_refused(spark):
    from emkit.hmm import CategoricalHMM, GaussianHMM
    from emkit.spark import fit_hmm

    seqs = hmm_sequences(4)
    seqs[3] = seqs[3].copy()
    seqs[3][5, 1] = np.nan
    df, _ = sequence_df(spark, seqs)
    with pytest.raises(ValueError, match="NaN|infinity|finite"):
        fit_hmm(GaussianHMM(n_components=2), df)
    with pytest.raises(ValueError, match="no column"):
        fit_hmm(GaussianHMM(n_components=2), df, sequenceCol="seq")
    symbols = hmm_sequences(4, symbols=True)
    symbols[2] = symbols[2] - 1  # a -1 among them
    df, _ = sequence_df(spark, symbols)
    with pytest.raises(ValueError, match="nonnegative"):
        fit_hmm(CategoricalHMM(n_components=2), df)


def test_a_sampled_hmm_start_is_reproducible(spark, monkeypatch):
    from emkit import _dask_hmm
    from emkit.hmm import GaussianHMM
    from emkit.spark import fit_hmm

    # A start from a seeded sample of whole sequences (about 200 of the 500
    # observations): the same for the same seed.
    monkeypatch.setattr(_dask_hmm, "SAMPLE_ROWS", 200)
    df, _ = sequence_df(spark, hmm_sequences(2))
    a = fit_hmm(GaussianHMM(n_components=3, random_state=3, n_iter=5), df)
    b = fit_hmm(GaussianHMM(n_components=3, random_state=3, n_iter=5), df)
    assert max_hmm_difference(a, b) == 0
    assert np.all(np.isfinite(a.means_))
