"""Pure metric functions: numbers in, numbers out; no I/O, no logging.

Names are imported lazily (PEP 562) so that a plug-in importing one metric module does not pay
for scikit-image or torch-fidelity. No submodule is named like a function it exports: once a
submodule is imported, Python binds its name on the package, so ``gensuite.metrics.ssim`` would
then be the module, not the function (hence ``similarity.py`` for ``ssim``, ``language.py`` for
``perplexity``).
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "accuracy": ("accuracy_estimate", "mean_ci"),
    "knn": ("knn_accuracy", "knn_predict"),
    "likelihood": (
        "bernoulli_log_likelihood", "elbo", "gaussian_kl_standard_normal",
        "gaussian_log_likelihood", "importance_sampled_log_likelihood", "standard_normal_log_prob",
    ),
    "language": (
        "PerplexityAccumulator", "bits_per_character", "bpc_from_nll", "perplexity",
        "perplexity_from_nll",
    ),
    "similarity": (
        "SSIM_WANG2004", "psnr", "psnr_estimate", "psnr_pairs", "ssim", "ssim_estimate",
        "ssim_pairs",
    ),
    "fidelity": (
        "FidelityResult", "fidelity_metrics", "fid_from_features", "kid_from_features",
        "isc_from_logits",
    ),
    "inception": ("ExtractorSpec", "inception_extractor"),
    "classifier": (
        "ClassifierExtractorSpec", "class_conditional_accuracy", "class_histogram", "predict",
        "register_classifier_extractor",
    ),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'gensuite.metrics' has no attribute {name!r}")
    return getattr(importlib.import_module(f"gensuite.metrics.{module}"), name)
