"""The display templates of tracegrad's primitives: one line each (a :func:`display` call,
or an entry of the list of generic ones at the end).

Partials are functions of the operands and the output written with
:mod:`tracegrad.traces.symbolic`; the tables show them and tests check their numbers
against each primitive's VJP rule. A new primitive needs a line here (tests fail until
it has one): a formula, or an entry of the generic list for one with no short formula.
"""

from __future__ import annotations

import tracegrad.numpy as tnp
from tracegrad.core import shapes
from tracegrad.nn import functional as nnf
from tracegrad.numpy import (
    box_methods,
    contractions,
    decompositions,
    elementwise,
    indexing,
    linalg,
    reductions,
    special,
    ufuncs,
)
from tracegrad.numpy.shape import _concatenate, _transpose
from tracegrad.traces.registry import GENERIC, display
from tracegrad.traces.symbolic import (
    cos,
    cosh,
    exp,
    heaviside,
    ln,
    sigmoid,
    sign,
    sin,
    sinh,
    sqrt,
    tanh,
)

__all__: list[str] = []


def _any(traced: list[int]) -> bool:
    return True


def _one_operand(traced: list[int]) -> bool:  # c · v is affine, v · w is not
    return len(traced) == 1


def _numerator(traced: list[int]) -> bool:  # v / c is affine, c / v is not
    return traced == [0]


# --- arithmetic: the affine ones can fold into one step (trace(fold_affine=True)) ----
display(tnp.add.primitive, "#0 + #1", lambda a, b, out: (1, 1), symbol="+", affine=_any)
display(tnp.subtract.primitive, "#0 - #1", lambda a, b, out: (1, -1), symbol="−", affine=_any)
display(tnp.negative.primitive, "-#0", lambda a, out: (-1,), symbol="neg", affine=_any)
display(
    tnp.multiply.primitive,
    "#0 \\cdot #1",
    lambda a, b, out: (b, a),
    symbol="×",
    affine=_one_operand,
)
display(
    tnp.divide.primitive,
    "#0 / #1",
    lambda a, b, out: (1 / b, -a / b**2),
    symbol="/",
    affine=_numerator,
)
display(
    tnp.power.primitive, "#0^{#1}", lambda a, b, out: (b * a ** (b - 1), ln(a) * out), symbol="pow"
)
display(tnp.square.primitive, "#0^2", lambda a, out: (2 * a,), symbol="²")
display(tnp.reciprocal.primitive, "1 / #0", lambda a, out: (-1 / a**2,))

# --- elementary functions ------------------------------------------------------------
display(tnp.sqrt.primitive, "\\sqrt{#0}", lambda a, out: (1 / (2 * sqrt(a)),))
display(tnp.exp.primitive, "\\exp #0", lambda a, out: (exp(a),))
display(tnp.exp2.primitive, "2^{#0}", lambda a, out: (ln(2) * out,))
display(tnp.expm1.primitive, partials=lambda a, out: (exp(a),))
display(tnp.log.primitive, "\\ln #0", lambda a, out: (1 / a,), symbol="ln")
display(tnp.log2.primitive, "\\log_2 #0", lambda a, out: (1 / (a * ln(2)),))
display(tnp.log10.primitive, "\\log_{10} #0", lambda a, out: (1 / (a * ln(10)),))
display(tnp.log1p.primitive, "\\ln(1 + #0)", lambda a, out: (1 / (1 + a),))
display(tnp.sin.primitive, "\\sin #0", lambda a, out: (cos(a),))
display(tnp.cos.primitive, "\\cos #0", lambda a, out: (-sin(a),))
display(tnp.tan.primitive, "\\tan #0", lambda a, out: (1 / cos(a) ** 2,))
display(tnp.arcsin.primitive, "\\arcsin #0", lambda a, out: (1 / sqrt(1 - a**2),))
display(tnp.arccos.primitive, "\\arccos #0", lambda a, out: (-1 / sqrt(1 - a**2),))
display(tnp.arctan.primitive, "\\arctan #0", lambda a, out: (1 / (1 + a**2),))
display(tnp.sinh.primitive, "\\sinh #0", lambda a, out: (cosh(a),))
display(tnp.cosh.primitive, "\\cosh #0", lambda a, out: (sinh(a),))
display(tnp.tanh.primitive, "\\tanh #0", lambda a, out: (1 - tanh(a) ** 2,))
display(tnp.arcsinh.primitive, partials=lambda a, out: (1 / sqrt(a**2 + 1),))
display(tnp.arctanh.primitive, partials=lambda a, out: (1 / (1 - a**2),))
display(tnp.abs.primitive, "|#0|", lambda a, out: (sign(a),))
display(
    tnp.sigmoid.primitive,
    "\\sigma(#0)",
    lambda a, out: (sigmoid(a) * (1 - sigmoid(a)),),
    symbol="σ",
)
display(tnp.relu.primitive, "\\mathrm{ReLU}(#0)", lambda a, out: (heaviside(a),), symbol="ReLU")

display(ufuncs.arccosh, None, lambda a, out: (1 / sqrt(a * a - 1),))
display(ufuncs.cbrt, "\\sqrt[3]{#0}", lambda a, out: (1 / (3 * out * out),))
display(ufuncs.arctan2, None, lambda y, x, out: (x / (x * x + y * y), -y / (x * x + y * y)))
display(ufuncs.hypot, None, lambda x, y, out: (x / out, y / out))
display(ufuncs.logaddexp, None, lambda x, y, out: (exp(x - out), exp(y - out)))

# --- reductions and contractions with a formula or a template -----------------------
display(shapes._sum, "\\Sigma #0", lambda a, out: (1,), symbol="Σ")
display(contractions._matmul, "#0 @ #1", GENERIC, symbol="@", product=True)

# --- no short formula: the tables show the generic ∂v_j/∂v_k -------------------------
for _prim in (
    tnp.remainder.primitive,
    tnp.maximum.primitive,
    tnp.minimum.primitive,
    elementwise._where,
    reductions._prod,
    reductions._max,
    reductions._min,
    reductions._cumsum,
    reductions._logsumexp,
    special._log_softmax,
    contractions._einsum,
    shapes._reshape,
    shapes._broadcast_to,
    _transpose,
    _concatenate,
    indexing.getitem,
    indexing.scatter_add,
    box_methods.astype,
    linalg.inv,
    linalg.det,
    linalg._logabsdet,
    linalg.solve,
    nnf._dense,
    nnf._sce,
    nnf._sos,
    ufuncs.logaddexp2,
    ufuncs.sinc,
    decompositions._cholesky,
    decompositions._eigh,
    decompositions._eigvalsh,
    decompositions._qr,
    decompositions._svd,
    decompositions._svdvals,
):
    display(_prim, partials=GENERIC)
