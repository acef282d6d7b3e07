"""Seed 001 (McGill COMP 551): the Iris network trained by gradient descent.

D = 2 features + 1 bias column, M = 16 logistic hidden units, C = 3 softmax outputs,
no bias vectors (the constant-1 input column plays that role), the cost
``−mean(Σ U·Y − logsumexp(U))`` (softmax cross-entropy from the logits ``U``), and the
slides' ``GD(X, Y, M, lr=.1, eps=1e-9, max_iters=...)`` loop with
``W = randn(M, K) * .01``, ``V = randn(D, M) * .01``, stopping when the gradient norm
falls below ``eps`` or after ``max_iters`` steps.

Run: ``python examples/iris_seed001.py [--max-iters 3000]``
"""

from __future__ import annotations

import argparse

import numpy as np

import tracegrad as tg


def load_data() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_iris  # optional extra, bundled data set

    iris = load_iris()
    X = iris.data[:, 2:4]  # two features: petal length and width
    X = (X - X.mean(0)) / X.std(0)
    X = np.hstack([X, np.ones((len(X), 1))])  # the bias "feature" x_0 = 1
    return X, iris.target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-iters", type=int, default=3000)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--eps", type=float, default=1e-9)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    X, y = load_data()
    D, M, C = X.shape[1], 16, 3
    # seed 001's initialisation, in its order: W first, then V
    np.random.seed(args.seed)
    W = np.random.randn(M, C) * 0.01
    V = np.random.randn(D, M) * 0.01
    model = tg.nn.MLP([D, M, C], ["sigmoid", "identity"], bias=False)
    model = tg.tree.unflatten(tg.tree.structure(model), [V, W])
    print(model)

    model, history = tg.fit(
        model,
        tg.nn.cross_entropy,
        X,
        y,
        tg.optim.SGD(lr=args.lr),
        batch_size=None,  # full batch: one gradient step per epoch, as in GD
        max_epochs=args.max_iters,
        tol=args.eps,
        metrics=["accuracy"],
        progress=False,
    )
    acc = tg.train.accuracy(model(X), y)
    print(f"{history.steps} steps, final cost {history.loss[-1]:.4f}; {history.stop_reason}")
    print(f"training accuracy: {acc:.3f}")


if __name__ == "__main__":
    main()
