"""Matrix products for compiled code: SciPy's BLAS ``dgemm`` and ``sgemm``.

One routine, :func:`gemm`, computes ``C = alpha op(A) op(B) + beta C`` in
place on row-major (C-ordered) arrays, where ``op`` transposes or not. With
``beta = 1`` the training loop accumulates the gradient product straight
into the weights, ``W <- W - Delta^T A``, without a gradient matrix in
between.

The routines are the ones Numba's own ``np.dot`` uses (SciPy's
``cython_blas``). They are bound by symbol name, not by address, so that
Numba can cache the compiled loop on disk: the names are registered with
LLVM when this module is imported, before any cached code is loaded.
"""

from __future__ import annotations

import llvmlite.binding as llvm
from numba import njit, types
from numba.extending import get_cython_function_address

__all__ = ["gemm"]

for _name in ("dgemm", "sgemm"):
    llvm.add_symbol(f"nndl_{_name}", get_cython_function_address("scipy.linalg.cython_blas", _name))

_p = types.voidptr
# Fortran BLAS: every argument by address (transa, transb, m, n, k, alpha, a, lda,
# b, ldb, beta, c, ldc).
_dgemm = types.ExternalFunction("nndl_dgemm", types.void(*[_p] * 13))
_sgemm = types.ExternalFunction("nndl_sgemm", types.void(*[_p] * 13))

_N, _T = 78, 84  # ord("N"), ord("T")


@njit(cache=True)
def gemm(trans_a, trans_b, m, n, k, alpha, a, b, beta, c, blas_ints, blas_scalars):
    """C[:m, :n] = alpha op(A) op(B) + beta C[:m, :n], row-major, in place.

    ``op(A)`` is (m, k) and ``op(B)`` is (k, n). Each array is C-contiguous
    with its own row length as leading dimension (a leading run of rows of a
    larger buffer is fine). ``blas_ints`` (int32, 8) and ``blas_scalars``
    (the arrays' dtype, 2) are scratch space for the arguments BLAS takes by
    address. Column-major BLAS sees a row-major matrix as its transpose, so
    it is asked for C^T = op(B)^T op(A)^T.
    """
    # The transpose flags are Fortran CHARACTERs, read as their first byte: an
    # int32 holding the code is that byte on the little-endian machines Numba runs on.
    blas_ints[0] = _T if trans_b else _N
    blas_ints[1] = _T if trans_a else _N
    blas_ints[2] = n
    blas_ints[3] = m
    blas_ints[4] = k
    blas_ints[5] = b.shape[1]
    blas_ints[6] = a.shape[1]
    blas_ints[7] = c.shape[1]
    blas_scalars[0] = alpha
    blas_scalars[1] = beta
    args = (
        blas_ints[0:].ctypes,
        blas_ints[1:].ctypes,
        blas_ints[2:].ctypes,
        blas_ints[3:].ctypes,
        blas_ints[4:].ctypes,
        blas_scalars[0:].ctypes,
        b.ctypes,
        blas_ints[5:].ctypes,
        a.ctypes,
        blas_ints[6:].ctypes,
        blas_scalars[1:].ctypes,
        c.ctypes,
        blas_ints[7:].ctypes,
    )
    if c.itemsize == 8:
        _dgemm(*args)
    else:
        _sgemm(*args)
