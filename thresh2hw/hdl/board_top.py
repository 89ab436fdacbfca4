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

Bytes outside a request frame that are not 0xA5 are ignored. A request frame is abandoned (the
receiver goes back to waiting for 0xA5) when its next byte is more than ``timeout_cycles``
cycles late: exactly, a byte whose start bit begins at most ``timeout_cycles + 1`` clock cycles
after the previous byte's start bit still belongs to the frame, one cycle later it does not
(and may begin a new frame if it is 0xA5). So a host can always resynchronise by pausing. One
assembled request waits in a holding register while the network is busy; a request completing
while the holding register is still full is dropped and sets the sticky ``overrun`` flag (on a
board LED if there is one). (A folded circuit latches its input itself, so for it the request
waits in the assembly register: a request whose bytes arrive while the previous one has not
been taken yet is dropped whole, with ``overrun``.) A host that keeps no more requests in
flight than the link can absorb (``thresh2hw predict --serial`` does) never loses a frame.
"""
from amaranth import *
from amaranth.lib import io, wiring
from amaranth.lib.wiring import In, Out

from .uart import UARTRx, UARTTx, _LFSRCounter, _Timeout, _sel, uart_divisor

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
        if not isinstance(self._timeout, int) or self._timeout < 1:
            raise ValueError(f"timeout_cycles must be a positive integer, not {timeout_cycles!r}")
        self.request_bytes, self.reply_bytes = frame_sizes(circuit)
        super().__init__()

    def elaborate(self, platform):
        # Speed: the link must never be what limits the board clock. The rules of uart.py
        # hold here too: every flip-flop is one LUT4 of at most four flip-flops (AND/OR logic,
        # see uart._sel), clock enables are flip-flops, no carry chain (the byte counter and
        # the timeout are LFSR counters, the reply's byte count is a thermometer code), and
        # every stream handshake signal the link drives towards the network is a flip-flop.
        m = Module()
        net = self.circuit
        m.submodules.net = net
        m.submodules.urx = urx = UARTRx(self._divisor)
        m.submodules.utx = utx = UARTTx(self._divisor)
        m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx)]

        in_value = Value.cast(net.i.payload)
        n_in = self.request_bytes - 1
        n_out = self.reply_bytes - 1

        # -- received bytes. urx.o.payload holds a byte for a whole byte time (until the next
        # one is complete), so it is used where it is, and everything about a byte happens in
        # the cycles after its o.valid pulse: got (+1), got2 (+2, the frame FSM decides),
        # shift (+3, buf takes the byte), last (+4, hold takes buf). (No reset on these
        # pipeline registers: they follow urx, which has one.)
        m.d.comb += urx.o.ready.eq(1)
        byte = urx.o.payload
        got, got2 = Signal(reset_less=True), Signal(reset_less=True)
        nib_lo, nib_hi, is_sync = (Signal(reset_less=True) for _ in range(3))  # 0xA5 in 2 LUTs
        m.d.sync += [got.eq(urx.o.valid), got2.eq(got),
                     nib_lo.eq(byte[:4] == (SYNC_BYTE & 15)),
                     nib_hi.eq(byte[4:] == SYNC_BYTE >> 4), is_sync.eq(nib_lo & nib_hi)]

        # -- the frame FSM, evaluated once per byte (clock enable got2). The inter-byte timeout
        # restarts on every byte and `elapsed` says that the next byte comes too late (more
        # than timeout_cycles + 1 cycles after this one), so a stale frame is simply one that
        # the next byte cannot continue: that byte may start a new frame if it is 0xA5.
        # collecting and the counters have no reset: they start at 0 / loaded from their
        # initial values, and a clock enable with a reset would need a LUT.
        collecting = Signal(reset_less=True)      # a request frame is open
        idle = _Timeout(self._timeout + 1, name="idle")
        idle.drive(m, got2, early=got)
        in_frame = collecting & ~idle.elapsed
        # request bytes still to come: loaded on a byte outside a frame (if it is 0xA5, the
        # frame starts), steps on each byte of the frame, at its end when the next byte is
        # the frame's last
        to_go = _LFSRCounter(n_in - 1, name="to_go")
        to_go.drive(m, [(~in_frame, n_in - 1)], enable=got2)
        with m.If(got2):
            m.d.sync += collecting.eq(_sel([(in_frame, ~to_go.at_end)], is_sync))

        # -- request assembly: shift bytes in from the top; after n_in bytes byte 0 is at the
        # LSBs. The wide registers (buf, hold: 8*n_in bits each) have flip-flops as clock
        # enables (shift, last). A frame whose last byte finds the holding register free is
        # loaded for sure: nothing else can fill it in between.
        buf = Signal(8 * n_in, reset_less=True)
        shift = Signal(reset_less=True)           # buf takes the byte
        final = Signal(reset_less=True)           # ... the frame's last one
        m.d.sync += self.framing_error.eq(self.framing_error | urx.framing_error)
        if getattr(net, "latches_input", False):
            # The (folded) circuit copies its input on transfer, so a holding register would
            # be a third copy of the vector (a UP5K cannot spare those flip-flops): the
            # request waits in buf itself. A byte arriving while it waits is not shifted in,
            # and its whole frame is dropped (overrun), never delivered torn.
            full = Signal()
            bad = Signal(reset_less=True)         # the open frame lost a byte
            blocked = got2 & in_frame & full
            with m.If(got2):
                m.d.sync += bad.eq(in_frame & (bad | full))
            m.d.comb += [in_value.eq(buf[:len(in_value)]), net.i.valid.eq(full)]
            m.d.sync += [shift.eq(got2 & in_frame & ~full),
                         final.eq(got2 & in_frame & to_go.at_end & ~full & ~bad),
                         full.eq(final | full & ~net.i.ready),
                         self.overrun.eq(self.overrun | blocked | urx.overrun)]
        else:
            hold = Signal(8 * n_in, reset_less=True)
            hold_valid = Signal()
            last = Signal(reset_less=True)        # hold takes buf
            m.d.comb += [in_value.eq(hold[:len(in_value)]), net.i.valid.eq(hold_valid)]
            m.d.sync += [shift.eq(got2 & in_frame), final.eq(got2 & in_frame & to_go.at_end),
                         last.eq(final & ~hold_valid),
                         hold_valid.eq(last | hold_valid & ~net.i.ready),
                         self.overrun.eq(self.overrun | final & hold_valid | urx.overrun)]
            with m.If(last):
                m.d.sync += hold.eq(buf)
        with m.If(shift):
            m.d.sync += buf.eq(Cat(buf[8:], byte) if n_in > 1 else byte)

        # -- reply. The prediction goes to `res` at once (freeing the network; o.ready is a
        # flip-flop, ~res_valid), then with the header byte into the shift register obuf at a
        # bit boundary of the transmitter (its i.ready pulse, a flip-flop, is obuf's clock
        # enable), and out one byte per ready pulse. `pending` holds one bit per byte still to
        # send as a thermometer code: its bit 0 is the transmitter's i.valid, so no byte
        # counter or comparison is needed. A handshake is folded into each bit's own LUT
        # (valid, ready, new bit, old bit) instead of a shared clock enable.
        out_value = Value.cast(net.o.payload)
        ext = Signal(signed(8 * n_out) if out_value.shape().signed else unsigned(8 * n_out))
        m.d.comb += ext.eq(out_value)
        res = Signal(8 * n_out, reset_less=True)
        res_valid = Signal()
        take = net.o.valid & ~res_valid
        m.d.sync += res.eq(Cat(*(_sel([(take, ext[i])], res[i]) for i in range(8 * n_out))))
        obuf = Signal(8 * (n_out + 1), reset_less=True)
        pending = Signal(n_out + 1, reset_less=True)
        busy = pending[0]
        # net.o.ready comes from a flip-flop of its own that always equals res_valid (each
        # holds itself, so synthesis cannot merge the two): the network reads it every
        # cycle in its credit count and queue, and res_valid sits with the UART logic (a
        # 3 ns route from there into the network on a ULX3S-85F)
        res_full = Signal()
        m.d.comb += [net.o.ready.eq(~res_full), utx.i.valid.eq(busy),
                     utx.i.payload.eq(obuf[:8])]
        tick = utx.i.ready
        # res_valid: set on a take, cleared when obuf takes res (a tick while not busy)
        m.d.sync += [res_valid.eq(take | res_valid & ~(tick & ~busy)),
                     res_full.eq(take | res_full & ~(tick & ~busy))]
        new = Cat(C(REPLY_BYTE, 8), res)
        with m.If(tick):
            m.d.sync += [
                obuf.eq(Cat(*(_sel([(busy, obuf[i + 8] if i + 8 < len(obuf) else 0)], new[i])
                              for i in range(len(obuf))))),
                pending.eq(Cat(*(_sel([(busy, pending[i + 1] if i < n_out else 0)], res_valid)
                                 for i in range(n_out + 1)))),
            ]
        return m


class BoardTop(Elaboratable):
    """Platform top level: ``UARTNetworkTop`` on the board's ``uart`` 0, sticky error flags on
    ``led`` 0 (overrun) and ``led`` 1 (framing error) when the board has them. On iCE40 boards
    clocked from a pin it also makes the ``sync`` domain (see :class:`_ICE40SyncDomain`).

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
        if _needs_own_sync_domain(platform):
            # defined here, driven in a submodule named like the platform's (cd_sync.clk)
            m.domains.sync = ClockDomain("sync")
            m.submodules.cd_sync = _ICE40SyncDomain()
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


def _needs_own_sync_domain(platform):
    from amaranth.vendor import SiliconBluePlatform
    return (isinstance(platform, SiliconBluePlatform)
            and platform.default_clk not in (None, "SB_HFOSC", "SB_LFOSC"))


class _ICE40SyncDomain(Elaboratable):
    """Clock and reset of the ``sync`` domain for iCE40 boards clocked from a pin, made here
    instead of by the platform: the same clock and the same power-on reset (held for 15 us,
    for the iCE40 BRAM erratum explained in ``amaranth.vendor.SiliconBluePlatform``; ORed with
    the board's reset button if there is one), but the platform's reset timer is an up-counter
    with a carry chain and a comparison into a clock enable, clocked with everything else
    (about 90 MHz on an UP5K, the critical path of a build of the link alone). Here it is an
    :class:`_LFSRCounter` running from its initial state, and the reset a flip-flop."""

    def elaborate(self, platform):
        from amaranth.lib.cdc import ResetSynchronizer
        m = Module()
        clk_io = platform.request(platform.default_clk, dir="-")
        m.submodules.clk_buf = clk_buf = io.Buffer("i", clk_io)
        m.d.comb += ClockSignal("sync").eq(clk_buf.i)
        delay = int(15e-6 * platform.default_clk_frequency)
        timer = _LFSRCounter(max(delay, 1), name="por")     # reset-less registers
        timer.drive(m, [])
        # the reset is a flip-flop that starts at 0 (iCE40 flip-flops power up as 0: one that
        # starts at 1 is stored inverted, and the inverter LUT would drive every reset pin).
        # So the reset is asserted from the first edge until the timer's end, not in the very
        # first cycle, in which every register holds its initial value (= its reset value).
        done, por = Signal(reset_less=True), Signal(reset_less=True)
        m.d.sync += [done.eq(done | timer.at_end), por.eq(~done & ~timer.at_end)]
        if platform.default_rst is not None:
            rst_io = platform.request(platform.default_rst, dir="-")
            m.submodules.rst_buf = rst_buf = io.Buffer("i", rst_io)
            m.submodules.reset_sync = ResetSynchronizer(por | rst_buf.i, domain="sync")
        else:
            m.d.comb += ResetSignal("sync").eq(por)
        return m
