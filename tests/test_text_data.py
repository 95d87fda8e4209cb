"""Character streams (gensuite/data/text.py): the real texts' splits and vocabularies, the
unknown-character policy, and bad files as one-line errors (synthetic files named so)."""

from __future__ import annotations

import pytest

from gensuite.data.root import DataRoot
from gensuite.data.text import TINY_SHAKESPEARE, UNKNOWN, WAR_AND_PEACE, build_text, parse_split
from gensuite.errors import GensuiteError
from gensuite.plugins import datasets


def _decode(data, ids) -> str:
    return "".join(data.vocab[i] for i in ids.tolist())


def test_tiny_shakespeare_is_split_as_nanogpt_does(data_root):
    data = datasets().get("tiny-shakespeare")(DataRoot(data_root))
    n = 1_115_394
    assert len(data.train) == int(n * 0.9) == 1_003_854
    assert len(data.val) == n - 1_003_854 and data.test.equal(data.val)
    assert data.vocab[-1] == UNKNOWN and len(data.vocab) == 66  # 65 characters + U+FFFD
    assert _decode(data, data.train[:14]) == "First Citizen:"
    assert "test = the validation stream" in data.info.description


def test_war_and_peace_loses_the_gutenberg_header_and_licence(data_root):
    data = datasets().get("war-and-peace")(DataRoot(data_root))
    head = _decode(data, data.train[:300])
    tail = _decode(data, data.test[-3000:])
    assert "Project Gutenberg" not in head and "WAR AND PEACE" in head
    assert "Gutenberg" not in tail and "LICENSE" not in tail
    total = len(data.train) + len(data.val) + len(data.test)
    assert len(data.train) == int(total * 0.9) and len(data.val) == int(total * 0.05)
    assert 80 <= len(data.vocab) <= 110  # report C-1: "~91 distinct characters"
    assert "header and licence cut" in data.info.description


@pytest.mark.parametrize("bad", ["90/10", "90/10/5", "0/50/50", "90/0/10", "a/b/c"])
def test_bad_splits_are_one_line(bad):
    with pytest.raises(GensuiteError, match="give three percentages"):
        parse_split(bad)


def _root_with(tmp_path, content: bytes):
    folder = tmp_path / "tinyshakespeare"
    folder.mkdir()
    (folder / "input.txt").write_bytes(content)
    return DataRoot(tmp_path)


def test_unknown_characters_follow_the_policy(tmp_path, empty_roots):
    # synthetic text: "z" appears only in the held-out part
    root = _root_with(empty_roots, ("ab" * 45 + "zzzzzzzzzz").encode())
    mapped = build_text(root, TINY_SHAKESPEARE, split="90/10/0", verify=False)
    assert mapped.vocab == ("a", "b", UNKNOWN)
    assert mapped.val.tolist() == [2] * 10
    assert "validation 10, test 10 mapped" in mapped.info.description
    with pytest.raises(GensuiteError, match=r"1 character\(s\) not in the training text \('z'\)"):
        build_text(root, TINY_SHAKESPEARE, split="90/10/0", unknown="error", verify=False)


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"caf\xe9 latin-1", "is not UTF-8 text"),
    (b"First Citizen: another edition", "not the published"),
])
def test_bad_files_are_one_line(tmp_path, empty_roots, content, message):
    root = _root_with(empty_roots, content)
    with pytest.raises(GensuiteError, match=message) as err:
        build_text(root, TINY_SHAKESPEARE, verify=(message == "not the published"))
    assert "\n" not in str(err.value)


def test_a_missing_text_names_where_it_was_looked_for(empty_roots):
    with pytest.raises(GensuiteError, match="warandpeace/war_and_peace_pg2600.txt"):
        build_text(DataRoot(empty_roots), WAR_AND_PEACE)
