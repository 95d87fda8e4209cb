"""Does the CUDA-graph path give the eager path's numbers? ProtoNet trained twice from one seed,
eager and graphed, then scored on the same test episodes (issue 17, part 1).

A device check, not a test: CI has no GPU. Both models see the same training episodes (the
sampler draws on the CPU) and the same test episodes; the graphed run uses Adam's capturable
form, so the two drift apart by rounding only. The verdict is "within the evaluation interval"
when the graphed accuracy lies within the eager model's 95% interval over test episodes, and the
paired t over those episodes is printed beside it. On a CPU (no graphs) both runs are eager:
that times the check at a small size and must print "identical".

    python bench/graph_check.py --device cuda --episodes 2000 --out $OUT/graph_check.json
    python bench/graph_check.py --device cpu --episodes 20 --test-episodes 50   # timing only
"""

from __future__ import annotations

import argparse
import json
import time


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--episodes", type=int, default=2000, help="training episodes per model")
    p.add_argument("--test-episodes", type=int, default=1000)
    p.add_argument("--way", type=int, default=60)
    p.add_argument("--shot", type=int, default=5)
    p.add_argument("--query", type=int, default=5)
    p.add_argument("--test-way", type=int, default=20)
    p.add_argument("--test-shot", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--data-root", default=None)
    p.add_argument("--out", default=None, help="write the figures as JSON here too")
    return p.parse_args(argv)


def train_and_test(data, args: argparse.Namespace, *, cuda_graph: bool) -> dict:
    import torch

    from gensuite.algorithms.protonet import ProtoNet, ProtoNetConfig
    from gensuite.api import RunContext

    config = ProtoNetConfig(train_way=args.way, train_shot=args.shot, train_query=args.query,
                            test_way=args.test_way, test_shot=args.test_shot,
                            test_episodes=args.test_episodes, cuda_graph=cuda_graph)
    algo = ProtoNet(config, data, RunContext(seed=args.seed, device=args.device))
    losses = []
    t0 = time.perf_counter()
    for step in range(args.episodes):
        losses.append(algo.train_step(step)["loss"])
    if algo.device.type == "cuda":
        torch.cuda.synchronize()
    train_s = time.perf_counter() - t0
    acc = algo.test({"train": [], "val": []}).metrics["accuracy"]
    return {"cuda_graph": cuda_graph, "train_s": round(train_s, 3),
            "episodes_per_s": round(args.episodes / train_s, 1), "losses": losses,
            "accuracy": acc.mean, "ci95": acc.ci95, "n": acc.n, "samples": list(acc.samples or ())}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import torch

    from gensuite.data.root import DataRoot
    from gensuite.plugins import datasets
    from gensuite.report.stats import paired

    torch.set_num_threads(args.threads)
    data = datasets().get("omniglot-vinyals")(DataRoot(args.data_root))
    graph = args.device.startswith("cuda")
    eager = train_and_test(data, args, cuda_graph=False)
    other = train_and_test(data, args, cuda_graph=graph)
    cmp = paired(other["samples"], eager["samples"], "test episodes")
    first_diff = next((i for i, (a, b) in enumerate(zip(eager["losses"], other["losses"]))
                       if a != b), None)
    if eager["samples"] == other["samples"] and first_diff is None:
        verdict = "identical"
    elif abs(other["accuracy"] - eager["accuracy"]) <= eager["ci95"]:
        verdict = "within the evaluation interval"
    else:
        verdict = "differs"
    where = torch.cuda.get_device_name() if graph else f"CPU, {torch.get_num_threads()} threads"
    print(f"ProtoNet {args.way}-way {args.shot}-shot training, {args.episodes} episodes, seed "
          f"{args.seed}, {where}; test {args.test_way}-way {args.test_shot}-shot, "
          f"{args.test_episodes} episodes")
    for name, r in (("eager", eager), ("graphed" if graph else "eager again", other)):
        print(f"  {name:<12} accuracy {r['accuracy']:.2f} ± {r['ci95']:.2f}%  "
              f"train {r['train_s']:.1f} s ({r['episodes_per_s']} episodes/s)")
    print(f"  paired difference {cmp.diff:+.3f} pp, 95% CI [{cmp.ci95[0]:+.3f}, "
          f"{cmp.ci95[1]:+.3f}], p = {cmp.p:.3g}; losses first differ at episode {first_diff}")
    print(f"  verdict: {verdict}")
    if args.out:
        summary = {k: v for k, v in vars(args).items()}
        summary.update(device_name=where, torch=torch.__version__, verdict=verdict,
                       first_loss_difference_at=first_diff, paired_diff=cmp.diff,
                       paired_ci95=cmp.ci95, paired_p=cmp.p,
                       eager={k: v for k, v in eager.items() if k != "samples"},
                       other={k: v for k, v in other.items() if k != "samples"})
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
