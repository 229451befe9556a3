"""emkit on Spark against Spark ML's GaussianMixture, per iteration, on the
same DataFrame in the same run: n = 200 000 rows x 16 features of an
8-component mixture, k = 8, full covariances, local[2], two partitions.

Per-iteration time = (time of a 45-iteration fit - time of a 5-iteration
fit) / 40, with tol = 0 so that every fit runs all its iterations; that
removes what a fit pays once (jobs to read the data, the initialisation).
Each fit is timed REPEAT times and the median taken. emkit's fits also
report the wall time of their EM passes (summary.emSeconds), whose share per
pass is the per-iteration cost without the fixed costs, which the
two-point difference cannot separate from the noise of those fixed costs
(seconds) when the passes take milliseconds. The last column divides Spark
ML's two-point figure by emkit's per-pass figure. emkit runs in both of
its modes: "barrier" (one barrier job, statistics exchanged by allGather)
and "collect" (one job per iteration over cached blocks).

With "init" first, it compares the initialisations instead (same data):
the driver-side sample (initMode="sample") against k-means|| on the
cluster for initSteps 1, 2 and 5 (initMode="k-means||"), each in barrier
mode. For each: the initialisation's own seconds (summary.initSeconds:
for the sample, gathering it and the k-means on the driver; for k-means||,
its passes inside the barrier job), the wall time of a whole fit with
maxIter = 0 (the start and one E-step: what the initialisation costs a
fit, Spark jobs included), and the mean log-likelihood per row of the
start and of a fit run to tol = 1e-3 (maxIter 200), for seeds 1..SEEDS
(median of the times over REPEAT runs of each seed).

Usage: python bench/spark.py [init] [N] [REPEAT] [SEEDS]   (needs pyspark and Java 17)
"""
import os
import statistics
import sys
import time

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

import numpy as np  # noqa: E402
from pyspark.ml.clustering import GaussianMixture as SparkGM  # noqa: E402
from pyspark.ml.linalg import Vectors  # noqa: E402
from pyspark.sql import SparkSession  # noqa: E402

from emkit.spark import GaussianMixture as EmkitGM  # noqa: E402

args = sys.argv[1:]
init_only = bool(args) and args[0] == "init"
if init_only:
    args = args[1:]
n = int(args[0]) if len(args) > 0 else 200_000
repeat = int(args[1]) if len(args) > 1 else 3
seeds = int(args[2]) if len(args) > 2 else 3
d, k = 16, 8
rng = np.random.default_rng(0)
means = rng.normal(0, 3, (k, d))
x = means[rng.integers(0, k, n)] + rng.normal(0, 1, (n, d))

spark = (
    SparkSession.builder.master("local[2]")
    .config("spark.ui.enabled", "false")
    .config("spark.ui.showConsoleProgress", "false")
    .config("spark.driver.memory", "4g")
    .getOrCreate()
)
spark.sparkContext.setLogLevel("ERROR")
df = spark.createDataFrame([(Vectors.dense(r),) for r in x], ["features"]).repartition(2).cache()
df.count()


def timed(make):
    """Median wall time of a fit, and of its EM passes per iteration as the
    fit reports them (emkit only)."""
    times, inner = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        model = make().fit(df)
        times.append(time.perf_counter() - start)
        em = getattr(model.summary, "emSeconds", None)
        if em is not None:
            inner.append(em / (model.summary.numIter + 1))
    return statistics.median(times), (statistics.median(inner) if inner else float("nan"))


def per_iteration(make):
    (short, _), (long, inner) = timed(lambda: make(5)), timed(lambda: make(45))
    return (long - short) / 40, inner, short, long




def initialisations():
    """The init comparison (see the module's docstring)."""
    runs = [("sample", {"initMode": "sample"})] + [
        (f"k-means|| initSteps={s}", {"initMode": "k-means||", "initSteps": s}) for s in (1, 2, 5)
    ]
    print(f"n={n} d={d} k={k} local[2], barrier mode; seeds 1..{seeds}, "
          f"times: median of {repeat} runs per seed")
    print("| init | init s (median) | fit with maxIter=0, s (median) | start: mean log-lik "
          "(median over seeds) | fitted: mean log-lik per seed | iterations per seed |")
    print("|---|---|---|---|---|---|")
    for name, params in runs:
        init_s, wall, start_ll, fit_ll, iters = [], [], [], [], []
        for seed in range(1, seeds + 1):
            for _ in range(repeat):
                began = time.perf_counter()
                m = EmkitGM(k=k, seed=seed, maxIter=0, **params).fit(df)
                wall.append(time.perf_counter() - began)
                init_s.append(m.summary.initSeconds)
            start_ll.append(m.summary.logLikelihood / n)
            m = EmkitGM(k=k, seed=seed, maxIter=200, tol=1e-3, **params).fit(df)
            fit_ll.append(m.summary.logLikelihood / n)
            iters.append(m.summary.numIter)
        print(f"| {name} | {statistics.median(init_s):.3f} | {statistics.median(wall):.3f} | "
              f"{statistics.median(start_ll):.4f} | "
              f"{', '.join(f'{v:.4f}' for v in fit_ll)} | {', '.join(map(str, iters))} |")


if init_only:
    initialisations()
    spark.stop()
    sys.exit(0)

rows = {
    "Spark ML": per_iteration(lambda it: SparkGM(k=k, maxIter=it, tol=0.0, seed=1)),
    "emkit barrier": per_iteration(
        lambda it: EmkitGM(k=k, maxIter=it, tol=0.0, seed=1, mode="barrier")
    ),
    "emkit collect": per_iteration(
        lambda it: EmkitGM(k=k, maxIter=it, tol=0.0, seed=1, mode="collect")
    ),
}
spark_ml = rows["Spark ML"][0]
print(f"n={n} d={d} k={k} local[2], median of {repeat}")
print("| run | s per iteration (45 - 5) / 40 | s per pass inside the fit | 5 iterations | "
      "45 iterations | Spark ML / run |")
print("|---|---|---|---|---|---|")
for name, (per, inner, short, long) in rows.items():
    best = per if inner != inner else inner
    print(f"| {name} | {per:.4f} | {inner:.4f} | {short:.2f} s | {long:.2f} s | "
          f"{spark_ml / best:.1f}x |")
spark.stop()
