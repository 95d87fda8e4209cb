"""Speed and memory of DARTS (issue 16): search steps/s first vs second order (convolutional on
CIFAR-sized images, recurrent on PTB-sized text), the evaluation networks' training throughput
(images/s, tokens/s), and the peak memory of each search step.

A benchmark script, not a test: it prints figures and asserts nothing. Synthetic data (speed
does not depend on the pixels or words). Each setting runs in its own process so that its
peak memory (resident set on CPU, ``torch.cuda.max_memory_allocated`` on CUDA) is its own.

    python bench/darts_speed.py --threads 2
    python bench/darts_speed.py --paper            # also the paper-sized networks (slow on CPU)
    python bench/darts_speed.py --device cuda --paper
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sys
import threading
import time

QUICK = {  # the quick profiles' sizes (benchmarks/darts-*.toml)
    "cnn-search": dict(init_channels=8, layers=3, batch_size=32),
    "cnn-eval": dict(init_channels=8, layers=8, batch_size=96),
    "rnn-search": dict(emsize=100, nhid=100, batch_size=64),
    "rnn-eval": dict(emsize=200, nhid=200, batch_size=64),
}
PAPER = {  # Liu et al.'s sizes
    "cnn-search": dict(init_channels=16, layers=8, batch_size=64),
    "cnn-eval": dict(init_channels=36, layers=20, batch_size=96),
    "rnn-search": dict(emsize=300, nhid=300, batch_size=256),
    "rnn-eval": dict(emsize=850, nhid=850, batch_size=64),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=2, help="timed steps per setting")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--paper", action="store_true", help="also the paper-sized networks")
    return p.parse_args(argv)


def _algorithm(kind: str, sizes: dict, unrolled: bool, device: str):
    import torch  # noqa: F401

    from gensuite.api import RunContext, Schedule
    from gensuite.data.containers import ImageClassData, TokenStreamData

    ctx = RunContext(seed=0, device=device, schedule=Schedule(steps=1000))
    if kind.startswith("cnn"):
        data = ImageClassData.synthetic(0, n_train=2 * sizes["batch_size"] * 4, n_test=8,
                                        shape=(3, 32, 32), classes=10)
    else:  # PTB's vocabulary, enough text for a few batches
        data = TokenStreamData.synthetic(0, vocab=10_000,
                                         length=sizes["batch_size"] * 60 * 4)
    if kind == "cnn-search":
        from gensuite.algorithms.darts_search import DartsSearch, DartsSearchConfig

        return DartsSearch(DartsSearchConfig(unrolled=unrolled, val_images=0, **sizes),
                           data, ctx)
    if kind == "cnn-eval":
        from gensuite.algorithms.darts_eval import DartsEval, DartsEvalConfig

        return DartsEval(DartsEvalConfig(val_images=0, **sizes), data, ctx)
    if kind == "rnn-search":
        from gensuite.algorithms.darts_search_rnn import DartsSearchRnn, DartsSearchRnnConfig

        return DartsSearchRnn(DartsSearchRnnConfig(unrolled=unrolled, **sizes), data, ctx)
    from gensuite.algorithms.darts_eval_rnn import DartsEvalRnn, DartsEvalRnnConfig

    return DartsEvalRnn(DartsEvalRnnConfig(variable_length=False, **sizes), data, ctx)


def _rss_mib() -> float:
    """The process's resident memory now (Linux /proc; elsewhere its high-water mark)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _RssSampler(threading.Thread):
    """The highest resident memory seen every 2 ms while the steps run."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak, self.done = _rss_mib(), threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.002):
            self.peak = max(self.peak, _rss_mib())


def _measure(kind: str, sizes: dict, unrolled: bool, args: argparse.Namespace, out) -> None:
    """In a child process: seconds per step and the memory a step adds at its peak (MiB) over
    what the process holds between steps (model, data, optimiser state, lazily imported
    modules: the base is taken after a warm-up step)."""
    import torch

    torch.set_num_threads(args.threads)
    cuda = args.device.startswith("cuda")
    algo = _algorithm(kind, sizes, unrolled, args.device)
    algo.train_step(0)  # warm-up, not timed
    if cuda:
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    sampler = _RssSampler()
    base_rss = sampler.peak
    sampler.start()
    t0 = time.perf_counter()
    for step in range(1, args.steps + 1):
        algo.train_step(step)
    if cuda:
        torch.cuda.synchronize()
        extra = (torch.cuda.max_memory_allocated() - base) / 2**20
    seconds = (time.perf_counter() - t0) / args.steps
    sampler.done.set()
    sampler.join()
    if not cuda:
        extra = sampler.peak - base_rss
    out.put((seconds, extra))


def _child(kind: str, sizes: dict, unrolled: bool, args: argparse.Namespace,
           env: dict[str, str]) -> tuple[float, float]:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        proc = ctx.Process(target=_measure, args=(kind, sizes, unrolled, args, queue))
        proc.start()
        result = queue.get()
        proc.join()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return result


def run(kind: str, sizes: dict, unrolled: bool, args: argparse.Namespace) -> tuple[float, float]:
    """Seconds a step (a plain process) and the MiB a step adds at its peak (a second process
    whose glibc mmaps every block over 64 KiB and unmaps it when freed: otherwise glibc raises
    that threshold as it sees frees and keeps activations in its heap, hiding later peaks;
    the mmaps slow the steps, so they are not timed there). CUDA: one process."""
    seconds, extra = _child(kind, sizes, unrolled, args, {})
    if not args.device.startswith("cuda"):
        _, extra = _child(kind, sizes, unrolled, args, {"MALLOC_MMAP_THRESHOLD_": "65536"})
    return seconds, extra


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    where = ("GPU memory allocated" if args.device.startswith("cuda")
             else "resident memory (sampled every 2 ms)")
    print(f"device {args.device}, {args.threads} thread(s), {args.steps} timed step(s) each; "
          f"memory: the peak {where} a step adds over what is held between steps")
    scales = [("quick", QUICK)] + ([("paper", PAPER)] if args.paper else [])
    for scale, table in scales:
        for kind in ("cnn-search", "rnn-search"):
            sizes = table[kind]
            first = run(kind, sizes, False, args)
            second = run(kind, sizes, True, args)
            print(f"{scale:5s} {kind:10s} {sizes}: first order {1 / first[0]:.3f} steps/s "
                  f"(+{first[1]:.0f} MiB), second order {1 / second[0]:.3f} steps/s "
                  f"(+{second[1]:.0f} MiB): {second[0] / first[0]:.1f}× the time, "
                  f"{second[1] / first[1]:.2f}× the memory")
        for kind, unit in (("cnn-eval", "images"), ("rnn-eval", "tokens")):
            sizes = table[kind]
            t, peak = run(kind, sizes, False, args)
            per_step = sizes["batch_size"] * (35 if unit == "tokens" else 1)
            print(f"{scale:5s} {kind:10s} {sizes}: {per_step / t:,.0f} {unit}/s "
                  f"({t:.2f} s a step, +{peak:.0f} MiB)")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
