"""Prototypical Networks (Snell, Swersky & Zemel, NeurIPS 2017), Omniglot results of Table 1.

Each class is represented by the mean embedding (prototype) of its support images; a query is
classified by a softmax over negative distances to the prototypes. Training follows Sec. 3.1:
conv4 embedding, Adam at 1e-3 halved every 2000 episodes, 60-way episodes with 5 queries.
Course report A, Q2 compares squared Euclidean with cosine distance; both are here.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor
from tqdm import tqdm

from gensuite.api import AlgorithmBase, Curves, EvalResult, RunContext
from gensuite.data.containers import FewShotData
from gensuite.data.episodes import EpisodeSampler
from gensuite.metrics.accuracy import accuracy_estimate
from gensuite.models.conv4 import Conv4
from gensuite.registry import register_algorithm
from gensuite.seeds import SeedStreams, Stream
from gensuite.train.cuda_graph import GraphedStep

if TYPE_CHECKING:
    from collections.abc import Iterable

DISTANCES = ("euclidean", "cosine")
DEFAULT_VAL_EPISODES = 100  # when the suite sets no schedule.val_episodes
# Validation and test get their own fixed episode streams, distinct from training's (gensuite.seeds;
# the derivations the committed numbers were made with).
SEED_STREAMS = {"train": Stream(), "val": Stream(offset=1_000_003),
                "test": Stream(offset=2_000_003)}


@dataclass(frozen=True, kw_only=True)
class ProtoNetConfig:
    """Hyperparameters of Snell et al. 2017, Sec. 3.1 (Omniglot); ``test_*`` only affect eval."""

    data_type: ClassVar[type] = FewShotData

    distance: str = "euclidean"  # "euclidean" is the squared Euclidean distance of the paper
    cosine_scale: float = 1.0  # multiplies cosine logits; 1.0 is the plain cosine of report A-Q2
    train_way: int = 60
    train_shot: int = 5
    train_query: int = 5
    # Validation episodes belong to training (curves, pruning, shared checkpoints), so they do
    # not follow the eval-only test settings: val_way-way, train_shot-shot, val_query queries.
    val_way: int = 5
    val_query: int = 15
    test_way: int = field(default=5, metadata={"eval": True})
    test_shot: int = field(default=5, metadata={"eval": True})
    test_query: int = field(default=15, metadata={"eval": True})
    test_episodes: int = field(default=1000, metadata={"eval": True})
    lr: float = 1e-3
    lr_decay_every: int = 2000  # episodes
    lr_decay: float = 0.5
    hidden: int = 64
    # Capture each training episode (gather, forward, backward, Adam's update) in a CUDA graph
    # (gensuite.train.cuda_graph; issue 17): CUDA only, off by default. Adam then runs in its
    # capturable form, so numbers match the eager path within the evaluation interval, not bit
    # for bit.
    cuda_graph: bool = False

    def __post_init__(self) -> None:
        if self.distance not in DISTANCES:
            raise ValueError(
                f"distance must be one of {', '.join(DISTANCES)}; got {self.distance!r}"
            )
        for f in fields(self):  # every count here (ways, shots, episodes, filters) is >= 1
            if f.type == "int" and getattr(self, f.name) < 1:
                raise ValueError(
                    f"{f.name} must be a positive integer; got {getattr(self, f.name)}"
                )


def prototypes(embeddings: Tensor, labels: Tensor, way: int) -> Tensor:
    """Class means of ``embeddings`` (n, d) with ``labels`` in 0..way-1 → (way, d)."""
    # A one-hot matmul rather than index_add_: deterministic on CUDA and any label order works.
    one_hot = F.one_hot(labels, way).to(embeddings.dtype)  # (n, way)
    return (one_hot.T @ embeddings) / one_hot.sum(0).unsqueeze(1)


def squared_euclidean(x: Tensor, y: Tensor) -> Tensor:
    """Pairwise ‖x_i − y_j‖² for x (n, d), y (m, d) → (n, m), via one matmul."""
    # The expanded form avoids the (n, m, d) difference tensor; rounding can dip just below 0.
    sq = x.pow(2).sum(1, keepdim=True) - 2.0 * (x @ y.T) + y.pow(2).sum(1)
    return sq.clamp_min(0.0)


def cosine_similarity(x: Tensor, y: Tensor) -> Tensor:
    """Pairwise cosine similarity for x (n, d), y (m, d) → (n, m)."""
    return F.normalize(x, dim=1) @ F.normalize(y, dim=1).T


def proto_logits(query: Tensor, protos: Tensor, distance: str, cosine_scale: float = 1.0) -> Tensor:
    """Logits of each query embedding against each prototype: −d² or scaled cosine similarity."""
    if distance == "euclidean":
        return -squared_euclidean(query, protos)
    return cosine_scale * cosine_similarity(query, protos)


@register_algorithm("protonet")
class ProtoNet(AlgorithmBase):
    """Prototypical Networks (Snell et al. 2017, Table 1: Omniglot); one step = one episode."""

    Config = ProtoNetConfig
    tiny_config: ClassVar[dict[str, Any]] = dict(
        train_way=3, train_shot=1, train_query=2, val_way=3, val_query=2, test_way=3,
        test_shot=1, test_query=2, test_episodes=4, hidden=8)

    def __init__(self, config: ProtoNetConfig, data: FewShotData, ctx: RunContext) -> None:
        self.config = config
        self.data = data
        self.ctx = ctx
        self.streams = SeedStreams(ctx.seed, SEED_STREAMS)
        self.device = torch.device(ctx.device)
        if config.cuda_graph and self.device.type != "cuda":
            raise ValueError(f"cuda_graph needs a CUDA device; this run's device is {ctx.device}")
        torch.manual_seed(ctx.seed)  # network initialisation
        in_channels = data.train.shape[2]
        self.model = Conv4(in_channels, config.hidden, config.hidden)
        # channels_last: oneDNN's fast layout on CPU (max-pooling ~10× faster than NCHW there).
        self.model.to(self.device, memory_format=torch.channels_last)
        if config.cuda_graph:  # a tensor rate: the scheduler updates it in place, in the graph
            self.optimizer = torch.optim.Adam(
                self.model.parameters(), lr=torch.tensor(config.lr, device=self.device),
                capturable=True)
        else:
            self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        self.scheduler = torch.optim.lr_scheduler.StepLR(
            self.optimizer, step_size=config.lr_decay_every, gamma=config.lr_decay
        )
        # The splits move to the device once, so an episode is a gather there, not a copy.
        self._train, self._val, self._test = (
            None if t is None else t.to(self.device) for t in (data.train, data.val, data.test)
        )
        # Its own generator makes the episode order reproducible and resumable (it is saved).
        self.train_sampler = EpisodeSampler(
            self._train,
            config.train_way,
            config.train_shot,
            config.train_query,
            generator=self.streams.generator("train"),
        )
        self._train_support_labels = self._class_major_labels(config.train_way, config.train_shot)
        # The eager path goes through the same static-input plumbing with the graph off.
        self._step_on_rows = GraphedStep(self._train_on_rows, enabled=config.cuda_graph)

    def _class_major_labels(self, way: int, shot: int) -> Tensor:
        return torch.arange(way, device=self.device).repeat_interleave(shot)

    def _episode(
        self,
        support: Tensor,
        support_labels: Tensor,
        query: Tensor,
        query_labels: Tensor,
        way: int,
    ) -> tuple[Tensor, Tensor]:
        """Loss and accuracy (0-d tensors) of one episode; images may still be on the CPU."""
        n_support = support.shape[0]
        # One forward pass over support and query together, as in the authors' code.
        images = torch.cat([support, query]).to(self.device, non_blocking=True)
        images = images.contiguous(memory_format=torch.channels_last)
        emb = self.model(images)
        protos = prototypes(emb[:n_support], support_labels, way)
        logits = proto_logits(
            emb[n_support:], protos, self.config.distance, self.config.cosine_scale
        )
        query_labels = query_labels.to(self.device, non_blocking=True)
        loss = F.cross_entropy(logits, query_labels)
        acc = (logits.argmax(1) == query_labels).float().mean()
        return loss, acc

    def _train_on_rows(self, rows: Tensor) -> tuple[Tensor, Tensor]:
        """One training episode from its rows, already on the device: all device work, no host
        sync, so that it can be captured in a CUDA graph."""
        support, query = self.train_sampler.gather(rows)
        loss, acc = self._episode(
            support, self._train_support_labels, query, self.train_sampler.query_labels,
            self.config.train_way,
        )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach(), acc

    def train_step(self, step: int) -> dict[str, float]:
        self.model.train()
        rows = self.train_sampler.sample_rows().to(self.device)
        loss, acc = self._step_on_rows(rows)
        self.scheduler.step()  # per episode: the paper halves the rate every 2000 episodes
        loss_v, acc_v = torch.stack([loss, acc]).tolist()  # one device sync
        return {"loss": loss_v, "acc": acc_v}

    def _eval_sampler(
        self, images: Tensor, stream: str, way: int, shot: int, query: int
    ) -> EpisodeSampler:
        """A sampler whose generator is re-seeded on every call: the same episodes each time."""
        return EpisodeSampler(images, way, shot, query, generator=self.streams.generator(stream))

    def _sampled_episodes(self, sampler: EpisodeSampler, n: int) -> Iterable[tuple]:
        labels = self._class_major_labels(sampler.way, sampler.shot)
        for _ in range(n):
            support, query, query_labels = sampler.sample()
            yield support, labels, query, query_labels, sampler.way

    def _evaluate(self, episodes: Iterable[tuple], total: int, desc: str) -> tuple[Tensor, Tensor]:
        """Per-episode (losses, accuracies) as CPU tensors, with BatchNorm in inference mode."""
        self.model.eval()
        losses, accs = [], []
        with torch.inference_mode():
            for ep in tqdm(
                episodes, total=total, desc=desc, disable=not self.ctx.progress, leave=False
            ):
                loss, acc = self._episode(*ep)
                losses.append(loss)
                accs.append(acc)
        # Stack before moving: one transfer instead of a sync per episode.
        return torch.stack(losses).cpu(), torch.stack(accs).cpu()

    def validate(self) -> dict[str, float]:
        if self._val is None:
            return {}
        n = self.ctx.schedule.val_episodes or DEFAULT_VAL_EPISODES
        c = self.config
        sampler = self._eval_sampler(
            self._val, "val", c.val_way, c.train_shot, c.val_query
        )
        losses, accs = self._evaluate(self._sampled_episodes(sampler, n), n, "protonet val")
        return {"val_acc": accs.mean().item(), "val_loss": losses.mean().item()}

    def test(self, curves: Curves) -> EvalResult:
        if self.data.test_episodes:
            # Fixed episodes (e.g. Lake et al.'s 20 one-shot runs): one sample per run.
            fixed = self.data.test_episodes
            episodes = (
                (
                    e.support,
                    e.support_labels.to(self.device),
                    e.query,
                    e.query_labels,
                    int(e.support_labels.max()) + 1,
                )
                for e in fixed
            )
            _, accs = self._evaluate(episodes, len(fixed), "protonet test runs")
            return EvalResult(metrics={"accuracy": accuracy_estimate(
                accs.tolist(), over="runs", units=f"fixed-runs:{len(fixed)}")})
        if self._test is None:
            return EvalResult(metrics={})
        n = self.config.test_episodes
        c = self.config
        sampler = self._eval_sampler(
            self._test, "test", c.test_way, c.test_shot, c.test_query
        )
        _, accs = self._evaluate(self._sampled_episodes(sampler, n), n, "protonet test")
        # Every model of a given seed and test setting sees these very episodes: paired tests.
        units = (f"episodes:seed{self.streams.seed_of('test')}:{c.test_way}w{c.test_shot}s"
                 f"{c.test_query}q:{n}")
        return EvalResult(metrics={"accuracy": accuracy_estimate(accs.tolist(), over="episodes",
                                                                 units=units)})

    def state_dict(self) -> dict[str, Any]:
        # A deep copy: optimiser state tensors are updated in place by later steps.
        return copy.deepcopy(
            {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "train_sampler": self.train_sampler.state_dict(),
            }
        )

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.train_sampler.load_state_dict(state["train_sampler"])
        if self.config.cuda_graph:  # the loaded rate and state are new tensors: capture again
            for group in self.optimizer.param_groups:
                group["lr"] = torch.as_tensor(group["lr"], device=self.device)
            self._step_on_rows.invalidate()
