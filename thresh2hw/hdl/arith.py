"""Arithmetic building blocks with exact value ranges: adder trees, constant shift-and-add."""
from dataclasses import dataclass

from amaranth import *

from ..ranges import bits_for_range

__all__ = ["Term", "shape_for", "const_term", "fit_range", "adder_tree"]


def shape_for(lo, hi):
    """Amaranth shape that holds exactly the integers in [lo, hi]."""
    return signed(bits_for_range(lo, hi)) if lo < 0 else unsigned(bits_for_range(lo, hi))


@dataclass(frozen=True)
class Term:
    """An Amaranth value together with the closed range ``[lo, hi]`` it can take."""
    value: object
    lo: int
    hi: int


def const_term(v):
    v = int(v)
    return Term(C(v, shape_for(v, v)), v, v)


def fit_range(value, lo, hi):
    """``value`` cut to the exact width of ``[lo, hi]`` (safe: the value lies in that range).

    Amaranth widens every sum by a bit; slicing back keeps trees minimal without extra signals,
    which keeps the Python simulator fast (one expression per tree instead of one signal per
    node).
    """
    shape = shape_for(lo, hi)
    if len(value) <= shape.width:
        return value
    cut = value[:shape.width]
    return cut.as_signed() if shape.signed else cut


def adder_tree(terms):
    """Sum ``terms`` in a balanced binary tree, each node cut to its exact range.

    Returns a :class:`Term` (the constant 0 if ``terms`` is empty).
    """
    terms = list(terms)
    if not terms:
        return const_term(0)
    while len(terms) > 1:
        nxt = [Term(fit_range(a.value + b.value, a.lo + b.lo, a.hi + b.hi), a.lo + b.lo,
                    a.hi + b.hi)
               for a, b in zip(terms[0::2], terms[1::2])]
        if len(terms) % 2:
            nxt.append(terms[-1])
        terms = nxt
    return terms[0]
