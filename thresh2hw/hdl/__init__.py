"""Amaranth hardware for integer threshold networks (no training imports here)."""
from .network import (ARCHITECTURES, LATENCY, ThresholdNetworkCircuit, build_circuit,
                      output_shape)

__all__ = ["ThresholdNetworkCircuit", "build_circuit", "output_shape", "LATENCY",
           "ARCHITECTURES"]
