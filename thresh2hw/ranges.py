"""Exact value ranges and bit widths of integer datapaths (pure Python, shared by every back end).

Widths are derived from the closed integer range a value can take, never from a guess, so a sum
sized by :func:`bits_for_range` cannot overflow.
"""

__all__ = ["bits_for_range", "is_signed_range", "dot_range", "csd_digits"]


def is_signed_range(lo, hi):
    return lo < 0


def bits_for_range(lo, hi):
    """Fewest bits holding every integer in ``[lo, hi]`` (two's complement if ``lo < 0``)."""
    if lo > hi:
        raise ValueError(f"empty range [{lo}, {hi}]")
    if lo >= 0:
        return max(1, hi.bit_length())
    # signed: need -2^(w-1) <= lo and hi <= 2^(w-1) - 1
    return max((-lo - 1).bit_length(), hi.bit_length() if hi > 0 else 0) + 1


def dot_range(weights, x_lo, x_hi):
    """Exact range of ``sum_i w_i x_i`` for independent ``x_i`` in ``[x_lo_i, x_hi_i]``."""
    lo = hi = 0
    for w, a, b in zip(weights, x_lo, x_hi):
        p, q = w * a, w * b
        lo += min(p, q)
        hi += max(p, q)
    return lo, hi


def csd_digits(w):
    """Canonical signed-digit form of ``w``: list of ``(shift, sign)`` with no two adjacent
    nonzero digits, so ``w == sum(sign << shift)`` with the fewest nonzero digits."""
    w = int(w)
    out, k = [], 0
    while w:
        if w & 1:
            d = 2 - (w & 3)            # +1 if w = 1 mod 4, -1 if w = 3 mod 4
            out.append((k, d))
            w -= d
        w >>= 1
        k += 1
    return out
