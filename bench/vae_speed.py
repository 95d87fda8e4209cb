"""Speed of the VAE plug-in (Kingma & Welling 2014) on binarized MNIST, and the projected wall
time of a suite profile (default: ``vae-binarized-mnist`` at ``paper``).

A benchmark script, not a test. For each distinct trained model of the suite (cases that differ
only in their metric or eval-only parameters share one) it times ``--steps`` training steps and
the importance-sampled log-likelihood (Burda et al. 2016) at the profile's K on ``--slice`` test
images, then extrapolates to the profile's schedule and the full test set. Validation ELBO and
IS/FID are timed on the real sizes (they are cheap). Prints a table and the projected total.

    python bench/vae_speed.py --threads 2                      # paper profile
    python bench/vae_speed.py --profile quick --slice 100
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import time


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--suite", default="vae-binarized-mnist")
    p.add_argument("--profile", default="paper", choices=["smoke", "quick", "paper"])
    p.add_argument("--steps", type=int, default=200, help="timed training steps per model")
    p.add_argument("--warmup", type=int, default=10, help="untimed training steps first")
    p.add_argument("--slice", type=int, default=20, help="test images for the timed IS estimate")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-fid", action="store_true", help="skip timing IS/FID of samples")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import torch

    from gensuite.algorithms import vae_evaluation
    from gensuite.api import RunContext, eval_only_fields
    from gensuite.config import load_suite
    from gensuite.data.root import DataRoot
    from gensuite.plugins import algorithms, datasets

    torch.set_num_threads(args.threads)
    spec = load_suite(args.suite)
    profile = spec.profiles[args.profile]
    algo_cls = algorithms().get(spec.algorithm)
    eval_keys = eval_only_fields(algo_cls.Config)
    models: dict[str, tuple[str, object]] = {}
    for case in spec.cases:
        config = algo_cls.Config(**spec.resolve_params(case, args.profile))
        train_part = {k: v for k, v in dataclasses.asdict(config).items() if k not in eval_keys}
        models.setdefault(repr(sorted(train_part.items())), (case.id, config))
    ds_name, ds_options = spec.dataset_for(spec.cases[0], args.profile)
    data = datasets().get(ds_name)(DataRoot(), **ds_options)
    print(f"load average {os.getloadavg()[0]:.2f} (other processes slow every figure down)")
    print(f"{spec.name} / {args.profile}: {len(spec.cases)} cases, {len(models)} trained models, "
          f"{profile.schedule.steps} steps each; torch {torch.__version__}, "
          f"{args.threads} threads, {args.device}")
    total = 0.0
    for case_id, config in models.values():
        ctx = RunContext(seed=0, device=args.device, schedule=profile.schedule)
        torch.manual_seed(0)
        vae = algo_cls(config, data, ctx)
        for s in range(args.warmup):
            vae.train_step(s)
        t0, c0 = time.perf_counter(), time.process_time()
        for s in range(args.warmup, args.warmup + args.steps):
            vae.train_step(s)
        per_step = (time.perf_counter() - t0) / args.steps
        cpu_step = (time.process_time() - c0) / args.steps
        train_s = per_step * profile.schedule.steps
        t0 = time.perf_counter()
        vae.validate()
        val_s = time.perf_counter() - t0
        n_val = math.ceil(profile.schedule.steps / max(profile.schedule.eval_every, 1))
        k = config.iw_samples
        n_test = len(vae.test_images)
        t0, c0 = time.perf_counter(), time.process_time()
        vae.log_likelihood_per_image(vae.test_images[: args.slice], k, seed=1)
        iw_s = (time.perf_counter() - t0) / args.slice * n_test
        iw_cpu = (time.process_time() - c0) / args.slice * n_test
        fid_s = 0.0
        if config.fid_samples and not args.no_fid:
            t0 = time.perf_counter()
            vae_evaluation.fidelity(vae)
            fid_s = time.perf_counter() - t0
        model_s = train_s + val_s * (n_val + 2) + iw_s + fid_s
        total += model_s
        width = (f"{config.hidden}x{config.hidden_layers}" if config.arch == "mlp"
                 else f"{config.channels} channels")
        print(f"\n{case_id}: {config.arch} {width} "
              f"{config.activation}, latent {config.latent_dim}, batch {config.batch_size} "
              f"({vae.batches_per_epoch} steps/epoch)")
        epoch_s = per_step * vae.batches_per_epoch
        print(f"  train      {1000 * per_step:8.1f} ms/step  {epoch_s:7.1f} s/epoch  → "
              f"{train_s / 60:6.1f} min for {profile.schedule.steps} steps "
              f"(CPU time {1000 * cpu_step:.1f} ms/step)")
        print(f"  validate   {val_s:8.2f} s per call × {n_val + 2}")
        print(f"  IS log-lik K={k}: {args.slice} images in {iw_s / n_test * args.slice:.1f} s "
              f"→ {iw_s / 60:6.1f} min for {n_test} test images (CPU time "
              f"{iw_cpu / 60:.1f} min)")
        if fid_s:
            print(f"  IS/FID     {fid_s:8.1f} s ({config.fid_samples} samples, incl. classifier "
                  f"load/train)")
        print(f"  model total ≈ {model_s / 60:.1f} min")
    print(f"\nprojected {spec.name} {args.profile} profile ≈ {total / 60:.1f} min "
          f"(test() runs once per trained model: rows sharing it reuse its results)")


if __name__ == "__main__":
    main()
