"""emkit: Gaussian mixtures and hidden Markov models fitted by EM.

``emkit.GaussianMixture`` is a drop-in replacement for scikit-learn's
``sklearn.mixture.GaussianMixture``::

    from emkit import GaussianMixture   # was: from sklearn.mixture import GaussianMixture

Models are saved in the command-line program's JSON format (``save``,
``emkit.load``); pickle goes through the same text.
"""

import json
import os

from . import _emkit, hmm
from ._emkit import get_num_threads, set_num_threads
from ._apps import Selection, segment, select
from .mixture import GaussianMixture

__version__ = _emkit.version()

__all__ = [
    "GaussianMixture",
    "Selection",
    "hmm",
    "segment",
    "select",
    "load",
    "loads",
    "set_num_threads",
    "get_num_threads",
]


def loads(text):
    """A fitted model from a model file's text (any emkit model file)."""
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise ValueError(f"not an emkit model file: not valid JSON ({e})") from None
    kind = doc.get("format") if isinstance(doc, dict) else None
    if kind == "emkit.gaussian_mixture":
        return GaussianMixture.from_json(text)
    if kind == "emkit.hmm":
        model, _, fit = _emkit.Hmm.from_json(text)
        fit = json.loads(fit) if fit else {}
        classes = {"gaussian": hmm.GaussianHMM, "categorical": hmm.CategoricalHMM, "gmm": hmm.GMMHMM}
        return classes[model.emission]._from_model(model, fit)
    raise ValueError(
        f"not an emkit model file this version reads: format {kind!r}; "
        "expected 'emkit.gaussian_mixture' or 'emkit.hmm'"
    )


def load(path):
    """A fitted model from an emkit model file (written by ``save`` or by
    ``emkit fit -o`` / ``emkit hmm fit -o``)."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not an emkit model file (not UTF-8 text)") from None
    try:
        return loads(text)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
