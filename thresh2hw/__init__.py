"""thresh2hw: convex-trained threshold networks compiled to exact FPGA circuits.

Training (``thresh2hw.train``, numpy/cvxpy) produces a float network; ``thresh2hw.quant`` turns
it into the integer :class:`~thresh2hw.model.IntegerNetwork`, the reference model that the
hardware generator (``thresh2hw.hdl``, Amaranth) compiles and the simulators check against.
"""
from .model import IntegerNetwork, ModelFormatError

__version__ = "0.1.0"
__all__ = ["IntegerNetwork", "ModelFormatError", "__version__"]
