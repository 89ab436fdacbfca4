"""A minimal 8N1 UART: transmitter and receiver with byte streams.

Both sides run on the ``sync`` clock and take ``divisor`` = clock cycles per bit (at least 4;
``round(clk_hz / baud)``). Idle line level is 1; a frame is one start bit (0), eight data bits
LSB first, one stop bit (1).
"""
from amaranth import *
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["UARTTx", "UARTRx", "uart_divisor"]


def uart_divisor(clk_hz, baud):
    """Clock cycles per bit for ``baud`` at ``clk_hz``; raises ValueError if the baud error
    exceeds 2 % or fewer than 4 cycles per bit remain."""
    if baud <= 0:
        raise ValueError(f"baud rate must be positive, not {baud!r}")
    div = round(clk_hz / baud)
    if div < 4:
        raise ValueError(f"{baud} baud is too fast for a {clk_hz / 1e6:g} MHz clock "
                         f"(needs at least 4 clock cycles per bit)")
    err = abs(clk_hz / div - baud) / baud
    if err > 0.02:
        raise ValueError(f"{baud} baud is off by {err:.1%} at {clk_hz / 1e6:g} MHz "
                         f"(divisor {div}); choose another baud rate")
    return div


def _timer(cycles):
    """A down-counter for delays of up to ``cycles`` cycles. Loaded with ``n - 2`` and
    decremented every cycle, it turns negative ``n`` cycles after the load: its sign bit is
    the expiry flag, a flip-flop rather than a wide comparison against zero."""
    return Signal(signed(max(cycles, 2).bit_length() + 1))


def _check_divisor(divisor):
    if not isinstance(divisor, int) or divisor < 4:
        raise ValueError(f"divisor must be an integer >= 4, not {divisor!r}")


class UARTTx(wiring.Component):
    """8N1 transmitter.

    Members
    -------
    i : In(stream.Signature(8))
        Bytes to send; one is accepted whenever the transmitter is idle.
    tx : Out(1)
        Serial line (idle high).
    """
    i: In(stream.Signature(8))
    tx: Out(1, init=1)

    def __init__(self, divisor):
        _check_divisor(divisor)
        self._divisor = divisor
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        div = self._divisor
        shreg = Signal(10, init=0x3FF)           # stop bit, 8 data bits, start bit (LSB first)
        busy = Signal()                          # bits_left != 0, as a flip-flop
        bits_left = Signal(range(11))
        timer = _timer(div)
        start = Signal()
        tick = Signal()                          # a bit time is over
        m.d.comb += [self.tx.eq(shreg[0]), self.i.ready.eq(~busy),
                     start.eq(self.i.valid & ~busy), tick.eq(busy & timer[-1])]
        # the timer runs freely and reloads on a start or at the end of every bit: its next
        # value is one multiplexer after the decrement, no clock enable
        m.d.sync += timer.eq(Mux(start | timer[-1], div - 2, timer - 1))
        with m.If(start):
            m.d.sync += [shreg.eq(Cat(C(0, 1), self.i.payload, C(1, 1))), bits_left.eq(10),
                         busy.eq(1)]
        with m.Elif(tick):
            m.d.sync += [shreg.eq(Cat(shreg[1:], C(1, 1))), bits_left.eq(bits_left - 1),
                         busy.eq(bits_left != 1)]
        return m


class UARTRx(wiring.Component):
    """8N1 receiver: samples each bit in its middle; a byte whose stop bit reads 0 is dropped
    (framing error). A byte that arrives while the previous one is still unread overwrites it
    (``overrun`` pulses).

    Members
    -------
    rx : In(1)
        Serial line (idle high); synchronised with two flip-flops inside.
    o : Out(stream.Signature(8))
        Received bytes.
    overrun, framing_error : Out(1)
        One-cycle pulses.
    """
    rx: In(1, init=1)
    o: Out(stream.Signature(8))
    overrun: Out(1)
    framing_error: Out(1)

    def __init__(self, divisor):
        _check_divisor(divisor)
        self._divisor = divisor
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        div = self._divisor
        s1 = Signal(init=1)
        line = Signal(init=1)
        m.d.sync += [s1.eq(self.rx), line.eq(s1)]
        timer = _timer(div + div // 2 + 1)
        shreg = Signal(8)
        nbits = Signal(range(9))
        # one flip-flop per state (one-hot), so that every decision is a flip-flop or two
        idle, start, data_, stop, brk = (Signal(init=1, name="rx_idle"), Signal(name="rx_start"),
                                         Signal(name="rx_data"), Signal(name="rx_stop"),
                                         Signal(name="rx_break"))
        expired = timer[-1]
        begin = Signal()
        m.d.comb += begin.eq(idle & ~line)
        # the timer runs freely: reloaded to the middle of the start bit when one begins,
        # to a full bit time whenever it expires (harmless outside a frame), else decremented
        m.d.sync += timer.eq(Mux(begin, div // 2 - 2, Mux(expired, div - 2, timer - 1)))

        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(begin):
            m.d.sync += [idle.eq(0), start.eq(1)]
        with m.If(start & expired):
            m.d.sync += start.eq(0)
            with m.If(line):                            # glitch, not a start bit
                m.d.sync += idle.eq(1)
            with m.Else():
                m.d.sync += [nbits.eq(0), data_.eq(1)]
        with m.If(data_ & expired):
            m.d.sync += [shreg.eq(Cat(shreg[1:], line)), nbits.eq(nbits + 1)]
            with m.If(nbits == 7):
                m.d.sync += [data_.eq(0), stop.eq(1)]
        with m.If(stop & expired):
            m.d.sync += stop.eq(0)
            with m.If(line):
                m.d.sync += [self.o.payload.eq(shreg), self.o.valid.eq(1), idle.eq(1)]
                m.d.comb += self.overrun.eq(self.o.valid & ~self.o.ready)
            with m.Else():
                m.d.comb += self.framing_error.eq(1)
                m.d.sync += brk.eq(1)
        with m.If(brk & line):                          # wait for the line to go idle
            m.d.sync += [brk.eq(0), idle.eq(1)]
        return m
