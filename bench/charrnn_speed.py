"""Benchmark (not a test): char-RNN training and evaluation throughput in characters per second.

Trains ``--steps`` truncated-BPTT chunks of the given cell (default: LSTM, hidden 512, sequence
100, batch 64 — issue 12's setting) on War and Peace when it is found, else on a synthetic
stream of the same vocabulary size, eager and then under torch.compile in the same process,
and scores ``--eval-chars`` held-out characters in one stream (the whole-text evaluation).
Prints characters/s and the compiled/eager ratio; the compile time is printed apart.

    python bench/charrnn_speed.py --threads 2
    python bench/charrnn_speed.py --cell rnn --hidden 256 --seq 20 --batch 1
"""

from __future__ import annotations

import argparse
import os
import time


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cell", default="lstm", choices=["rnn", "lstm", "gru"])
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--seq", type=int, default=100)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--eval-chars", type=int, default=20000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-compile", action="store_true")
    return p.parse_args(argv)


def load_data():
    from gensuite.data.containers import TokenStreamData
    from gensuite.data.root import DataRoot
    from gensuite.errors import GensuiteError
    from gensuite.plugins import datasets

    try:
        return datasets().get("war-and-peace")(DataRoot(None)), "War and Peace"
    except GensuiteError as exc:
        print(f"real text unavailable ({exc}); synthetic stream")
        return TokenStreamData.synthetic(0, vocab=100, length=2_000_000), "synthetic"


def train_rate(algo, args) -> float:
    for step in range(args.warmup):
        algo.train_step(step)
    t0 = time.perf_counter()
    for step in range(args.warmup, args.warmup + args.steps):
        algo.train_step(step)
    return args.steps * args.batch * args.seq / (time.perf_counter() - t0)


def main() -> None:
    args = parse_args()
    import torch

    from gensuite.algorithms.charrnn import CharRNNConfig, CharRNNModel
    from gensuite.api import RunContext, Schedule

    torch.set_num_threads(args.threads)
    data, name = load_data()
    config = CharRNNConfig(cell=args.cell, hidden=args.hidden, layers=args.layers,
                           seq_len=args.seq, batch_size=args.batch)
    ctx = RunContext(seed=0, device="cpu", data_root=None, profile="quick",
                     schedule=Schedule(steps=args.steps))
    print(f"{args.cell} {args.layers}×{args.hidden}, seq {args.seq}, batch {args.batch}, "
          f"{args.threads} thread(s), {name}; load average {os.getloadavg()[0]:.2f}")
    eager = CharRNNModel(config, data, ctx)
    eager_rate = train_rate(eager, args)
    print(f"  train eager      {eager_rate:10.0f} chars/s")
    ids = data.val[: args.eval_chars + 1]
    t0 = time.perf_counter()
    eager.score(ids, 1)
    eval_rate = args.eval_chars / (time.perf_counter() - t0)
    print(f"  evaluate         {eval_rate:10.0f} chars/s (one stream, {args.eval_chars} chars)")
    if args.no_compile:
        return
    compiled = CharRNNModel(config, data, ctx)
    t0 = time.perf_counter()
    compiled.model = torch.compile(compiled.model)
    compiled.train_step(0)  # the compile happens on the first call
    print(f"  compile          {time.perf_counter() - t0:10.1f} s")
    rate = train_rate(compiled, args)
    print(f"  train compiled   {rate:10.0f} chars/s  ({rate / eager_rate:.2f}× eager)")


if __name__ == "__main__":
    main()
