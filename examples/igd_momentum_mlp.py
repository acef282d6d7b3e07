"""Seed 000 (Weimar ML:IV): incremental gradient descent for a d-layer MLP with momentum.

The network of the IGD_MLP_d algorithm: a tanh first layer, ReLU middle layers and a
softmax output; the loss is the cross-entropy ``ℓ(c, y) = −Σ c log y`` of the softmax
outputs; ``∇L(w) = autodiff(L, w)`` (here ``tg.value_and_grad`` inside ``tg.fit``); one
weight update per example (``batch_size=1``) with the momentum rule
``ΔW(t) = η·∇L + α·ΔW(t−1)``; at most ``t_max`` passes over the data.

Run: ``python examples/igd_momentum_mlp.py [--depth 4] [--t-max 20]``
"""

from __future__ import annotations

import argparse

import numpy as np

import tracegrad as tg
import tracegrad.numpy as tnp


def load_data(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_wine  # optional extra, bundled data set

    data = load_wine()
    X, y = data.data, data.target
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(X))
    test, train = perm[: len(X) // 4], perm[len(X) // 4 :]
    mu, sd = X[train].mean(0), X[train].std(0)
    X = (X - mu) / sd
    return X[train], y[train], X[test], y[test]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=4, help="d, the number of layers")
    parser.add_argument("--hidden", type=int, default=16)
    parser.add_argument("--lr", type=float, default=0.01, help="η")
    parser.add_argument("--momentum", type=float, default=0.5, help="α")
    parser.add_argument("--t-max", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    X, y, X_test, y_test = load_data(args.seed)
    k = int(y.max()) + 1
    d = args.depth
    sizes = [X.shape[1]] + [args.hidden] * (d - 1) + [k]
    activations = ["tanh"] + ["relu"] * (d - 2) + ["softmax"]
    model = tg.nn.MLP(sizes, activations, rng=args.seed)  # biases = the x_0 = 1 weights
    print(model)

    def loss(probs: object, c: object) -> object:
        return tg.nn.nll(tnp.log(probs), c)  # −Σ c log y(x)

    model, history = tg.fit(
        model,
        loss,
        X,
        y,
        tg.optim.SGD(lr=args.lr, momentum=args.momentum),
        batch_size=1,  # IGD: update after every example
        max_epochs=args.t_max,
        seed=args.seed,
        metrics=["accuracy"],
        progress=False,
    )
    print(f"{history.epochs} epochs, {history.steps} updates; {history.stop_reason}")
    print(f"training accuracy: {history['accuracy'][-1]:.3f}")
    print(f"test accuracy: {tg.train.accuracy(model(X_test), y_test):.3f}")


if __name__ == "__main__":
    main()
