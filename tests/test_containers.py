"""Data containers (gensuite.data.containers): each kind's synthetic data is named so, carries a
content digest as its fingerprint, and malformed data is refused with one line."""

import pytest
import torch

from gensuite.api import DatasetInfo
from gensuite.data.containers import (
    DomainPairData,
    FewShotData,
    ImageClassData,
    PairedImageData,
    TokenStreamData,
)
from gensuite.data.fingerprint import dataset_fingerprint, fingerprint

KINDS = (ImageClassData, FewShotData, PairedImageData, TokenStreamData, DomainPairData)


@pytest.mark.parametrize("kind", KINDS)
def test_synthetic_is_named_deterministic_and_fingerprinted(kind):
    a, b, c = kind.synthetic(0), kind.synthetic(0), kind.synthetic(1)
    assert a.info.name.startswith("synthetic-") and "SYNTHETIC" in a.info.description
    assert "not real data" in a.info.description and a.info.files == ()
    assert a.info.digest == b.info.digest != c.info.digest
    fp = dataset_fingerprint(a.info)
    assert len(fp) == 64 and fp != fingerprint(()) and fp == dataset_fingerprint(b.info)


def test_file_backed_data_keeps_the_file_fingerprint(tmp_path):
    f = tmp_path / "x.bin"
    f.write_bytes(b"abc")
    info = DatasetInfo(name="x", description="", files=(f,))
    assert dataset_fingerprint(info) == fingerprint([f])


def _info():
    return DatasetInfo(name="t", description="", files=())


def test_paired_images_must_pair():
    x = torch.zeros(4, 3, 8, 8, dtype=torch.uint8)
    with pytest.raises(ValueError, match="train: .* inputs do not pair with .* targets"):
        PairedImageData(info=_info(), train_inputs=x, train_targets=x[:3], test_inputs=x,
                        test_targets=x)


def test_token_streams_must_index_the_vocab():
    ok = torch.tensor([0, 1, 2])
    with pytest.raises(ValueError, match="val holds ids outside the 3-token vocab"):
        TokenStreamData(info=_info(), train=ok, val=torch.tensor([3]), test=ok, vocab=("a", "b", "c"))
    with pytest.raises(ValueError, match="train must be a 1-D int64 stream"):
        TokenStreamData(info=_info(), train=ok.float(), val=ok, test=ok, vocab=("a", "b", "c"))
    assert TokenStreamData.synthetic().vocab_size == 16


def test_domains_must_share_classes():
    src = ImageClassData.synthetic(0, classes=4)
    tgt = ImageClassData.synthetic(1, classes=3)
    with pytest.raises(ValueError, match="source classes .* differ from target classes"):
        DomainPairData(info=_info(), source=src, target=tgt)


def test_few_shot_shape_is_checked():
    with pytest.raises(ValueError, match=r"train must be \(classes, examples, 1, H, W\)"):
        FewShotData(info=_info(), train=torch.zeros(2, 3, 28, 28))
