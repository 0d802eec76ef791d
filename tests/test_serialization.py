"""Save/load round trips, the book's network2 format, malformed files refused."""

import itertools
import json

import numpy as np
import pytest

from nndl import Network, load, save
from nndl.serialization import FORMAT_VERSION, MAX_PARAMS, to_dict


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(),
        dict(hidden_activation=["tanh", "relu"], cost="log_likelihood", dropout=[0.5, 0.2]),
        dict(cost="quadratic", output_activation="linear", initializer="he", dtype="float32"),
    ],
)
def test_round_trip_gives_identical_predictions_and_config(tmp_path, kwargs):
    net = Network([6, 5, 4, 3], seed=0, **kwargs)
    path = save(net, tmp_path / "m.json", metadata={"note": "hi"})
    back = load(path)
    assert back.config == net.config
    X = np.random.default_rng(0).random((10, 6))
    np.testing.assert_array_equal(back.predict_proba(X), net.predict_proba(X))
    for a, b in zip(back.params(), net.params(), strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    assert back.metadata == {"note": "hi"}


def _book_doc(sizes=(3, 4, 2), cost="CrossEntropyCost", seed=0):
    rng = np.random.default_rng(seed)
    sizes = list(sizes)
    return {
        "sizes": sizes,
        "weights": [rng.normal(size=(o, i)).tolist() for i, o in itertools.pairwise(sizes)],
        "biases": [rng.normal(size=(o, 1)).tolist() for o in sizes[1:]],
        "cost": cost,
    }


@pytest.mark.parametrize(
    "cost,name", [("CrossEntropyCost", "cross_entropy"), ("QuadraticCost", "quadratic")]
)
def test_book_network2_format_loads(tmp_path, cost, name):
    doc = _book_doc(cost=cost)
    p = tmp_path / "book.json"
    p.write_text(json.dumps(doc))
    net = load(p)
    assert net.cost.name == name and net.sizes == [3, 4, 2]
    x = np.array([[0.1, 0.2, 0.3]])
    # Same numbers as the book's column-vector feedforward.
    a = x.T
    for w, b in zip(doc["weights"], doc["biases"], strict=True):
        a = 1 / (1 + np.exp(-(np.array(w) @ a + np.array(b))))
    np.testing.assert_allclose(net.predict_proba(x), a.T, rtol=1e-12)


def _corrupt(doc_changes=None, drop=None):
    net = Network([3, 4, 2], seed=0)
    doc = to_dict(net)
    for k in drop or ():
        doc.pop(k)
    doc.update(doc_changes or {})
    return json.dumps(doc)


GOOD = to_dict(Network([3, 4, 2], seed=0))
MALFORMED = [
    ("not JSON", "{not json", "not valid JSON"),
    ("truncated", json.dumps(GOOD)[:-40], "not valid JSON"),
    ("a list", "[1, 2, 3]", "JSON object"),
    ("unknown key", _corrupt({"evil": 1}), "unknown key"),
    ("missing key", _corrupt(drop=["weights"]), "missing key"),
    ("future version", _corrupt({"version": FORMAT_VERSION + 1}), "unsupported format version"),
    ("wrong format name", _corrupt({"format": "pickle"}), "format must be"),
    ("unknown cost", _corrupt({"cost": "os.system"}), "unknown cost"),
    ("unknown activation", _corrupt({"hidden_activation": ["__import__"]}), "unknown activation"),
    ("size zero", _corrupt({"sizes": [3, 0, 2]}), "positive integers"),
    ("size float", _corrupt({"sizes": [3, 4.0, 2]}), "positive integers"),
    ("size string", _corrupt({"sizes": [3, "4", 2]}), "positive integers"),
    ("shape mismatch", _corrupt({"sizes": [3, 5, 2]}), "rows"),
    (
        "ragged",
        _corrupt({"weights": [[[1, 2, 3]] * 3 + [[1, 2]], GOOD["weights"][1]]}),
        "row 3 must hold 3",
    ),
    (
        "string in array",
        _corrupt({"weights": [[["1", 2, 3]] * 4, GOOD["weights"][1]]}),
        "non-number",
    ),
    (
        "boolean in array",
        _corrupt({"weights": [[[True, 2, 3]] * 4, GOOD["weights"][1]]}),
        "non-number",
    ),
    ("NaN literal", json.dumps(GOOD).replace(str(GOOD["biases"][0][0]), "NaN", 1), "NaN"),
    (
        "Infinity literal",
        json.dumps(GOOD).replace(str(GOOD["biases"][0][0]), "Infinity", 1),
        "Infinity",
    ),
    ("huge number", json.dumps(GOOD).replace(str(GOOD["biases"][0][0]), "1e999", 1), "too large"),
    ("too many parameters", _corrupt({"sizes": [100000, 100000, 10]}), "over the cap"),
    ("deep nesting", "[" * 100000 + "]" * 100000, "nested too deeply"),
    ("bad dtype", _corrupt({"dtype": "float16"}), "dtype"),
    ("bad dropout", _corrupt({"dropout": [1.5]}), "dropout"),
    ("book format unknown cost", json.dumps(_book_doc(cost="LogLikelihoodCost")), "unknown cost"),
]


@pytest.mark.parametrize("text,match", [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_files_are_refused(tmp_path, text, match):
    p = tmp_path / "bad.json"
    p.write_text(text)
    with pytest.raises(ValueError, match=match):
        load(p)


def test_binary_file_is_refused(tmp_path):
    p = tmp_path / "bad.json"
    p.write_bytes(b"\x80\x81\xff" * 10)
    with pytest.raises(ValueError, match="not a text"):
        load(p)


def test_save_is_atomic_and_keeps_old_file_on_failure(tmp_path, monkeypatch):
    net = Network([3, 2], seed=0)
    path = save(net, tmp_path / "m.json")
    before = path.read_bytes()
    import nndl._io as io

    def interrupted(src, dst):
        raise KeyboardInterrupt  # as if Ctrl-C arrived just before the rename

    monkeypatch.setattr(io.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save(Network([3, 2], seed=1), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_cap_is_checked_before_allocating():
    assert MAX_PARAMS < 100000 * 100000


def test_atomic_writes_get_the_usual_permissions(tmp_path):
    import os

    from nndl._io import atomic_write_text

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "f.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == 0o644
