"""Cycle-accurate checking of generated circuits against the integer reference model.

Shipped inside the wheel as ``thresh2hw.sim`` (like ``amaranth.sim``).
"""
from .vectors import adversarial_vectors, pack_inputs, random_vectors
from .check import CheckResult, Mismatch, check_circuit, simulate_circuit

__all__ = ["adversarial_vectors", "pack_inputs", "random_vectors", "CheckResult", "Mismatch",
           "check_circuit", "simulate_circuit"]
