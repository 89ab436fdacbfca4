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
        bits_left = Signal(range(11))
        timer = Signal(range(div))
        m.d.comb += [self.tx.eq(shreg[0]), self.i.ready.eq(bits_left == 0)]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [shreg.eq(Cat(C(0, 1), self.i.payload, C(1, 1))), bits_left.eq(10),
                         timer.eq(div - 1)]
        with m.Elif(bits_left != 0):
            with m.If(timer == 0):
                m.d.sync += [shreg.eq(Cat(shreg[1:], C(1, 1))), bits_left.eq(bits_left - 1),
                             timer.eq(div - 1)]
            with m.Else():
                m.d.sync += timer.eq(timer - 1)
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
        timer = Signal(range(div + div // 2 + 1))
        shreg = Signal(8)
        nbits = Signal(range(9))

        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(~line):
                    m.d.sync += timer.eq(div // 2 - 1)      # to the middle of the start bit
                    m.next = "START"
            with m.State("START"):
                with m.If(timer == 0):
                    with m.If(line):                        # glitch, not a start bit
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += [timer.eq(div - 1), nbits.eq(0)]
                        m.next = "DATA"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("DATA"):
                with m.If(timer == 0):
                    m.d.sync += [shreg.eq(Cat(shreg[1:], line)), timer.eq(div - 1),
                                 nbits.eq(nbits + 1)]
                    with m.If(nbits == 7):
                        m.next = "STOP"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("STOP"):
                with m.If(timer == 0):
                    with m.If(line):
                        m.d.sync += [self.o.payload.eq(shreg), self.o.valid.eq(1)]
                        m.d.comb += self.overrun.eq(self.o.valid & ~self.o.ready)
                        m.next = "IDLE"
                    with m.Else():
                        m.d.comb += self.framing_error.eq(1)
                        m.next = "BREAK"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("BREAK"):                          # wait for the line to go idle
                with m.If(line):
                    m.next = "IDLE"
        return m
