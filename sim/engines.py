"""Shared pieces of the verification engines: the result type, vector files, cache directory.

Every engine (Amaranth pysim, Verilator, post-synthesis netlist, CXXRTL) returns an
:class:`EngineResult`; a formal proof returns :class:`ProofResult`. Both serialise to the JSON
keys of ``thresh2hw verify --json``.
"""
import hashlib
import os
from dataclasses import dataclass, field

import numpy as np

from .check import Mismatch

__all__ = ["EngineResult", "ProofResult", "EngineUnavailable", "pack_words", "cache_root",
           "content_hash", "render_template", "first_mismatch"]


class EngineUnavailable(RuntimeError):
    """A tool an engine needs is missing; the message names the fix."""


@dataclass
class EngineResult:
    """Outcome of running vectors through one engine. ``ok`` only if every vector matched,
    every vector came out, and no output appeared without an input."""
    engine: str
    vectors: int
    mismatches: int
    first_mismatch: Mismatch | None
    seconds: float                       # simulation time (harness loop for compiled engines)
    build_seconds: float = 0.0           # 0 when the build came from the cache
    cached: bool = False
    errors: list = field(default_factory=list)   # protocol problems: timeouts, spurious outputs
    extra: dict = field(default_factory=dict)
    outputs: np.ndarray = field(default=None, repr=False)

    @property
    def ok(self):
        return self.mismatches == 0 and self.vectors > 0 and not self.errors

    @property
    def vectors_per_s(self):
        return self.vectors / self.seconds if self.seconds > 0 else float("inf")

    def to_dict(self):
        fm = self.first_mismatch
        vps = self.vectors_per_s
        return {"engine": self.engine, "ok": self.ok, "vectors": self.vectors,
                "mismatches": self.mismatches, "seconds": round(self.seconds, 4),
                "vectors_per_s": round(vps, 1) if np.isfinite(vps) else None,
                "build_seconds": round(self.build_seconds, 3), "cached": self.cached,
                "errors": list(self.errors),
                "first_mismatch": None if fm is None else
                {"index": fm.index, "inputs": fm.inputs, "expected": fm.expected, "got": fm.got},
                **self.extra}


@dataclass
class ProofResult:
    """Outcome of a formal equivalence proof (``status``: PASS, FAIL, ERROR or SKIP)."""
    engine: str
    status: str
    seconds: float
    depth: int
    reason: str = ""
    log_tail: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def ok(self):
        return self.status == "PASS"

    def to_dict(self):
        return {"engine": self.engine, "ok": self.ok, "status": self.status,
                "proof_seconds": round(self.seconds, 3), "depth": self.depth,
                "reason": self.reason, "vectors": None, "mismatches": 0 if self.ok else None,
                "vectors_per_s": None, "build_seconds": 0.0, "first_mismatch": None,
                **self.extra}


def first_mismatch(Q, expected, got):
    """(count, Mismatch or None) comparing ``got`` with ``expected`` row by row."""
    bad = np.flatnonzero(np.asarray(got) != np.asarray(expected))
    if not bad.size:
        return 0, None
    k = int(bad[0])
    return int(bad.size), Mismatch(index=k, inputs=np.asarray(Q)[k].tolist(),
                                   expected=int(expected[k]), got=int(got[k]))


def pack_words(Q, bits):
    """Rows of unsigned ``bits``-bit codes -> (n, words) little-endian uint32 array, feature 0
    in the least significant bits (the circuit's ``i__payload`` layout)."""
    Q = np.asarray(Q, dtype=np.int64)
    n, d = Q.shape
    width = d * bits
    words = max(1, (width + 31) // 32)
    b = ((Q[:, :, None] >> np.arange(bits, dtype=np.int64)) & 1).astype(np.uint8)
    b = b.reshape(n, width)
    if words * 32 > width:
        b = np.concatenate([b, np.zeros((n, words * 32 - width), np.uint8)], axis=1)
    packed = np.packbits(b, axis=1, bitorder="little")          # (n, words*4) bytes
    return np.ascontiguousarray(packed).view("<u4").reshape(n, words)


def cache_root(sub):
    """Build cache directory: ``$THRESH2HW_CACHE`` or ``~/.cache/thresh2hw``, then ``sub``."""
    base = os.environ.get("THRESH2HW_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "thresh2hw")
    path = os.path.join(base, sub)
    os.makedirs(path, exist_ok=True)
    return path


def content_hash(*parts):
    h = hashlib.sha256()
    for p in parts:
        data = p if isinstance(p, bytes) else str(p).encode()
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()[:24]


def render_template(name, **values):
    """Render ``thresh2hw.hdl_templates/NAME`` with Amaranth's Jinja2 settings."""
    import jinja2
    from importlib import resources
    text = resources.files("thresh2hw.hdl_templates").joinpath(name).read_text()
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env.from_string(text).render(**values)
