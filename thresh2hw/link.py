"""Host side of the board UART protocol (see :mod:`thresh2hw.hdl.board_top` for the frames).

``predict_serial`` talks to a board over a serial port with pyserial (the ``serial`` extra);
the frame codec below is pure Python and also used by the simulation tests.
"""
import time

import numpy as np

__all__ = ["SYNC_BYTE", "REPLY_BYTE", "LinkError", "frame_layout", "encode_request",
           "decode_replies", "predict_serial"]

SYNC_BYTE = 0xA5            # same values as thresh2hw.hdl.board_top (which needs Amaranth)
REPLY_BYTE = 0x5A


class LinkError(RuntimeError):
    """The board did not answer as the protocol says."""


def _output_bits(net):
    from .ranges import bits_for_range
    if net.task == "multiclass":
        return max(1, int(net.n_classes - 1).bit_length())
    if net.task == "binary":
        return 1
    from .hdl.plan import plan_network
    s = plan_network(net).scores[0]
    return bits_for_range(s.lo, s.hi)


def frame_layout(net):
    """``(request_bytes, reply_bytes, reply_signed)``, headers included."""
    n_in = (net.n_features * net.input_bits + 7) // 8
    n_out = (_output_bits(net) + 7) // 8
    return 1 + n_in, 1 + n_out, net.task == "regression"


def encode_request(net, row):
    """One request frame for one row of integer input codes."""
    b = net.input_bits
    v = 0
    for k, q in enumerate(np.asarray(row, dtype=np.int64).tolist()):
        v |= int(q) << (k * b)
    n_req, _, _ = frame_layout(net)
    return bytes([SYNC_BYTE]) + v.to_bytes(n_req - 1, "little")


def decode_replies(net, data, n):
    """Parse ``n`` reply frames from ``data``; raises LinkError on a bad header or short data."""
    _, n_rep, signed = frame_layout(net)
    if len(data) < n * n_rep:
        raise LinkError(f"expected {n * n_rep} reply bytes, got {len(data)}")
    out = np.empty(n, dtype=np.int64)
    for k in range(n):
        frame = data[k * n_rep:(k + 1) * n_rep]
        if frame[0] != REPLY_BYTE:
            raise LinkError(f"reply {k}: header byte 0x{frame[0]:02x}, expected "
                            f"0x{REPLY_BYTE:02x}")
        out[k] = int.from_bytes(frame[1:], "little", signed=signed)
    return out


def predict_serial(net, Q, port, baud=115200, *, timeout=2.0, window=None, serial_module=None):
    """Send every row of ``Q`` to the board on ``port``; return the board's predictions.

    At most ``window`` requests are in flight (default: as many as keep the board's single
    holding register from overrunning: unlimited in practice when a reply is not longer than a
    request, else one).
    """
    if serial_module is None:
        import serial as serial_module              # pyserial, the `serial` extra
    Q = net.check_inputs(Q)
    n_req, n_rep, _ = frame_layout(net)
    if window is None:
        window = 64 if n_rep <= n_req else 1
    out = []
    with serial_module.Serial(port, baud, timeout=timeout) as ser:
        ser.reset_input_buffer()
        for start in range(0, len(Q), window):
            rows = Q[start:start + window]
            ser.write(b"".join(encode_request(net, r) for r in rows))
            ser.flush()
            want = len(rows) * n_rep
            data = bytearray()
            deadline = time.monotonic() + timeout + want * 10 / baud
            while len(data) < want and time.monotonic() < deadline:
                data += ser.read(want - len(data))
            if len(data) < want:
                raise LinkError(f"{port}: no reply to request {start + len(data) // n_rep} "
                                f"within {timeout:g} s (got {len(data)} of {want} bytes); is "
                                f"the board programmed with this model's bitstream?")
            out.append(decode_replies(net, bytes(data), len(rows)))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)
