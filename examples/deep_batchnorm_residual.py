"""A deeper network with batch normalisation and skip connections (seed 001's last topics).

Handwritten digits (scikit-learn's bundled 8×8 ``load_digits``, 1797 images, 10
classes): a stem ``Linear → BatchNorm → ReLU``, residual blocks
``x + BN(Linear(ReLU(BN(Linear(x)))))`` each followed by ReLU, dropout and a linear
classifier, trained in float32 with Adam on mini-batches, a validation split for early
stopping, and a small L2 penalty on the weights. BatchNorm uses batch statistics while
training and its running statistics for evaluation; the trained model is saved and
loaded back before testing.

Run: ``python examples/deep_batchnorm_residual.py [--blocks 3] [--epochs 20]``
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile

import numpy as np

import tracegrad as tg

nn = tg.nn


def load_data(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits  # optional extra, bundled data set

    digits = load_digits()
    X = (digits.data / 16.0).astype(np.float32)
    y = digits.target
    perm = np.random.default_rng(seed).permutation(len(X))
    n_test = len(X) // 5
    return X[perm[n_test:]], y[perm[n_test:]], X[perm[:n_test]], y[perm[:n_test]]


def build(width: int, blocks: int, n_in: int, n_out: int, seed: int) -> nn.Module:
    rng = np.random.default_rng(seed)
    f32 = np.float32

    def block() -> nn.Module:
        body = nn.Sequential(
            nn.Linear(width, width, init="he_normal", rng=rng, dtype=f32),
            nn.BatchNorm(width, dtype=f32),
            "relu",
            nn.Linear(width, width, init="he_normal", rng=rng, dtype=f32),
            nn.BatchNorm(width, dtype=f32),
        )
        return nn.Residual(body)

    layers: list = [nn.Linear(n_in, width, init="he_normal", rng=rng, dtype=f32)]
    layers += [nn.BatchNorm(width, dtype=f32), "relu"]
    for _ in range(blocks):
        layers += [block(), "relu"]
    layers += [nn.Dropout(0.1), nn.Linear(width, n_out, rng=rng, dtype=f32)]
    return nn.Sequential(*layers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    X, y, X_test, y_test = load_data(args.seed)
    model = build(args.width, args.blocks, X.shape[1], 10, args.seed)
    print(model)
    steps_per_epoch = math.ceil(round(0.9 * len(X)) / args.batch_size)
    model, history = tg.fit(
        model,
        nn.cross_entropy,
        X,
        y,
        tg.optim.Adam(lr=tg.optim.cosine_decay(3e-3, total_steps=args.epochs * steps_per_epoch)),
        batch_size=args.batch_size,
        max_epochs=args.epochs,
        patience=5,
        restore_best=True,
        validation_split=0.1,
        metrics=["accuracy"],
        penalty=lambda m: nn.l2_penalty(m, 1e-4),
        seed=args.seed,
    )
    print(f"{history.epochs} epochs, {history.steps} steps; {history.stop_reason}")
    print(f"validation accuracy: {history['val_accuracy'][-1]:.3f}")

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "digits_model.npz")
        nn.save(path, model)
        model = nn.load(path)
    dtypes = {str(p.dtype) for p in model.parameters()}
    print(f"parameters after save/load: {model.num_params():,} ({', '.join(sorted(dtypes))})")
    print(f"test accuracy: {tg.train.accuracy(model(X_test), y_test):.3f}")


if __name__ == "__main__":
    main()
