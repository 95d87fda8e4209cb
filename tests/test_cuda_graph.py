"""The CUDA-graph step (gensuite.train.cuda_graph) with the graph off, as CPU-only CI runs it:
the static-input plumbing, and ProtoNet's numbers unchanged by routing through it. The graph
itself needs a GPU: bench/gpu_run.sh checks it there against the eager path."""

import pytest
import torch

from gensuite.algorithms.protonet import ProtoNet, ProtoNetConfig
from gensuite.api import DatasetInfo, RunContext
from gensuite.data.containers import FewShotData
from gensuite.data.episodes import EpisodeSampler
from gensuite.train.cuda_graph import GraphedStep


def test_inputs_go_through_static_buffers():
    seen = []

    def fn(x, y):
        seen.append((x.data_ptr(), y.data_ptr()))
        return (x + y,)

    step = GraphedStep(fn, enabled=False)
    a1, b1 = torch.tensor([1.0, 2.0]), torch.tensor([3, 4])
    (out,) = step(a1, b1)
    assert out.tolist() == [4.0, 6.0]
    (out,) = step(torch.tensor([5.0, 6.0]), torch.tensor([1, 1]))
    assert out.tolist() == [6.0, 7.0]
    assert seen[0] == seen[1]  # the same buffers, refilled: what a replayed graph reads
    assert seen[0][0] != a1.data_ptr()  # a copy, not the caller's tensor
    step(torch.zeros(3), torch.zeros(3, dtype=torch.int64))  # new shapes before capture: new buffers
    assert seen[2] != seen[1] and not step.captured


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only refusal")
def test_a_graph_needs_cuda():
    with pytest.raises(ValueError, match="needs a CUDA device"):
        GraphedStep(lambda x: (x,))


def _data() -> FewShotData:
    gen = torch.Generator().manual_seed(0)  # synthetic images: plumbing, not a result
    images = torch.rand(12, 6, 1, 28, 28, generator=gen)
    info = DatasetInfo(name="synthetic", description="uniform noise (test)", files=())
    return FewShotData(info=info, train=images, val=images[:6], test=images[6:],
                       test_episodes=None)


def test_protonet_refuses_a_graph_on_the_cpu():
    with pytest.raises(ValueError, match="cuda_graph needs a CUDA device; this run's device is cpu"):
        ProtoNet(ProtoNetConfig(**ProtoNet.tiny_config, cuda_graph=True), _data(),
                 RunContext(seed=0, device="cpu"))


def _reference_episode_loop(algo: ProtoNet, steps: int) -> list[float]:
    """ProtoNet's training step as it was before the static-input plumbing: sample(), forward,
    backward, Adam, scheduler; written out here as the independent reference."""
    import torch.nn.functional as F  # noqa: N812

    from gensuite.algorithms.protonet import proto_logits, prototypes

    out = []
    c = algo.config
    for _ in range(steps):
        algo.model.train()
        support, query, labels = algo.train_sampler.sample()
        images = torch.cat([support, query]).contiguous(memory_format=torch.channels_last)
        emb = algo.model(images)
        n = support.shape[0]
        protos = prototypes(emb[:n], algo._train_support_labels, c.train_way)
        loss = F.cross_entropy(proto_logits(emb[n:], protos, c.distance), labels)
        algo.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        algo.optimizer.step()
        algo.scheduler.step()
        out.append(loss.item())
    return out


def test_protonet_numbers_are_those_of_the_plain_loop():
    config = ProtoNetConfig(**{**ProtoNet.tiny_config, "lr_decay_every": 2})
    a = ProtoNet(config, _data(), RunContext(seed=3, device="cpu"))
    b = ProtoNet(config, _data(), RunContext(seed=3, device="cpu"))
    losses = [a.train_step(s)["loss"] for s in range(5)]
    assert losses == _reference_episode_loop(b, 5)  # bit for bit
    for pa, pb in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(pa, pb)


def test_sample_is_rows_then_gather():
    images = torch.arange(5 * 4, dtype=torch.float32).view(5, 4, 1, 1, 1)
    s1 = EpisodeSampler(images, 3, 1, 2, torch.Generator().manual_seed(4))
    s2 = EpisodeSampler(images, 3, 1, 2, torch.Generator().manual_seed(4))
    support, query, labels = s1.sample()
    rows = s2.sample_rows()
    support2, query2 = s2.gather(rows)
    assert torch.equal(support, support2) and torch.equal(query, query2)
    assert torch.equal(support.flatten(), rows.view(3, 3)[:, 0].float())  # pixel value = row
    assert labels.tolist() == [0, 0, 1, 1, 2, 2]


def test_gan_refuses_a_graph_on_the_cpu():
    from gensuite.algorithms.gan import GAN, GANConfig
    from gensuite.data.containers import ImageClassData

    x = torch.zeros(16, 1, 8, 8, dtype=torch.uint8)  # synthetic: the check fails before training
    y = torch.arange(16) % 2
    data = ImageClassData(info=DatasetInfo(name="synthetic", description="zeros", files=()),
                          train_images=x, train_labels=y, test_images=x, test_labels=y,
                          classes=("a", "b"))
    with pytest.raises(ValueError, match="cuda_graph needs a CUDA device"):
        GAN(GANConfig(**GAN.tiny_config, cuda_graph=True), data, RunContext(seed=0))
