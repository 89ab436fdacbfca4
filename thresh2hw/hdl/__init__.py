"""Amaranth hardware for integer threshold networks (no training imports here)."""
from .network import LATENCY, ThresholdNetworkCircuit, output_shape

__all__ = ["ThresholdNetworkCircuit", "output_shape", "LATENCY"]
