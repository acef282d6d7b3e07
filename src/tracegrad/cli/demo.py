"""Print the lecture notes' worked examples with their derivatives in both modes."""

from __future__ import annotations

import argparse

import numpy as np

import tracegrad as tg
from tracegrad import seeds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--precision", type=int, default=4, help="digits after the point")


def _fmt(x: object, p: int) -> str:
    return np.array2string(
        np.asarray(x, dtype=float), precision=p, floatmode="maxprec", suppress_small=True
    )


def run(args: argparse.Namespace) -> int:
    p = args.precision
    print("Seed 002 (Imperial): f(x1, x2) = ln x1 + x1*x2 - sin x2 at (2, 5)")
    f, g = tg.value_and_grad(seeds.imperial_f, argnums=(0, 1))(2.0, 5.0)
    _, dx1 = tg.jvp(seeds.imperial_f, (2.0, 5.0), (1.0, 0.0))
    print(
        f"  f = {_fmt(f, p)}   reverse: (df/dx1, df/dx2) = {_fmt(g, p)}   "
        f"forward (x1 dot = 1): {_fmt(dx1, p)}"
    )

    print("Seed 004: v = w*x, z = v + b, h = relu(z), y_hat = h + z, J = (y_hat - y)^2")
    at = (5.0, 2.0, -3.0, 7.0)
    J, grads = tg.value_and_grad(seeds.mse_graph, argnums=(0, 1, 2, 3))(*at)
    print(f"  J = {_fmt(J, p)}   reverse: (x_bar, w_bar, b_bar, y_bar) = {_fmt(grads, p)}")
    for i, name in enumerate("xwby"):
        seed = tuple(1.0 if j == i else 0.0 for j in range(4))
        print(f"  forward, {name} dot = 1: J dot = {_fmt(tg.jvp(seeds.mse_graph, at, seed)[1], p)}")

    print("Seed 000 (Weimar): RSS of logistic regression at w = (-1, 1.5, 0.5)")
    w = np.array([-1.0, 1.5, 0.5])
    L, gw = tg.value_and_grad(seeds.logistic_rss)(w)
    print(
        f"  L = {_fmt(L, p)}   grad L = {_fmt(gw, p)}   "
        f"(finite differences: {_fmt(tg.numerical_grad(seeds.logistic_rss, w), p)})"
    )

    print("Seed 001 (McGill): y = (sin(w1 x + w0), cos(w1 x + w0)) at w0 = 0.5, w1 = 2, x = 1.5")
    y, dy = tg.jvp(seeds.sin_cos, (0.5, 2.0, 1.5), (0.0, 1.0, 0.0))
    print(f"  y = {_fmt(y, p)}   forward (w1 dot = 1): dy/dw1 = {_fmt(dy, p)}")

    print("Seed 003: f(x) = sqrt(x^2 + exp(x^2)) at x = 1")
    fx, dfx = tg.value_and_grad(seeds.sqrt_exp)(1.0)
    d2 = tg.grad(tg.grad(seeds.sqrt_exp))(1.0)
    print(f"  f = {_fmt(fx, p)}   f' = {_fmt(dfx, p)}   f'' = {_fmt(d2, p)}")
    return 0
