"""tracegrad.numpy: NumPy's names, signatures and broadcasting, differentiable.

Write functions with ``import tracegrad.numpy as tnp`` in place of ``import numpy as
np``. With no transformation active every function returns plain NumPy values; under
``grad``, ``jvp`` and friends the same code is traced.
"""

from numpy import (
    bool_,
    dtype,
    e,
    finfo,
    float16,
    float32,
    float64,
    iinfo,
    inf,
    nan,
    ndarray,
    newaxis,
    pi,
    promote_types,
    random,
    result_type,
)

from tracegrad.core.shapes import broadcast_to, reshape
from tracegrad.numpy import linalg
from tracegrad.numpy.arrays import (
    append,
    array_split,
    atleast_3d,
    broadcast_arrays,
    choose,
    column_stack,
    cross,
    delete,
    diagflat,
    diagonal,
    dsplit,
    dstack,
    fliplr,
    flipud,
    hsplit,
    insert,
    kron,
    pad,
    piecewise,
    roll,
    rollaxis,
    rot90,
    row_stack,
    select,
    vsplit,
)
from tracegrad.numpy.box_methods import astype
from tracegrad.numpy.contractions import dot, einsum, inner, matmul, outer, tensordot, trace, vdot
from tracegrad.numpy.creation import (
    arange,
    array,
    asarray,
    diag,
    empty,
    empty_like,
    eye,
    full,
    full_like,
    identity,
    linspace,
    logspace,
    meshgrid,
    ones,
    ones_like,
    tri,
    tril,
    triu,
    zeros,
    zeros_like,
)
from tracegrad.numpy.dtypes import int8, int16, int32, int64, uint8
from tracegrad.numpy.elementwise import (
    abs,
    absolute,
    add,
    arccos,
    arcsin,
    arcsinh,
    arctan,
    arctanh,
    cos,
    cosh,
    divide,
    exp,
    exp2,
    expm1,
    log,
    log1p,
    log2,
    log10,
    maximum,
    minimum,
    multiply,
    negative,
    positive,
    power,
    reciprocal,
    relu,
    remainder,
    sigmoid,
    sin,
    sinh,
    sqrt,
    square,
    subtract,
    tan,
    tanh,
    true_divide,
    where,
)
from tracegrad.numpy.indexing import sort, take, take_along_axis
from tracegrad.numpy.misc import clip
from tracegrad.numpy.missing import NotDifferentiableError
from tracegrad.numpy.missing import missing_attribute as _missing_attribute
from tracegrad.numpy.nondiff import (
    all,
    allclose,
    any,
    argmax,
    argmin,
    argsort,
    array_equal,
    ceil,
    count_nonzero,
    digitize,
    equal,
    floor,
    floor_divide,
    greater,
    greater_equal,
    histogram,
    isclose,
    isfinite,
    isinf,
    isnan,
    less,
    less_equal,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    ndim,
    nonzero,
    not_equal,
    rint,
    round,
    searchsorted,
    shape,
    sign,
    size,
    trunc,
    unique,
)
from tracegrad.numpy.reductions import (
    amax,
    amin,
    cumsum,
    logsumexp,
    max,
    mean,
    min,
    prod,
    std,
    sum,
    var,
)
from tracegrad.numpy.series import (
    convolve,
    correlate,
    cumprod,
    diff,
    ediff1d,
    gradient,
    interp,
    polyval,
    trapezoid,
)
from tracegrad.numpy.shape import (
    atleast_1d,
    atleast_2d,
    concatenate,
    expand_dims,
    flip,
    hstack,
    moveaxis,
    ravel,
    repeat,
    split,
    squeeze,
    stack,
    swapaxes,
    tile,
    transpose,
    vstack,
)
from tracegrad.numpy.special import leaky_relu, log_softmax, softmax
from tracegrad.numpy.statistics import (
    average,
    corrcoef,
    cov,
    median,
    nancumsum,
    nanmax,
    nanmean,
    nanmedian,
    nanmin,
    nanprod,
    nanstd,
    nansum,
    nanvar,
    percentile,
    ptp,
    quantile,
)
from tracegrad.numpy.ufuncs import (
    arccosh,
    arctan2,
    cbrt,
    conj,
    conjugate,
    copysign,
    deg2rad,
    degrees,
    fabs,
    float_power,
    fmax,
    fmin,
    heaviside,
    hypot,
    imag,
    logaddexp,
    logaddexp2,
    nan_to_num,
    rad2deg,
    radians,
    real,
    sinc,
)

mod = remainder

__getattr__ = _missing_attribute("tracegrad.numpy", "numpy")

# NumPy's names only, not the modules that define them
__all__ = sorted(
    n
    for n, v in globals().items()
    if not n.startswith("_") and (type(v) is not type(linalg) or n in ("linalg", "random"))
)


def __dir__() -> list[str]:
    return list(__all__)
