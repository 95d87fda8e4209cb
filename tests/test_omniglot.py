"""Omniglot loaders on the real shared data, and the episode sampler."""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import pytest
import torch

from gensuite.data import omniglot
from gensuite.data.containers import FewShotData
from gensuite.data.episodes import EpisodeSampler
from gensuite.data.omniglot import build_lake, build_vinyals, load_npz_set, load_png_set, rotate
from gensuite.data.root import DataRoot
from gensuite.errors import GensuiteError
from gensuite.registry import get_dataset

# conftest.py points GENSUITE_DATA_ROOT at ../shared/data unless it is already set.
DATA = Path(os.environ["GENSUITE_DATA_ROOT"])
OMNI = DATA / "omniglot"


@pytest.fixture(scope="module")
def root() -> DataRoot:
    return DataRoot(DATA)


@pytest.fixture(scope="module")
def vinyals(root) -> FewShotData:
    return build_vinyals(root)  # decodes both npz files once; later tests hit the cache


@pytest.fixture(scope="module")
def background():
    return load_npz_set(OMNI / "images_background.npz", OMNI / "alphabets.tsv", "background")


def test_registered():
    assert get_dataset("omniglot-vinyals") is build_vinyals
    assert get_dataset("omniglot-lake") is build_lake


def test_options_are_checked(root):
    with pytest.raises(TypeError):
        build_vinyals(root, shots=5)
    with pytest.raises(GensuiteError, match="train_split"):
        build_vinyals(root, train_split="val")
    with pytest.raises(GensuiteError, match="background"):
        build_lake(root, background="small3")


def test_vinyals_counts_shapes_range_polarity(vinyals):
    assert (len(vinyals.train), len(vinyals.val), len(vinyals.test)) == (4800, 688, 1692)
    for t in (vinyals.train, vinyals.val, vinyals.test):
        assert t.shape[1:] == (20, 1, 28, 28) and t.dtype == torch.float32
        assert t.min() >= 0 and t.max() == 1  # stroke interiors reach 1
        assert 0.03 < t.mean() < 0.2  # strokes are sparse: background must be 0, not 1
    assert vinyals.test_episodes is None
    names = sorted(p.name for p in vinyals.info.files)
    assert names == sorted(
        [
            "trainval.txt",
            "val.txt",
            "test.txt",
            "alphabets.tsv",
            "images_background.npz",
            "images_evaluation.npz",
        ]
    )
    assert "4800" in vinyals.info.description and "1692" in vinyals.info.description
    # train_split="train" reads train.txt instead (not built here: it costs a second copy).
    assert len(omniglot.read_split(OMNI / "splits_vinyals" / "train.txt")) == 4112


def test_vinyals_rotation_classes(vinyals):
    entries = omniglot.read_split(OMNI / "splits_vinyals" / "trainval.txt")
    assert [k for _, k in entries[:4]] == [0, 1, 2, 3]
    assert len({key for key, _ in entries[:4]}) == 1  # one character, four classes
    base = vinyals.train[0]
    for k in (1, 2, 3):
        assert torch.equal(vinyals.train[k], rotate(base, k))
        assert not torch.equal(vinyals.train[k], base)


def test_npz_matches_png_small1(background):
    small1 = load_png_set((OMNI / "images_background_small1.zip").resolve())
    assert len(small1.keys) == 136 and small1.keys[0] == "Balinese/character01"
    index = {k: i for i, k in enumerate(background.keys)}
    for key in small1.keys[::17]:
        assert torch.equal(small1.images[small1.keys.index(key)], background.images[index[key]])


def test_torchvision_layout(tmp_path, background):
    """npz absent in the first root: the PNG tree there is used, and equals the npz."""
    tree = tmp_path / "omniglot-py" / "images_background"
    keys = ["Balinese/character01", "Korean/character07"]
    with zipfile.ZipFile(OMNI / "images_background_small1.zip") as zf:
        for name in zf.namelist():
            if name.endswith(".png") and any(f"/{k}/" in name for k in keys):
                out = tree / name.split("/", 1)[1]
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(zf.read(name))
    data = build_lake(DataRoot(tmp_path), rotations=False)  # all_runs.zip: from the env root
    assert data.train.shape == (2, 20, 1, 28, 28)
    index = {k: i for i, k in enumerate(background.keys)}
    for i, key in enumerate(keys):
        assert torch.equal(data.train[i, :, 0], background.images[index[key]])
    assert len(data.info.files) == 41 and data.info.files[-1].name == "all_runs.zip"


def test_lake_runs_follow_class_labels(root):
    data = build_lake(root, background="small2")
    assert data.train.shape == (156 * 4, 20, 1, 28, 28) and data.val is None and data.test is None
    assert torch.equal(data.train[1], rotate(data.train[0], 1))
    episodes = data.test_episodes
    assert len(episodes) == 20
    with zipfile.ZipFile(OMNI / "all_runs.zip") as zf:
        for r, ep in enumerate(episodes, start=1):
            assert ep.support.shape == ep.query.shape == (20, 1, 28, 28)
            assert torch.equal(ep.support_labels, torch.arange(20))
            for line in zf.read(f"run{r:02d}/class_labels.txt").decode().split("\n"):
                if line.strip():
                    item, cls = (int(n) for n in re.findall(r"(?:item|class)(\d+)", line))
                    assert ep.query_labels[item - 1] == cls - 1


def test_lake_full_default(root):
    data = build_lake(root)
    assert data.train.shape == (964 * 4, 20, 1, 28, 28)
    assert "964 characters × 4 rotations" in data.info.description


def numbered_images(n_classes=10, n_examples=8) -> torch.Tensor:
    """Image (c, k) is filled with the value 100*c + k, so a pixel identifies its source."""
    ids = 100 * torch.arange(n_classes)[:, None] + torch.arange(n_examples)
    return ids.float()[:, :, None, None, None].expand(-1, -1, 1, 4, 4).contiguous()


def test_sampler_episode_structure():
    way, shot, query = 5, 2, 3
    sampler = EpisodeSampler(numbered_images(), way, shot, query, torch.Generator().manual_seed(0))
    for _ in range(20):
        support, q, labels = sampler.sample()
        assert support.shape == (way * shot, 1, 4, 4) and q.shape == (way * query, 1, 4, 4)
        assert labels.dtype == torch.long
        assert torch.equal(labels, torch.arange(way).repeat_interleave(query))
        s_ids, q_ids = support[:, 0, 0, 0].long(), q[:, 0, 0, 0].long()
        s_cls = (s_ids // 100).view(way, shot)
        assert (s_cls == s_cls[:, :1]).all()  # class-major support
        assert torch.equal(q_ids // 100, s_cls[:, 0].repeat_interleave(query))
        assert len(set(s_cls[:, 0].tolist())) == way
        all_ids = torch.cat([s_ids, q_ids]).tolist()
        assert len(set(all_ids)) == len(all_ids)  # no image twice in an episode


def test_sampler_determinism_and_resume():
    images = numbered_images()

    def make(seed):
        return EpisodeSampler(images, 5, 1, 4, torch.Generator().manual_seed(seed))

    a, b = make(7), make(7)
    for _ in range(3):
        assert all(torch.equal(x, y) for x, y in zip(a.sample(), b.sample()))
    state = a.state_dict()
    nxt = a.sample()
    fresh = make(123)
    fresh.load_state_dict(state)
    assert all(torch.equal(x, y) for x, y in zip(fresh.sample(), nxt))
    assert not torch.equal(make(8).sample()[0], make(7).sample()[0])


def test_sampler_rejects_impossible_episodes():
    with pytest.raises(ValueError):
        EpisodeSampler(numbered_images(), 11, 1, 1, torch.Generator())
    with pytest.raises(ValueError):
        EpisodeSampler(numbered_images(), 5, 5, 4, torch.Generator())


def test_truncated_file_is_one_line_naming_it_and_what_was_expected(tmp_path):
    """images_evaluation.npz cut to 100 kB in a data root: a one-line error with the file, its
    size, the published size and sha256, and how to get it again (not a BadZipFile trace)."""
    from gensuite.data.root import DamagedDataError

    src = DATA / "omniglot"
    (tmp_path / "omniglot").mkdir()
    for item in src.iterdir():
        if item.name != "images_evaluation.npz":
            (tmp_path / "omniglot" / item.name).symlink_to(item)
    cut = tmp_path / "omniglot" / "images_evaluation.npz"
    cut.write_bytes((src / "images_evaluation.npz").read_bytes()[:100_000])
    with pytest.raises(DamagedDataError) as info:
        omniglot.build_vinyals(DataRoot(tmp_path))
    msg = str(info.value)
    assert "\n" not in msg and str(cut) in msg and "damaged or truncated" in msg
    assert "it has 100000 bytes" in msg and "expected 2415269 bytes, sha256 0b84c7ffd94c4841" in msg
    assert "github.com/brendenlake/omniglot" in msg  # how to get it again
