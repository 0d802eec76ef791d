"""The book-compatible interface: mnist_loader, network2 and the chapter's snippets.

The default run uses a small MNIST stand-in (scikit-learn's 8x8 digits blown
up to 28x28, 1,797 images) put behind ``mnist_loader``, so every snippet of
the chapter runs verbatim in seconds. Tests marked ``mnist`` use the real data.
"""

import json
import re
import types

import numpy as np
import pytest

import nndl
from nndl import mnist_loader, network2

# --------------------------------------------------------------------------- data


def _digits_as_mnist():
    """sklearn's digits as 28x28 images in [0, 1): each pixel a 3x3 block, 2-pixel border."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    imgs = np.kron(X.reshape(-1, 8, 8) / 16.0, np.ones((3, 3)))
    imgs = np.pad(imgs, ((0, 0), (2, 2), (2, 2))) * (255 / 256)
    return imgs.reshape(-1, 784).astype(np.float32), y.astype(np.int64)


_DIGITS = None


def _fake_splits(**kwargs):
    global _DIGITS
    if _DIGITS is None:
        _DIGITS = _digits_as_mnist()
    X, y = _DIGITS
    part = lambda s: types.SimpleNamespace(X=X[s], y=y[s])  # noqa: E731
    return types.SimpleNamespace(
        train=part(slice(0, 1000)), validation=part(slice(1000, 1400)), test=part(slice(1400, None))
    )


@pytest.fixture
def small_mnist(monkeypatch):
    """Put the digits stand-in behind mnist_loader (1,000 / 400 / 397 images)."""
    monkeypatch.setattr(mnist_loader, "_splits", _fake_splits)


@pytest.fixture
def data(small_mnist):
    return mnist_loader.load_data_wrapper()


# ------------------------------------------------------------------ mnist_loader


def test_load_data_gives_the_books_tuples_of_arrays(small_mnist):
    parts = mnist_loader.load_data()
    assert isinstance(parts, tuple) and len(parts) == 3
    for (X, y), m in zip(parts, (1000, 400, 397), strict=True):
        assert X.shape == (m, 784) and X.dtype == np.float32
        assert y.shape == (m,) and y.dtype == np.int64
        assert 0 <= X.min() and X.max() < 1


def test_load_data_wrapper_gives_lists_of_column_vector_pairs(small_mnist):
    training, validation, test = mnist_loader.load_data_wrapper()
    assert [type(d) for d in (training, validation, test)] == [list, list, list]
    assert (len(training), len(validation), len(test)) == (1000, 400, 397)
    x, y = training[0]
    assert x.shape == (784, 1) and y.shape == (10, 1)
    assert y.sum() == 1 and y.dtype == np.float64
    (X, labels), _, _ = mnist_loader.load_data()
    np.testing.assert_array_equal(x[:, 0], X[0])
    assert int(np.argmax(y)) == labels[0]
    xv, yv = validation[0]
    assert xv.shape == (784, 1)
    assert isinstance(yv, (int, np.integer)) and 0 <= yv <= 9
    # Lists, not zip iterators: they slice and can be used twice.
    assert len(training[:500]) == 500 and len(list(test)) == len(list(test)) == 397


def test_vectorized_result():
    e = mnist_loader.vectorized_result(3)
    assert e.shape == (10, 1) and e[3, 0] == 1.0 and e.sum() == 1.0
    with pytest.raises(ValueError, match="j"):
        network2.vectorized_result(10)


# --------------------------------------------------------------------- snippets

# The chapter's interactive sessions, in Python 3, each run unchanged after
#   from nndl import mnist_loader, network2
#   training_data, validation_data, test_data = mnist_loader.load_data_wrapper()
SNIPPETS = {
    "cross_entropy_30": """
net = network2.Network([784, 30, 10], cost=network2.CrossEntropyCost)
net.large_weight_initializer()
result = net.SGD(training_data, 30, 10, 0.5, evaluation_data=test_data,
    monitor_evaluation_accuracy=True)
""",
    "cross_entropy_100": """
net = network2.Network([784, 100, 10], cost=network2.CrossEntropyCost)
net.large_weight_initializer()
result = net.SGD(training_data, 30, 10, 0.5, evaluation_data=test_data,
    monitor_evaluation_accuracy=True)
""",
    "overfitting": """
net = network2.Network([784, 30, 10], cost=network2.CrossEntropyCost)
net.large_weight_initializer()
result = net.SGD(training_data[:1000], 400, 10, 0.5, evaluation_data=test_data,
    monitor_evaluation_accuracy=True, monitor_training_cost=True)
""",
    "regularized_1000": """
net = network2.Network([784, 30, 10], cost=network2.CrossEntropyCost)
net.large_weight_initializer()
result = net.SGD(training_data[:1000], 400, 10, 0.5,
    evaluation_data=test_data, lmbda = 0.1,
    monitor_evaluation_cost=True, monitor_evaluation_accuracy=True,
    monitor_training_cost=True, monitor_training_accuracy=True)
""",
    "regularized_full": """
net = network2.Network([784, 30, 10], cost=network2.CrossEntropyCost)
net.large_weight_initializer()
result = net.SGD(training_data, 30, 10, 0.5,
    evaluation_data=test_data, lmbda = 5.0,
    monitor_evaluation_accuracy=True, monitor_training_accuracy=True)
""",
    "regularized_100_hidden": """
net = network2.Network([784, 100, 10], cost=network2.CrossEntropyCost)
net.large_weight_initializer()
result = net.SGD(training_data, 60, 10, 0.1, lmbda=5.0,
    evaluation_data=validation_data,
    monitor_evaluation_accuracy=True)
""",
    "large_init": """
net = network2.Network([784, 30, 10], cost=network2.CrossEntropyCost)
net.large_weight_initializer()
result = net.SGD(training_data, 30, 10, 0.1, lmbda = 5.0,
    evaluation_data=validation_data,
    monitor_evaluation_accuracy=True)
""",
    "default_init": """
net = network2.Network([784, 30, 10], cost=network2.CrossEntropyCost)
result = net.SGD(training_data, 30, 10, 0.1, lmbda = 5.0,
    evaluation_data=validation_data,
    monitor_evaluation_accuracy=True)
""",
    "broad_strategy_diverging": """
net = network2.Network([784, 10])
result = net.SGD(training_data[:1000], 30, 10, 10.0, lmbda = 1000.0,
    evaluation_data=validation_data[:100],
    monitor_evaluation_accuracy=True)
""",
    "broad_strategy_lmbda_20": """
net = network2.Network([784, 10])
result = net.SGD(training_data[:1000], 30, 10, 10.0, lmbda = 20.0,
    evaluation_data=validation_data[:100],
    monitor_evaluation_accuracy=True)
""",
    "broad_strategy_eta_100": """
net = network2.Network([784, 10])
result = net.SGD(training_data[:1000], 30, 10, 100.0, lmbda = 20.0,
    evaluation_data=validation_data[:100],
    monitor_evaluation_accuracy=True)
""",
    "broad_strategy_eta_1": """
net = network2.Network([784, 10])
result = net.SGD(training_data[:1000], 30, 10, 1.0, lmbda = 20.0,
    evaluation_data=validation_data[:100],
    monitor_evaluation_accuracy=True)
""",
    "broad_strategy_hidden_diverging": """
net = network2.Network([784, 30, 10])
result = net.SGD(training_data[:1000], 30, 10, 10.0, lmbda = 1000.0,
    evaluation_data=validation_data[:100],
    monitor_evaluation_accuracy=True)
""",
}

_FLAG_LINES = [
    ("monitor_training_cost", "Cost on training data: "),
    ("monitor_training_accuracy", "Accuracy on training data: "),
    ("monitor_evaluation_cost", "Cost on evaluation data: "),
    ("monitor_evaluation_accuracy", "Accuracy on evaluation data: "),
]


def _run_snippet(code: str):
    ns = {}
    exec(
        "from nndl import mnist_loader, network2\n"
        "training_data, validation_data, test_data = mnist_loader.load_data_wrapper()\n" + code,
        ns,
    )
    return ns


def _check_snippet_output(code, ns, out):
    epochs = int(re.search(r"SGD\([^,]+, (\d+),", code).group(1))
    flags = [f for f, _ in _FLAG_LINES if f"{f}=True" in code]
    result = ns["result"]
    assert isinstance(result, tuple) and len(result) == 4
    assert all(isinstance(r, list) for r in result)
    eval_cost, eval_acc, train_cost, train_acc = result
    diverged = "Training stopped" in out
    done = out.count("training complete")
    assert done == epochs if not diverged else done < epochs
    order = [
        "monitor_evaluation_cost",
        "monitor_evaluation_accuracy",
        "monitor_training_cost",
        "monitor_training_accuracy",
    ]
    for lst, flag in zip(result, order, strict=True):
        assert len(lst) == (done if flag in flags else 0), flag
    assert all(isinstance(c, int) for c in eval_acc + train_acc)
    assert all(isinstance(c, float) and np.isfinite(c) for c in eval_cost + train_cost)
    # The book's printout: one block per epoch, the monitored lines in its order.
    block = ["Epoch j training complete"] + [t for f, t in _FLAG_LINES if f in flags]
    lines = out.splitlines()
    for j in range(done):
        start = lines.index(f"Epoch {j} training complete")
        for k, prefix in enumerate(block[1:], 1):
            assert lines[start + k].startswith(prefix), (j, lines[start + k])
        assert lines[start + len(block)] == ""
    n_eval = len(ns["validation_data"][:100]) if "[:100]" in code else None
    if "monitor_evaluation_accuracy=True" in code and n_eval:
        assert f"Accuracy on evaluation data: {eval_acc[0]} / {n_eval}" in out
    net = ns["net"]
    assert all(np.isfinite(w).all() for w in net.weights)
    return diverged


# The two 400-epoch runs take half a minute here: the default run cuts them to
# 40 epochs (nothing else changes); ``-m slow`` runs them verbatim.
LONG = ("overfitting", "regularized_1000")


def _shortened(code: str) -> str:
    return code.replace(", 400, 10,", ", 40, 10,")


@pytest.mark.parametrize("name", list(SNIPPETS))
def test_chapter_snippet_runs_unchanged(name, small_mnist, capsys):
    code = _shortened(SNIPPETS[name]) if name in LONG else SNIPPETS[name]
    _check_snippet(name, code, capsys)


@pytest.mark.slow
@pytest.mark.parametrize("name", LONG)
def test_long_chapter_snippet_runs_verbatim(name, small_mnist, capsys):
    _check_snippet(name, SNIPPETS[name], capsys)


def _check_snippet(name, code, capsys):
    ns = _run_snippet(code)
    out = capsys.readouterr().out
    diverged = _check_snippet_output(code, ns, out)
    # The book's broad-strategy runs with eta=10, lmbda=1000 on 1,000 images have a
    # weight-decay factor of 1 - 10*1000/1000 = -9: they diverge, and the facade
    # says so and stops instead of carrying nan weights.
    assert diverged == name.endswith("diverging")
    if diverged:
        assert "1 - eta*lmbda/n" in out and "-9" in out
    if name == "default_init":  # and it learns: digits are easy
        assert ns["result"][1][-1] >= 0.85 * len(ns["validation_data"])


# ------------------------------------------------------------------ the network


def _tiny_data(rng, m=40, n_in=6, k=3, one_hot=True):
    X = rng.random((m, n_in))
    y = rng.integers(0, k, m)
    if one_hot:
        return [(x[:, None], network2.vectorized_result(j, k)) for x, j in zip(X, y, strict=True)]
    return [(x[:, None], j) for x, j in zip(X, y, strict=True)]


def _book_feedforward(weights, biases, a):
    for w, b in zip(weights, biases, strict=True):
        a = 1.0 / (1.0 + np.exp(-(w @ a + b)))
    return a


def test_feedforward_matches_the_books_column_formula():
    net = network2.Network([6, 5, 3], seed=0)
    rng = np.random.default_rng(1)
    a = rng.random((6, 1))
    out = net.feedforward(a)
    assert out.shape == (3, 1)
    np.testing.assert_allclose(out, _book_feedforward(net.weights, net.biases, a), rtol=1e-12)
    batch = rng.random((6, 4))  # four inputs as columns
    np.testing.assert_allclose(
        net.feedforward(batch), _book_feedforward(net.weights, net.biases, batch), rtol=1e-12
    )
    assert net.feedforward(a[:, 0]).shape == (3,)
    with pytest.raises(ValueError, match=r"\(6, 1\)"):
        net.feedforward(np.zeros((5, 1)))


def test_weights_and_biases_look_like_the_books_and_stay_in_sync():
    net = network2.Network([4, 3, 2], seed=0)
    assert [w.shape for w in net.weights] == [(3, 4), (2, 3)]
    assert [b.shape for b in net.biases] == [(3, 1), (2, 1)]
    core = net.network
    net.biases[0][1, 0] = 7.0  # in place through the view
    assert core.biases[0][1] == 7.0
    net.weights[1] *= 0.0
    assert not core.weights[1].any()
    net.biases[1] = np.array([[1.0], [2.0]])  # item assignment is copied in
    np.testing.assert_array_equal(core.biases[1], [1.0, 2.0])
    net.weights = [np.ones((3, 4)), np.full((2, 3), 2.0)]  # whole-list assignment
    assert core.weights[0].sum() == 12 and core.weights[1].sum() == 12
    with pytest.raises(ValueError, match=r"weights\[0\] must have shape \(3, 4\)"):
        net.weights[0] = np.ones((4, 3))
    with pytest.raises(ValueError, match="2 arrays"):
        net.biases = [np.zeros((3, 1))]
    with pytest.raises(TypeError, match="fixed"):
        net.weights.append(np.zeros((1, 1)))


def test_initializers_have_the_books_spreads():
    net = network2.Network([400, 300, 10], seed=0)
    assert abs(net.weights[0].std() - 1 / np.sqrt(400)) < 0.005
    assert abs(net.biases[0].std() - 1.0) < 0.15
    net.large_weight_initializer()
    assert abs(net.weights[0].std() - 1.0) < 0.02
    net.default_weight_initializer()
    assert abs(net.weights[0].std() - 0.05) < 0.005


def test_seed_makes_runs_repeatable_and_default_is_random():
    rng = np.random.default_rng(0)
    data = _tiny_data(rng)
    a = network2.Network([6, 4, 3], seed=5)
    b = network2.Network([6, 4, 3], seed=5)
    a.SGD(data, 3, 7, 0.5, file=_Sink())
    b.SGD(data, 3, 7, 0.5, file=_Sink())
    for wa, wb in zip(a.weights + a.biases, b.weights + b.biases, strict=True):
        np.testing.assert_array_equal(wa, wb)
    c, d = network2.Network([6, 4, 3]), network2.Network([6, 4, 3])
    assert not np.array_equal(c.weights[0], d.weights[0])


class _Sink:
    def write(self, s):
        pass

    def flush(self):
        pass


def test_sgd_leaves_the_callers_list_alone():
    data = _tiny_data(np.random.default_rng(0))
    before = [id(p) for p in data]
    copies = [(x.copy(), y.copy()) for x, y in data]
    network2.Network([6, 4, 3], seed=0).SGD(data, 2, 5, 0.5, file=_Sink())
    assert [id(p) for p in data] == before
    for (x, y), (x0, y0) in zip(data, copies, strict=True):
        np.testing.assert_array_equal(x, x0)
        np.testing.assert_array_equal(y, y0)


def _book_gradients(net, data, cost):
    """Backprop one example at a time with the book's column-vector equations."""
    ws, bs = net.weights, net.biases
    nabla_w = [np.zeros_like(w) for w in ws]
    nabla_b = [np.zeros_like(b) for b in bs]
    for x, y in data:
        a, acts, zs = x, [x], []
        for w, b in zip(ws, bs, strict=True):
            z = w @ a + b
            zs.append(z)
            a = 1.0 / (1.0 + np.exp(-z))
            acts.append(a)
        delta = cost.delta(zs[-1], acts[-1], y)
        for l in range(len(ws) - 1, -1, -1):
            nabla_w[l] += delta @ acts[l].T
            nabla_b[l] += delta
            if l:
                s = 1.0 / (1.0 + np.exp(-zs[l - 1]))
                delta = (ws[l].T @ delta) * s * (1 - s)
    return nabla_w, nabla_b


@pytest.mark.parametrize("cost", [network2.CrossEntropyCost, network2.QuadraticCost()])
def test_one_sgd_step_is_the_books_update(cost):
    data = _tiny_data(np.random.default_rng(3), m=12)
    net = network2.Network([6, 5, 3], cost=cost, seed=1)
    eta, lmbda, n = 0.7, 2.0, len(data)
    nabla_w, nabla_b = _book_gradients(net, data, cost)
    decay = 1 - eta * lmbda / n
    want_w = [decay * w - eta / n * nw for w, nw in zip(net.weights, nabla_w, strict=True)]
    want_b = [b - eta / n * nb for b, nb in zip(net.biases, nabla_b, strict=True)]
    net.SGD(data, 1, n, eta, lmbda=lmbda, file=_Sink())  # one mini-batch of all n examples
    for got, want in zip(net.weights + net.biases, want_w + want_b, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_accuracy_is_a_count_and_convert_is_not_needed():
    rng = np.random.default_rng(0)
    net = network2.Network([6, 4, 3], seed=0)
    data = _tiny_data(rng, one_hot=False)
    want = sum(int(np.argmax(net.feedforward(x)) == y) for x, y in data)
    got = net.accuracy(data)
    assert isinstance(got, int) and got == want
    one_hot = [(x, network2.vectorized_result(y, 3)) for x, y in data]
    assert net.accuracy(one_hot, convert=True) == net.accuracy(one_hot) == want


def test_total_cost_uses_the_training_set_size_for_the_penalty():
    rng = np.random.default_rng(0)
    train = _tiny_data(rng, m=40)
    evaluation = _tiny_data(rng, m=10, one_hot=False)
    net = network2.Network([6, 4, 3], seed=0)
    sq = sum(float(np.sum(w * w)) for w in net.weights)

    def mean_cost(data):
        total = 0.0
        for x, y in data:
            t = y if np.ndim(y) else network2.vectorized_result(y, 3)
            total += network2.CrossEntropyCost.fn(net.feedforward(x), t)
        return total / len(data)

    # Untrained: n is the size of the data given.
    assert net.total_cost(train, 3.0) == pytest.approx(mean_cost(train) + 1.5 / 40 * sq)
    net.SGD(train, 1, 10, 0.1, file=_Sink())
    sq = sum(float(np.sum(w * w)) for w in net.weights)
    got = net.total_cost(evaluation, 3.0, convert=True)
    assert got == pytest.approx(mean_cost(evaluation) + 1.5 / 40 * sq)  # n = 40, not 10
    assert net.total_cost(evaluation, 3.0, n=10) == pytest.approx(mean_cost(evaluation) + 0.15 * sq)


def test_cost_classes_have_the_books_static_functions():
    a, y = np.array([[0.8], [0.1]]), np.array([[1.0], [0.0]])
    z = np.log(a / (1 - a))
    ce = -(np.log(0.8) + np.log(0.9))
    assert network2.CrossEntropyCost.fn(a, y) == pytest.approx(ce)
    np.testing.assert_allclose(network2.CrossEntropyCost.delta(z, a, y), a - y)
    assert network2.QuadraticCost.fn(a, y) == pytest.approx(0.5 * (0.04 + 0.01))
    np.testing.assert_allclose(
        network2.QuadraticCost.delta(z, a, y), (a - y) * network2.sigmoid_prime(z)
    )
    with np.errstate(all="raise"):  # saturated outputs stay finite, without warnings
        assert network2.CrossEntropyCost.fn(np.array([1.0, 0.0]), np.array([1.0, 0.0])) == 0
        assert np.isfinite(network2.CrossEntropyCost.fn(np.array([0.0]), np.array([1.0])))
    assert network2.sigmoid(0.0) == 0.5
    assert network2.sigmoid(-1e4) == 0.0


def test_a_cost_class_of_ones_own_is_used_through_delta():
    class MyCrossEntropy:
        @staticmethod
        def fn(a, y):
            return float(np.sum(-y * np.log(a) - (1 - y) * np.log(1 - a)))

        @staticmethod
        def delta(z, a, y):
            return a - y

    data = _tiny_data(np.random.default_rng(0))
    mine = network2.Network([6, 4, 3], cost=MyCrossEntropy, seed=2)
    ours = network2.Network([6, 4, 3], cost=network2.CrossEntropyCost, seed=2)
    r1 = mine.SGD(data, 2, 8, 0.5, monitor_training_cost=True, file=_Sink())
    r2 = ours.SGD(data, 2, 8, 0.5, monitor_training_cost=True, file=_Sink())
    for a, b in zip(mine.weights, ours.weights, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    np.testing.assert_allclose(r1[2], r2[2], rtol=1e-10)
    with pytest.raises(ValueError, match="custom class MyCrossEntropy"):
        mine.save("never-written.json")
    with pytest.raises(TypeError, match="fn"):
        network2.Network([2, 2], cost="cross_entropy")


# ------------------------------------------------------------------ save / load


def test_save_writes_the_books_format_and_loads_in_both_apis(tmp_path):
    net = network2.Network([5, 4, 3], cost=network2.QuadraticCost(), seed=0)  # an instance
    path = tmp_path / "book.json"
    net.save(path)
    doc = json.loads(path.read_text())
    assert set(doc) == {"sizes", "weights", "biases", "cost"}
    assert doc["cost"] == "QuadraticCost"
    assert np.array(doc["biases"][0]).shape == (4, 1)
    x = np.random.default_rng(0).random((5, 1))
    back = network2.load(path)
    assert back.cost is network2.QuadraticCost
    np.testing.assert_array_equal(back.feedforward(x), net.feedforward(x))
    core = nndl.load(path)
    assert core.cost.name == "quadratic"
    np.testing.assert_array_equal(core.predict_proba(x.T).T, net.feedforward(x))


def test_nndl_files_load_through_network2_and_back(tmp_path):
    core = nndl.Network([5, 4, 3], cost="cross_entropy", seed=3)
    nndl.save(core, tmp_path / "core.json")
    net = network2.load(tmp_path / "core.json")
    assert net.cost is network2.CrossEntropyCost and net.sizes == [5, 4, 3]
    X = np.random.default_rng(0).random((7, 5))
    np.testing.assert_array_equal(net.feedforward(X.T).T, core.predict_proba(X))
    nndl.save(net.network, tmp_path / "again.json")  # the main API on the facade's network
    np.testing.assert_array_equal(
        nndl.load(tmp_path / "again.json").predict_proba(X), core.predict_proba(X)
    )


def test_load_refuses_networks_the_book_cannot_express(tmp_path):
    nndl.save(nndl.Network([4, 3, 2], hidden_activation="relu", seed=0), tmp_path / "r.json")
    with pytest.raises(ValueError, match="relu"):
        network2.load(tmp_path / "r.json")
    (tmp_path / "bad.json").write_text('{"sizes": [2, 2], "cost": "os.system"}')
    with pytest.raises(ValueError):
        network2.load(tmp_path / "bad.json")


# ----------------------------------------------------------------- bad input


def test_bad_arguments_name_the_problem():
    net = network2.Network([6, 4, 3], seed=0)
    data = _tiny_data(np.random.default_rng(0))
    with pytest.raises(ValueError, match="eta"):
        net.SGD(data, 1, 10, -0.5)
    with pytest.raises(ValueError, match="mini_batch_size"):
        net.SGD(data, 1, 0, 0.5)
    with pytest.raises(ValueError, match="lmbda"):
        net.SGD(data, 1, 10, 0.5, lmbda=-1)
    with pytest.raises(ValueError, match="need evaluation_data"):
        net.SGD(data, 1, 10, 0.5, monitor_evaluation_accuracy=True)
    with pytest.raises(ValueError, match=r"\(6, 1\)"):
        net.SGD([(np.zeros((5, 1)), network2.vectorized_result(0, 3))], 1, 10, 0.5)
    with pytest.raises(ValueError, match="empty"):
        net.SGD([], 1, 10, 0.5)
    with pytest.raises(TypeError, match="pairs"):
        net.accuracy(np.zeros((3, 6)))
    bad = [(np.full((6, 1), np.nan), network2.vectorized_result(0, 3))]
    with pytest.raises(ValueError, match="nan"):
        net.SGD(bad, 1, 10, 0.5)


def test_early_stopping_n_stops_when_accuracy_stalls(capsys):
    rng = np.random.default_rng(0)
    train, evaluation = _tiny_data(rng), _tiny_data(rng, one_hot=False)
    net = network2.Network([6, 4, 3], seed=0)
    result = net.SGD(
        train,
        200,
        10,
        1e-6,
        evaluation_data=evaluation,
        monitor_evaluation_accuracy=True,
        early_stopping_n=3,
    )
    out = capsys.readouterr().out
    assert "Early stopping" in out
    assert len(result[1]) == 4  # the first epoch sets the best, three more without change


# --------------------------------------------------------------------- real MNIST


# The conftest's ``mnist`` fixture fetches the data once, or skips (fails under
# NNDL_REQUIRE_MNIST=1) when it cannot be had; the loader then reads the cache.


@pytest.mark.mnist
def test_real_mnist_layout_and_a_short_run(mnist, capsys):
    training_data, validation_data, test_data = mnist_loader.load_data_wrapper()
    assert (len(training_data), len(validation_data), len(test_data)) == (50000, 10000, 10000)
    x, y = training_data[0]
    assert x.shape == (784, 1) and y.shape == (10, 1) and int(np.argmax(y)) == mnist.train.y[0]
    assert isinstance(test_data[0][1], np.integer)
    net = network2.Network([784, 30, 10], cost=network2.CrossEntropyCost)
    result = net.SGD(
        training_data[:1000],
        2,
        10,
        0.5,
        evaluation_data=validation_data[:100],
        monitor_evaluation_accuracy=True,
    )
    assert len(result[1]) == 2 and "Accuracy on evaluation data:" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.mnist
def test_real_mnist_first_snippet_reaches_the_books_accuracy(mnist, capsys):
    ns = _run_snippet(SNIPPETS["cross_entropy_30"])
    capsys.readouterr()
    # The book reports 95.49% for this run; allow for the random start.
    assert ns["result"][1][-1] >= 9400
