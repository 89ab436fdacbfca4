"""Board top level: the network behind a UART link.

Protocol (8N1, any baud the board clock can divide to within 2 %)
---------------------------------------------------------------
Host -> board, one *request frame* per feature vector::

    0xA5, b_0, b_1, ..., b_{N_in-1}

``N_in = ceil(n_features * input_bits / 8)`` bytes hold the packed input payload, little endian:
feature ``k`` occupies bits ``[k*input_bits, (k+1)*input_bits)`` of the integer
``sum(b_j << 8*j)`` (the same bit order as the circuit's ``i__payload``); padding bits above
the payload are ignored.

Board -> host, one *reply frame* per request, in order::

    0x5A, r_0, ..., r_{N_out-1}

``N_out = ceil(output_width / 8)`` bytes, little endian: the class index (multiclass), the
positive-class bit (binary) or the two's-complement score sign-extended to ``8*N_out`` bits
(regression).

Bytes outside a request frame that are not 0xA5 are ignored. A request frame with a gap of
more than ``timeout_cycles`` between two bytes is abandoned (the receiver goes back to waiting
for 0xA5), so a host can always resynchronise by pausing. One assembled request waits in a
holding register while the network is busy; a request completing while the holding register is
still full is dropped and sets the sticky ``overrun`` flag (on a board LED if there is one).
A host that keeps no more requests in flight than the link can absorb (``thresh2hw predict
--serial`` does) never loses a frame.
"""
from amaranth import *
from amaranth.lib import io, wiring
from amaranth.lib.wiring import In, Out

from .uart import UARTRx, UARTTx, _timer, uart_divisor

__all__ = ["SYNC_BYTE", "REPLY_BYTE", "frame_sizes", "UARTNetworkTop", "BoardTop"]

SYNC_BYTE = 0xA5
REPLY_BYTE = 0x5A


def _width(v):
    return len(Value.cast(v))


def frame_sizes(circuit):
    """``(request_bytes, reply_bytes)`` including the sync/reply header byte."""
    n_in = (_width(circuit.i.payload) + 7) // 8
    n_out = (_width(circuit.o.payload) + 7) // 8
    return 1 + n_in, 1 + n_out


class UARTNetworkTop(wiring.Component):
    """A stream circuit (``i``/``o`` valid-ready ports, e.g. a ``ThresholdNetworkCircuit``)
    behind a UART speaking the protocol of this module.

    Parameters
    ----------
    circuit : wiring.Component with ``i: In(stream)`` and ``o: Out(stream)``
    divisor : int
        Clock cycles per UART bit.
    timeout_cycles : int or None
        Abandon a partial request after this many idle cycles (default: 256 byte times).

    Members
    -------
    rx : In(1)
    tx : Out(1)
    overrun : Out(1)
        Sticky: a request was dropped (holding register full) or the UART receiver overran.
    framing_error : Out(1)
        Sticky: a byte had a bad stop bit.
    """
    rx: In(1, init=1)
    tx: Out(1, init=1)
    overrun: Out(1)
    framing_error: Out(1)

    def __init__(self, circuit, divisor, *, timeout_cycles=None):
        self.circuit = circuit
        self._divisor = divisor
        self._timeout = timeout_cycles if timeout_cycles is not None else divisor * 10 * 256
        self.request_bytes, self.reply_bytes = frame_sizes(circuit)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        net = self.circuit
        m.submodules.net = net
        m.submodules.urx = urx = UARTRx(self._divisor)
        m.submodules.utx = utx = UARTTx(self._divisor)
        m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx)]

        in_value = Value.cast(net.i.payload)
        n_in = self.request_bytes - 1
        n_out = self.reply_bytes - 1

        # -- request assembly: shift bytes in from the top; after n_in bytes byte 0 is at the LSBs.
        # The wide registers (buf, hold: 8*n_in bits each) are enabled by flip-flops only
        # (shift, load), so no logic sits between a decision and their clock enables: the
        # FSM decides on the received byte, buf shifts one cycle later, hold loads one cycle
        # after that. Nothing else can fill hold in between, so a frame found acceptable when
        # its last byte arrived is loaded for sure.
        buf = Signal(8 * n_in, reset_less=True)
        hold = Signal(8 * n_in, reset_less=True)
        hold_valid = Signal()
        to_go = _timer(n_in)                     # request bytes still to come, minus 2
        idle = _timer(self._timeout)             # expiry = its sign bit, not idle == timeout
        shift = Signal()                          # buf takes byte_q this cycle
        byte_q = Signal(8, reset_less=True)
        last = Signal()                           # ... and it is the frame's last byte, accepted
        load = Signal()                           # hold takes buf this cycle
        m.d.comb += urx.o.ready.eq(1)
        m.d.comb += [in_value.eq(hold[:len(in_value)]), net.i.valid.eq(hold_valid)]
        taken = net.i.valid & net.i.ready
        m.d.sync += [shift.eq(0), last.eq(0), load.eq(last)]
        with m.If(shift):
            m.d.sync += buf.eq(Cat(buf[8:], byte_q) if n_in > 1 else byte_q)
        with m.If(load):
            m.d.sync += [hold.eq(buf), hold_valid.eq(1)]
        with m.Elif(taken):
            m.d.sync += hold_valid.eq(0)
        with m.If(urx.overrun):
            m.d.sync += self.overrun.eq(1)
        with m.If(urx.framing_error):
            m.d.sync += self.framing_error.eq(1)

        # one register stage between the receiver and the frame FSM: the sync-byte test is a
        # flip-flop by the time the FSM reads it
        got = Signal()
        byte = Signal(8, reset_less=True)
        is_sync = Signal()
        m.d.sync += [got.eq(urx.o.valid), byte.eq(urx.o.payload),
                     is_sync.eq(urx.o.valid & (urx.o.payload == SYNC_BYTE))]
        with m.FSM():
            with m.State("WAIT_SYNC"):
                with m.If(is_sync):
                    m.d.sync += [to_go.eq(n_in - 2), idle.eq(self._timeout - 1)]
                    m.next = "COLLECT"
            with m.State("COLLECT"):
                with m.If(got):
                    m.d.sync += [shift.eq(1), byte_q.eq(byte), to_go.eq(to_go - 1),
                                 idle.eq(self._timeout - 1)]
                    with m.If(to_go[-1]):                # the frame's last byte
                        # hold is free in two cycles if it is free now (decided on flip-flops
                        # only, not on the network's ready)
                        with m.If(~hold_valid):
                            m.d.sync += last.eq(1)
                        with m.Else():
                            m.d.sync += self.overrun.eq(1)
                        m.next = "WAIT_SYNC"
                with m.Elif(idle[-1]):
                    m.next = "WAIT_SYNC"
                with m.Else():
                    m.d.sync += idle.eq(idle - 1)

        # -- reply: latch the prediction (freeing the network), send header and bytes
        out_value = Value.cast(net.o.payload)
        ext = Signal(signed(8 * n_out) if out_value.shape().signed else unsigned(8 * n_out))
        m.d.comb += ext.eq(out_value)
        obuf = Signal(8 * n_out, reset_less=True)
        left = Signal(range(n_out + 1))
        busy = Signal()                           # obuf holds a reply: a flip-flop, so that
        m.d.comb += net.o.ready.eq(~busy)         # o.ready reaches the network's queue fast
        with m.If(net.o.valid & ~busy):
            m.d.sync += [obuf.eq(ext), busy.eq(1)]
        with m.FSM():
            with m.State("IDLE"):
                with m.If(busy):
                    m.next = "HEADER"
            with m.State("HEADER"):
                m.d.comb += [utx.i.payload.eq(REPLY_BYTE), utx.i.valid.eq(1)]
                with m.If(utx.i.ready):
                    m.d.sync += left.eq(n_out)
                    m.next = "DATA"
            with m.State("DATA"):
                m.d.comb += [utx.i.payload.eq(obuf[:8]), utx.i.valid.eq(1)]
                with m.If(utx.i.ready):
                    m.d.sync += left.eq(left - 1)
                    if n_out > 1:
                        m.d.sync += obuf.eq(obuf >> 8)
                    with m.If(left == 1):
                        m.d.sync += busy.eq(0)
                        m.next = "IDLE"
        return m


class BoardTop(Elaboratable):
    """Platform top level: ``UARTNetworkTop`` on the board's ``uart`` 0, sticky error flags on
    ``led`` 0 (overrun) and ``led`` 1 (framing error) when the board has them.

    Parameters
    ----------
    circuit : stream circuit (see :class:`UARTNetworkTop`)
    baud : int
    timeout_s : float
        Gap that abandons a partial request frame.
    """

    def __init__(self, circuit, *, baud=115200, timeout_s=0.02):
        self.circuit = circuit
        self.baud = baud
        self.timeout_s = timeout_s

    def elaborate(self, platform):
        m = Module()
        clk_hz = platform.default_clk_frequency
        div = uart_divisor(clk_hz, self.baud)
        m.submodules.link = link = UARTNetworkTop(
            self.circuit, div, timeout_cycles=max(div * 20, int(clk_hz * self.timeout_s)))
        uart = platform.request("uart", 0, dir="-")
        m.submodules.rx_buf = rx_buf = io.Buffer("i", uart.rx)
        m.submodules.tx_buf = tx_buf = io.Buffer("o", uart.tx)
        m.d.comb += [link.rx.eq(rx_buf.i), tx_buf.o.eq(link.tx)]
        for k, flag in enumerate((link.overrun, link.framing_error)):
            try:
                led = platform.request("led", k, dir="-")
            except Exception:                     # board without that LED: flag stays internal
                continue
            m.submodules[f"led{k}"] = buf = io.Buffer("o", led)
            m.d.comb += buf.o.eq(flag)
        return m
