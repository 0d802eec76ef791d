"""The statistics of results over several seeds: mean, spread, intervals, Welch's test.

Every metric of an experiment holds one value per seed. :func:`summarize`
gives its mean, sample standard deviation and the 95% confidence interval of
the mean (Student t); :func:`welch_test` says whether two techniques differ
by more than the seed-to-seed noise. SciPy, when installed, gives exact
quantiles and p-values; without it a table of t quantiles is used.
"""

from __future__ import annotations

import math

__all__ = ["summarize", "t_quantile", "welch_test"]

#: Two-sided 95% quantiles of Student's t (0.975 quantile) for 1..30 degrees of
#: freedom; used when SciPy is not installed. Beyond 30 the normal 1.96 is close.
_T975 = (
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
)


def t_quantile(df: float, q: float = 0.975) -> float:
    """The q-quantile of Student's t with ``df`` degrees of freedom.

    SciPy gives it exactly; without SciPy only q = 0.975 is supported, from a
    table (rounding df down, which widens the interval: the safe side).
    """
    if df <= 0:
        return math.inf
    try:
        from scipy import stats
    except ImportError:
        if q != 0.975:
            raise ValueError("without SciPy only the 0.975 quantile is available") from None
        k = math.floor(df)
        return _T975[k - 1] if k <= len(_T975) else 1.96
    return float(stats.t.ppf(q, df))


def summarize(values) -> dict:
    """Mean, sample standard deviation and 95% CI of the mean (Student t).

    With one value the spread and the interval are ``None``: one seed says
    nothing about the noise.
    """
    v = [float(x) for x in values]
    n = len(v)
    if n == 0:
        return {"n": 0, "mean": None, "std": None, "ci95": None, "min": None, "max": None}
    mean = sum(v) / n
    out = {"n": n, "mean": mean, "std": None, "ci95": None, "min": min(v), "max": max(v)}
    if n >= 2:
        std = math.sqrt(sum((x - mean) ** 2 for x in v) / (n - 1))
        half = t_quantile(n - 1) * std / math.sqrt(n)
        out["std"] = std
        out["ci95"] = [mean - half, mean + half]
    return out


def welch_test(a, b) -> dict:
    """Welch's t-test for a difference of means (unequal variances).

    Returns the difference mean(a) - mean(b), its 95% confidence interval,
    the t statistic, the Welch-Satterthwaite degrees of freedom and the
    two-sided p-value (``None`` without SciPy; ``significant`` is then decided
    by the tabulated critical value).
    """
    a = [float(x) for x in a]
    b = [float(x) for x in b]
    na, nb = len(a), len(b)
    ma, mb = sum(a) / na, sum(b) / nb
    diff = ma - mb
    if na < 2 or nb < 2:
        return {"diff": diff, "ci95": None, "t": None, "df": None, "p": None, "significant": None}
    va = sum((x - ma) ** 2 for x in a) / (na - 1)
    vb = sum((x - mb) ** 2 for x in b) / (nb - 1)
    se2 = va / na + vb / nb
    if se2 == 0:
        # Identical values on each side: any nonzero difference is exact.
        return {
            "diff": diff,
            "ci95": [diff, diff],
            "t": math.inf if diff else 0.0,
            "df": float(na + nb - 2),
            "p": 0.0 if diff else 1.0,
            "significant": diff != 0,
        }
    se = math.sqrt(se2)
    df = se2**2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1))
    t = diff / se
    crit = t_quantile(df)
    try:
        from scipy import stats

        p = float(2 * stats.t.sf(abs(t), df))
        significant = p < 0.05
    except ImportError:
        p = None
        significant = abs(t) > crit
    return {
        "diff": diff,
        "ci95": [diff - crit * se, diff + crit * se],
        "t": t,
        "df": df,
        "p": p,
        "significant": significant,
    }
