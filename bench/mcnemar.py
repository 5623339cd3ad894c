"""McNemar's exact p: ours (`vlm4d_tasks.metric.stats.mcnemar_exact`) against scipy.

`scipy.stats.binomtest(a_only, a_only + b_only, 0.5).pvalue` is the same test; it sums float
probabilities, ours sums the binomial tail in integers and divides once (correctly rounded).
This measures, over every pair a_only, b_only <= 300 and 429 pairs with n = a_only + b_only of
500 to 5000: how many floats are identical to scipy's and to the former `Fraction` computation
(main before issue 24's statistics move, which the score documents carry), how many ulps scipy
is off, and the time a call of each takes.

    PYTHONPATH=. .venv/bin/python bench/mcnemar.py

On scipy 1.17.1, 2 busy cores (issue 24): identical to the former float on all pairs; to
scipy's on 13.1% of the grid and 18.6% of the large pairs (scipy off by up to 264 ulps on the
grid, 2,596 in the far tails); 34 us a call on the grid against scipy's 1,136, 612 us against
971 at n >= 500 (the former `Fraction` version: 521 us and 66 ms).
"""

from __future__ import annotations

import math
import time
from fractions import Fraction


def former(a: int, b: int) -> float:
    """The computation the documents were made with before issue 24 (commit a3bd7c3)."""
    n = a + b
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(a, b) + 1))
    return float(min(Fraction(1), Fraction(2 * tail, 2**n)))


def main() -> None:
    import scipy
    from scipy.stats import binomtest

    from vlm4d_tasks.metric.stats import mcnemar_exact

    def sp(a: int, b: int) -> float:
        return 1.0 if a + b == 0 else float(binomtest(a, a + b, 0.5).pvalue)

    grid = [(a, b) for a in range(301) for b in range(301)]
    large = [(a, n - a) for n in (500, 800, 1000, 1371, 1816, 2000, 3000, 5000)
             for a in range(0, n + 1, max(1, n // 40))]  # fmt: skip
    large += [(a, b) for a in range(900, 1100, 20) for b in range(900, 1100, 20)]
    print("scipy", scipy.__version__)
    for name, pairs in (("grid a,b in 0..300", grid), ("large n 500..5000", large)):
        ours = [mcnemar_exact(a, b) for a, b in pairs]
        same_former = sum(x == former(a, b) for x, (a, b) in zip(ours, pairs))
        theirs = [sp(a, b) for a, b in pairs]
        same_scipy = sum(x == y for x, y in zip(ours, theirs))
        ulps = [abs(x - y) / math.ulp(x) for x, y in zip(ours, theirs) if x and x != y]
        rels = [abs(x - y) / x for x, y in zip(ours, theirs) if x and x != y]
        print(
            f"{name}: {len(pairs)} pairs; identical to the former Fraction float: {same_former}; "
            f"identical to scipy: {same_scipy} ({100 * same_scipy / len(pairs):.1f}%); "
            f"scipy max {max(ulps, default=0):.0f} ulps, max relative {max(rels, default=0):.2g}"
        )
    for label, pairs in (("grid/10", grid[::10]), ("large", large)):
        for name, f in (("stats.mcnemar_exact", mcnemar_exact), ("former Fraction", former),
                        ("scipy binomtest", sp)):  # fmt: skip
            start = time.perf_counter()
            for a, b in pairs:
                f(a, b)
            took = time.perf_counter() - start
            print(
                f"time {label} ({len(pairs)} calls) {name}: {1e6 * took / len(pairs):.1f} us/call"
            )


if __name__ == "__main__":
    main()
