"""The final evaluation of a trained VAE (``VAE.test``): validation and test ELBO, the
importance-sampled log-likelihood (Burda et al. 2016) with its bound check, KL, reconstruction
error, active units, and IS/FID of samples under the data's evaluation classifier.

Every number is in nats per image, mean ± 95% CI over images, on fixed random streams
(``vae_config.SEED_STREAMS``), so the same weights always give the same numbers.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from torch import Tensor

from gensuite.api import Estimate, EvalResult
from gensuite.errors import GensuiteError
from gensuite.metrics.accuracy import mean_ci

if TYPE_CHECKING:
    from gensuite.algorithms.vae import VAE

_ACTIVE_UNIT_VAR = 0.01  # Burda et al. 2016, Sec. 5.2: Cov_x(E_q[z_u]) > 0.01 is "active"


def _estimate(values: Tensor, unit: str = "nats") -> Estimate:
    mean, half, n = mean_ci(values.double().tolist())
    return Estimate(mean=mean, ci95=half, n=n, unit=unit, over="images")


def evaluate(vae: VAE) -> EvalResult:
    """Every test metric of ``vae`` and the details its figures and evaluation record show."""
    c = vae.config
    out: dict[str, Estimate] = {}
    if len(vae.val_images):
        val = vae.elbo_per_image(vae.val_images, vae.streams.seed_of("val"))
        out["val_elbo"] = _estimate(val["elbo"])
    test_seed = vae.streams.seed_of("test")
    r = vae.elbo_per_image(vae.test_images, test_seed)
    t0 = time.perf_counter()
    ll = vae.log_likelihood_per_image(vae.test_images, c.iw_samples, test_seed)
    iw_seconds = time.perf_counter() - t0
    gap = ll - r["elbo"]
    gap_est = _estimate(gap)
    # E[L_K] ≥ ELBO for every K (Burda et al., Theorem 1); with finite samples the paired
    # difference may dip below 0 by Monte-Carlo noise only: holds if 0 is within its CI.
    holds = gap_est.mean + (0.0 if math.isnan(gap_est.ci95) else gap_est.ci95) >= 0
    active = int((r["mu"].var(dim=0) > _ACTIVE_UNIT_VAR).sum()) if len(r["mu"]) > 1 else 0
    out.update({
        "elbo": _estimate(r["elbo"]),
        "log_likelihood": _estimate(ll),
        "bound_gap": gap_est,
        "bound_holds": Estimate(mean=float(holds), n=len(gap), unit="", over="images"),
        "kl": _estimate(r["kl"]),
        "mse": _estimate(r["sq_err"] / vae.d_x, unit=""),
        "active_units": Estimate(mean=float(active), n=len(r["mu"]), over="images"),
    })
    details: dict[str, Any] = {
        "iw_samples": c.iw_samples, "iw_seconds": round(iw_seconds, 2),
        "test_images": len(vae.test_images), "binary_data": vae.binary,
        "likelihood": c.likelihood,
        "decoder_variance_s2": vae.s2 if c.likelihood == "gaussian" else None,
        "bound_holds": bool(holds),
    }
    if c.fid_samples:
        fidelity_result = fidelity(vae)
        if fidelity_result is not None:
            metrics, details["fidelity"] = fidelity_result
            out.update(metrics)
    return EvalResult(metrics=out, details=details)


def fidelity(vae: VAE) -> tuple[dict[str, Estimate], dict[str, Any]] | None:
    """IS and FID of ``fid_samples`` samples against the test (or training) images, under the
    evaluation classifier the data's registration declares; None when it declares none."""
    from gensuite.evaluators.classifier import evaluation_spec, for_dataset
    from gensuite.metrics.classifier import class_histogram, register_classifier_extractor
    from gensuite.metrics.fidelity import fidelity_intervals, fidelity_metrics

    c = vae.config
    try:
        evaluation_spec(vae.data.info.name)
    except GensuiteError:  # data without an evaluation classifier: no IS/FID
        return None
    clf = for_dataset(vae.data.info.name, image_size=vae.image_shape[-1], device=vae.ctx.device,
                      data_root=vae.ctx.data_root, train_limit=c.classifier_train_limit,
                      epochs=c.classifier_epochs)
    extractor = register_classifier_extractor(clf)
    fake = vae.sample(c.fid_samples, vae.streams.generator("samples", device=vae.device))
    real = (vae.test_images if c.fid_reference == "test" else vae.train_images).cpu()
    res = fidelity_metrics(fake, real, extractor=extractor.name,
                           feature_layer_fid=extractor.feature_layer_fid,
                           feature_layer_isc=extractor.feature_layer_isc, isc=True, fid=True,
                           kid=False, device=vae.ctx.device)
    details = {
        "classifier": clf.description,
        "reference": f"{len(real)} {c.fid_reference} images",
        # Which class the classifier gives each sample (course report C-2 does this for its
        # GAN): the balance of digits (or faces) the model generates.
        "class_histogram": dict(zip(clf.classes, class_histogram(clf, fake))),
        **res.as_record()}
    half = fidelity_intervals(fake, real, extractor=extractor.name,
                              layer=res.feature_layer_fid, kid=False, resamples=c.bootstrap,
                              device=vae.ctx.device)
    metrics = {
        "is": res.is_estimate(),
        "fid": Estimate(mean=res["frechet_inception_distance"], ci95=half["fid"], n=len(fake),
                        over="images"),
    }
    return metrics, details
