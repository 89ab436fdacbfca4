"""Cycle-accurate checking of generated circuits against the integer reference model.

Shipped inside the wheel as ``thresh2hw.sim`` (like ``amaranth.sim``).
"""
from .vectors import adversarial_vectors, pack_inputs, random_vectors
from .check import CheckResult, Mismatch, StreamRun, check_circuit, run_stream, simulate_circuit
# verification engines (Verilator, post-synthesis netlists, formal): see thresh2hw verify
from .engines import EngineResult, EngineUnavailable, ProofResult
from .exhaustive import all_inputs, check_engine, check_exhaustive

__all__ = ["adversarial_vectors", "pack_inputs", "random_vectors", "CheckResult", "Mismatch",
           "check_circuit", "simulate_circuit", "run_stream", "StreamRun", "EngineResult",
           "EngineUnavailable", "ProofResult", "all_inputs", "check_engine", "check_exhaustive"]
