"""Arithmetic building blocks with exact value ranges: adder trees, constant shift-and-add."""
from dataclasses import dataclass

from amaranth import *

from ..ranges import bits_for_range

__all__ = ["Term", "shape_for", "const_term", "adder_tree"]


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


def adder_tree(m, terms, name):
    """Sum ``terms`` in a balanced binary tree; every node is a Signal sized from its exact range.

    A node's assignment truncates the Amaranth expression (which is always wide enough) to the
    node's exact range, so no bit is ever lost. Returns a :class:`Term` (a 0 constant if empty).
    """
    terms = list(terms)
    if not terms:
        return const_term(0)
    level = 0
    while len(terms) > 1:
        nxt = []
        for k in range(0, len(terms) - 1, 2):
            a, b = terms[k], terms[k + 1]
            lo, hi = a.lo + b.lo, a.hi + b.hi
            s = Signal(shape_for(lo, hi), name=f"{name}_l{level}_{k // 2}")
            m.d.comb += s.eq(a.value + b.value)
            nxt.append(Term(s, lo, hi))
        if len(terms) % 2:
            nxt.append(terms[-1])
        terms = nxt
        level += 1
    return terms[0]
