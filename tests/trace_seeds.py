"""The seeds' worked examples as traces (shared by the trace tests)."""

import tracegrad.numpy as tnp
from tracegrad import seeds
from tracegrad.traces import mse_step, trace


def seed002():
    return trace(lambda x1, x2: tnp.log(x1) + x1 * x2 - tnp.sin(x2), 2.0, 5.0)


def seed004_fn(x, w, b, y):
    v = w * x
    z = v + b
    h = tnp.relu(z)
    y_hat = h + z
    return mse_step(y_hat, y)


def seed004():
    return trace(seed004_fn, 5.0, 2.0, -3.0, 7.0, output_names="J")


def rss(w0, w1, w2):
    return (0 - tnp.sigmoid(w0 + w1 + 1.5 * w2)) ** 2 + (1 - tnp.sigmoid(w0 + 1.5 * w1 - w2)) ** 2


def seed000():
    return trace(rss, -1.0, 1.5, 0.5, fold_affine=True, output_names="L")


def sin_cos(w0, w1, x):
    u = w1 * x + w0
    return tnp.sin(u), tnp.cos(u)


def seed001():
    return trace(sin_cos, 0.5, 2.0, 1.5)


def seed003():
    return trace(seeds.sqrt_exp, 1.0)
