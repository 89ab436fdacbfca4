"""Width inference and constant decomposition, checked exhaustively on small ranges."""
import itertools

import pytest
from amaranth import Const

from thresh2hw.hdl.arith import shape_for
from thresh2hw.ranges import bits_for_range, csd_digits, dot_range


def _brute_bits(lo, hi):
    for w in range(1, 40):
        if lo >= 0 and hi < (1 << w):
            return w
        if lo < 0 and -(1 << (w - 1)) <= lo and hi < (1 << (w - 1)):
            return w


@pytest.mark.parametrize("lo", range(-70, 70, 3))
def test_bits_for_range_is_minimal_and_sufficient(lo):
    for hi in range(lo, 140):
        assert bits_for_range(lo, hi) == _brute_bits(lo, hi), (lo, hi)


def test_shape_for_holds_every_value_of_the_range():
    for lo, hi in [(-9, 6), (0, 255), (-128, 127), (-129, 0), (3, 3), (-1, -1), (0, 0)]:
        shape = shape_for(lo, hi)
        for v in (lo, hi):
            assert Const(v, shape).value == v
        assert shape.width == bits_for_range(lo, hi)


def test_empty_range_rejected():
    with pytest.raises(ValueError, match="empty range"):
        bits_for_range(3, 2)


def test_csd_digits_exhaustive():
    for w in range(-300, 301):
        digits = csd_digits(w)
        assert sum(s << k for k, s in digits) == w
        shifts = [k for k, _ in digits]
        assert all(b - a >= 2 for a, b in zip(shifts, shifts[1:])), (w, digits)   # non-adjacent
        # minimal: no signed-digit form has fewer nonzeros than the NAF
        assert len(digits) <= bin(abs(w)).count("1")


def test_dot_range_matches_brute_force():
    for weights in itertools.product([-3, -1, 0, 2], repeat=3):
        lo, hi = dot_range(weights, [0, 0, 0], [3, 1, 2])
        values = [sum(w * x for w, x in zip(weights, xs))
                  for xs in itertools.product(range(4), range(2), range(3))]
        assert (lo, hi) == (min(values), max(values))
