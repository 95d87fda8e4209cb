"""darts-eval (issue 16): the genotype parameter, the DARTS input pipeline (crop, flip, cutout)
and its seeding."""

from __future__ import annotations

import json

import pytest
import torch

from gensuite.algorithms.darts_data import cutout, random_crop_flip
from gensuite.algorithms.darts_eval import DartsEvalConfig, parse_genotype
from gensuite.models.darts.genotypes import DARTS_V2, to_dict


def test_a_genotype_is_a_published_name_or_json():
    assert parse_genotype("darts-v2") == DARTS_V2
    assert parse_genotype(json.dumps(to_dict(DARTS_V2))) == DARTS_V2
    with pytest.raises(ValueError, match="genotype must be one of"):
        DartsEvalConfig(genotype="darts-v9")
    bad = to_dict(DARTS_V2)
    bad["normal"][0][0] = "conv_7x7"
    with pytest.raises(ValueError, match="'conv_7x7' is not one of"):
        parse_genotype(json.dumps(bad))


def test_random_crop_and_flip_match_a_per_image_reference():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8, generator=g)
    out = random_crop_flip(x, torch.Generator().manual_seed(1))
    # the same draws, image by image: offsets then the flip coin
    g2 = torch.Generator().manual_seed(1)
    dy = torch.randint(0, 9, (16,), generator=g2)
    dx = torch.randint(0, 9, (16,), generator=g2)
    flip = torch.rand(16, generator=g2) < 0.5
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    for i in range(16):
        ref = padded[i, :, dy[i]: dy[i] + 32, dx[i]: dx[i] + 32]
        assert torch.equal(out[i], ref.flip(-1) if flip[i] else ref)


def test_cutout_zeroes_one_clipped_square_per_image():
    x = torch.ones(64, 3, 32, 32)
    out = cutout(x, torch.Generator().manual_seed(2), 16)
    zeros = (out[:, 0] == 0).sum(dim=(1, 2))
    assert (zeros > 0).all() and (zeros <= 256).all() and (zeros == 256).any()
    assert torch.equal(out[:, 0] == 0, out[:, 2] == 0)  # the same square in every channel
    again = cutout(x, torch.Generator().manual_seed(2), 16)
    assert torch.equal(out, again)


def test_a_search_step_moves_both_alpha_and_the_weights_and_records_genotypes():
    from gensuite.algorithms.darts_search import DartsSearch, DartsSearchConfig
    from gensuite.api import Curves, RunContext, Schedule
    from gensuite.data.containers import ImageClassData

    data = ImageClassData.synthetic(0, n_train=32, n_test=4, shape=(3, 32, 32), classes=10)
    results = {}
    for unrolled in (False, True):
        algo = DartsSearch(DartsSearchConfig(init_channels=4, layers=3, batch_size=4,
                                             unrolled=unrolled, val_images=8), data,
                           RunContext(seed=0, schedule=Schedule(steps=3)))
        alphas = [a.detach().clone() for a in algo.net.arch_parameters()]
        weights = [p.detach().clone() for p in algo.net.weights()]
        algo.validate()
        algo.train_step(0)
        algo.validate()
        assert all(not torch.equal(a, b) for a, b in zip(algo.net.arch_parameters(), alphas))
        assert any(not torch.equal(p, q) for p, q in zip(algo.net.weights(), weights))
        result = algo.test(Curves())
        assert [h["step"] for h in result.details["genotype_history"]] == [0, 1]
        assert len(result.details["genotype"]["normal"]) == 8
        results[unrolled] = algo.net.alphas_normal.detach().clone()
    assert not torch.equal(results[False], results[True])  # the unrolled gradient differs
