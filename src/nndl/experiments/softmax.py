"""Softmax: a_j = exp(c z_j) / sum_k exp(c z_k).

The chapter's interactive figure starts from z = (2.5, -1, 3.2, 0.5) and lets
the reader move one z. What it shows, and what we check numerically:

- the activations are positive and sum to 1 (a probability distribution);
- raising z_4 raises a_4 and lowers every other a_j: the output is
  monotonic in its own z and non-local (each a_j depends on all the z's);
- with a temperature factor c, large c tends to a hard max (one-hot at the
  largest z), small c to the uniform distribution.

No training, no data: deterministic, a fraction of a second.
"""

from __future__ import annotations

import numpy as np

from ..activations import softmax
from .experiment_run import ExperimentRun

TITLE = "Softmax: activations against one z, and the temperature c"
BOOK = (
    "z = (2.5, -1, 3.2, 0.5) gives a = (0.315, 0.009, 0.633, 0.043); increasing z_4 "
    "increases a_4 and decreases the others; the outputs always sum to 1; large c tends "
    "to a hard max"
)

Z = np.array([2.5, -1.0, 3.2, 0.5])
BOOK_A = np.array([0.315, 0.009, 0.633, 0.043])
TEMPERATURES = (0.01, 0.1, 0.5, 1.0, 2.0, 5.0, 100.0)


def run(experiment: ExperimentRun) -> None:
    experiment.set_config(z=Z.tolist(), temperatures=list(TEMPERATURES), varied="z_4 from -6 to 6")
    experiment.uses_no_data_set("none: the softmax of the chapter's z = (2.5, -1, 3.2, 0.5)")
    a = softmax(Z)
    experiment.set_config(activations=a.tolist())
    err = float(np.max(np.abs(a - BOOK_A)))
    experiment.check(
        "activations at the book's z",
        ours="(" + ", ".join(f"{v:.3f}" for v in a) + ")",
        book="(0.315, 0.009, 0.633, 0.043)",
        passed=err < 0.0006,
        rule="each within 0.0005 (the book's rounding)",
    )

    z4 = np.linspace(-6.0, 6.0, 241)
    Zs = np.repeat(Z[None, :], z4.size, axis=0)
    Zs[:, 3] = z4
    A = softmax(Zs)  # (241, 4)
    sums = np.abs(A.sum(axis=1) - 1.0).max()
    d = np.diff(A, axis=0)
    own_up = bool(np.all(d[:, 3] > 0))
    others_down = bool(np.all(d[:, :3] < 0))
    experiment.check(
        "sum of the activations",
        ours=f"max |sum - 1| = {sums:.1e} over 241 values of z_4",
        book="always 1",
        passed=sums < 1e-12,
        rule="|sum - 1| below 1e-12 everywhere",
    )
    experiment.check(
        "monotonic and non-local",
        ours=f"a_4 rises: {own_up}; a_1..a_3 all fall: {others_down}",
        book="a_4 up, the others down",
        passed=own_up and others_down,
        rule="strictly, at every step of z_4",
    )

    temps = {c: softmax(Z, c) for c in TEMPERATURES}
    hard = temps[max(TEMPERATURES)]
    soft = temps[min(TEMPERATURES)]
    experiment.check(
        "temperature: large c",
        ours=f"c = {max(TEMPERATURES):g}: a_3 = {hard[2]:.6f}",
        book="tends to a hard max",
        passed=hard[2] > 0.999 and int(np.argmax(hard)) == int(np.argmax(Z)),
        rule="the largest z takes more than 0.999",
    )
    experiment.check(
        "temperature: small c",
        ours=f"c = {min(TEMPERATURES):g}: max |a_j - 1/4| = {np.abs(soft - 0.25).max():.4f}",
        book="(tends to uniform)",
        passed=float(np.abs(soft - 0.25).max()) < 0.01,
        rule="every a_j within 0.01 of 1/4",
    )

    plt = experiment.pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.3))
    for j in range(4):
        ax.plot(z4, A[:, j], label=f"a_{j + 1}" + (" (z_4 varies)" if j == 3 else ""))
    ax.axvline(Z[3], ls=":", color="grey", lw=1)
    ax.set_xlabel("z_4 (z_1, z_2, z_3 fixed at 2.5, -1, 3.2)")
    ax.set_ylabel("activation")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("Softmax: moving one z changes every activation", fontsize=10)
    fig.tight_layout()
    experiment.figure(
        "vary_z4", fig, "The four activations as z_4 moves; dotted: the book's z_4 = 0.5."
    )

    fig, ax = plt.subplots(figsize=(7, 4.3))
    width = 0.8 / len(TEMPERATURES)
    for i, c in enumerate(TEMPERATURES):
        ax.bar(
            np.arange(4) + (i - len(TEMPERATURES) / 2 + 0.5) * width,
            temps[c],
            width,
            label=f"c = {c:g}",
        )
    ax.set_xticks(np.arange(4), [f"a_{j + 1}\n(z = {Z[j]:g})" for j in range(4)])
    ax.set_ylabel("activation")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    ax.set_title("Temperature: exp(c z_j) / sum_k exp(c z_k)", fontsize=10)
    fig.tight_layout()
    experiment.figure(
        "temperature", fig, "Softmax at several temperatures c: from uniform to a hard max."
    )
