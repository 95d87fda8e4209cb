"""Speed of the image-fidelity metrics (FID, KID, IS) through torch-fidelity: images/s, s/metric.

A benchmark script, not a test. "Generated" is MNIST train[:N], "real" MNIST test[:N] (28×28
grey, gensuite's loader; repeated to RGB for the Inception networks). It times feature
extraction (images/s) and each statistic on those features, then one end-to-end
``fidelity_metrics`` call as the harness makes it (one extraction shared by all metrics).

    python bench/fidelity_speed.py --n 1000 --threads 2
    python bench/fidelity_speed.py --extractor domain --device cuda
"""

from __future__ import annotations

import argparse
import time
from typing import Any


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10_000, help="images per side (≤ 10000)")
    p.add_argument(
        "--extractor",
        default="fid-helper",
        help="fid-helper | torch-fidelity | auto (the Inception resolution), domain (gensuite's "
        "MNIST classifier, from the user cache or trained there), or a registered name",
    )
    p.add_argument("--domain-arch", default="cnn", help="with --extractor domain")
    p.add_argument("--domain-seed", type=int, default=0, help="with --extractor domain")
    p.add_argument("--weights-path", default=None, help="torch-fidelity's Inception weights file")
    p.add_argument("--device", default="cpu", help="cpu | cuda[:N]")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--kid-subset-size", type=int, default=1000, help="capped at --n")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--data-root", default=None, help="explicit data root (else the usual search)")
    p.add_argument("--no-end-to-end", action="store_true", help="skip the fidelity_metrics call")
    p.add_argument(
        "--compare-inception",
        action="store_true",
        help="also FID through both Inception networks (needs torch-fidelity's weights file)",
    )
    return p.parse_args(argv)


def load_mnist(args: argparse.Namespace) -> tuple[Any, Any]:
    """MNIST train[:n] and test[:n] through gensuite's loader (uint8, 1x28x28)."""
    import gensuite.data  # noqa: F401 (registers the datasets)
    from gensuite.data.root import DataRoot
    from gensuite.plugins import datasets

    data = datasets().get("mnist")(DataRoot(args.data_root))
    return data.train_images[: args.n], data.test_images[: args.n]


def resolve(args: argparse.Namespace) -> dict[str, Any]:
    """Extractor name, layers and description: the Inception resolution, or a registered name."""
    from gensuite.metrics.inception import inception_extractor

    if args.extractor in ("auto", "torch-fidelity", "fid-helper"):
        spec = inception_extractor(prefer=args.extractor, weights_path=args.weights_path)
        return {**spec.metric_kwargs(), "description": spec.description}
    if args.extractor == "domain":  # gensuite's MNIST evaluation classifier (cache miss: trains)
        from gensuite.evaluators.classifier import default_cache_dir, load_or_train
        from gensuite.metrics.classifier import register_classifier_extractor

        clf = load_or_train(
            "mnist",
            args.domain_arch,
            args.domain_seed,
            cache_dir=default_cache_dir(),
            data_root=args.data_root,
        )
        spec = register_classifier_extractor(clf)
        return {**spec.metric_kwargs(), "description": spec.description}
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

    cls = FEATURE_EXTRACTORS_REGISTRY.get(args.extractor)
    if cls is None:
        raise SystemExit(f"unknown extractor {args.extractor!r}")
    isc = getattr(cls, "supports_isc", True) is not False
    return {
        "extractor": args.extractor,
        "feature_layer_fid": cls.get_default_feature_layer_for_metric("fid"),
        "feature_layer_isc": cls.get_default_feature_layer_for_metric("isc") if isc else None,
        "weights_path": args.weights_path,
        "description": cls.__name__,
    }


def timed(fn, *a, **kw) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn(*a, **kw)
    return out, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import torch

    from gensuite.metrics.fidelity import (
        compare_inception_fid,
        extract_features,
        fid_from_features,
        fidelity_metrics,
        isc_from_logits,
        kid_from_features,
    )

    torch.set_num_threads(args.threads)
    gen, real = load_mnist(args)
    ex = resolve(args)
    n = min(len(gen), len(real))
    kid_size = min(args.kid_subset_size, n)
    isc = ex["feature_layer_isc"] is not None
    print(f"extractor {ex['extractor']}: {ex['description']}")
    print(
        f"images: MNIST train[:{n}] vs test[:{n}], 28x28 grey; device {args.device}, "
        f"batch {args.batch_size}, threads {args.threads}, KID subsets 100 x {kid_size}"
    )

    layers_gen = [ex["feature_layer_fid"]] + ([ex["feature_layer_isc"]] if isc else [])
    common = dict(
        extractor=ex["extractor"],
        device=args.device,
        batch_size=args.batch_size,
        weights_path=ex["weights_path"],
    )
    f_gen, t_gen = timed(extract_features, gen, layers=layers_gen, **common)
    f_real, t_real = timed(extract_features, real, layers=[ex["feature_layer_fid"]], **common)
    t_feat = t_gen + t_real
    print(f"\nfeature extraction: {2 * n} images in {t_feat:.1f} s = {2 * n / t_feat:.1f} images/s")

    a, b = f_gen[ex["feature_layer_fid"]], f_real[ex["feature_layer_fid"]]
    fid, t_fid = timed(fid_from_features, a, b)
    kid, t_kid = timed(kid_from_features, a, b, subset_size=kid_size)
    rows = [
        ("FID", t_feat, t_fid, f"{fid:.4f}"),
        ("KID", t_feat, t_kid, f"{kid['kernel_inception_distance_mean']:.5f}"),
    ]
    if isc:
        is_, t_is = timed(isc_from_logits, f_gen[ex["feature_layer_isc"]])
        rows.append(("IS", t_gen, t_is, f"{is_['inception_score_mean']:.3f}"))
    print(f"{'metric':<7}{'features s':>12}{'statistic s':>13}{'total s':>10}{'value':>12}")
    for name, tf, ts, value in rows:
        print(f"{name:<7}{tf:>12.2f}{ts:>13.3f}{tf + ts:>10.2f}{value:>12}")

    if not args.no_end_to_end:
        res, t_all = timed(
            fidelity_metrics,
            gen,
            real,
            feature_layer_fid=ex["feature_layer_fid"],
            feature_layer_isc=ex["feature_layer_isc"],
            isc=isc,
            fid=True,
            kid=True,
            kid_subset_size=kid_size,
            **common,
        )
        names = "+".join(m for m, on in (("FID", True), ("KID", True), ("IS", isc)) if on)
        print(
            f"\nend to end fidelity_metrics ({names}, one shared extraction): {t_all:.1f} s = "
            f"{2 * n / t_all:.1f} images/s; {res.metrics}"
        )

    if args.compare_inception:
        from gensuite.errors import MissingDataError

        try:
            print(
                "\nInception comparison:",
                compare_inception_fid(
                    gen,
                    real,
                    weights_path=args.weights_path,
                    device=args.device,
                    batch_size=args.batch_size,
                ),
            )
        except MissingDataError as exc:
            print(f"\nInception comparison skipped: {exc}")


if __name__ == "__main__":
    main()
