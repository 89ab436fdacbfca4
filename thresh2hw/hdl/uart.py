"""A minimal 8N1 UART: transmitter and receiver with byte streams.

Both sides run on the ``sync`` clock and take ``divisor`` = clock cycles per bit (at least 4;
``round(clk_hz / baud)``). Idle line level is 1; a frame is one start bit (0), eight data bits
LSB first, one stop bit (1).

Exact timing (checked cycle by cycle in ``tests/test_uart.py``):

* :class:`UARTTx` runs a free bit clock: every bit lasts exactly ``divisor`` cycles, and a byte
  is taken only at a bit boundary (``i.ready`` is a one-cycle pulse, once per bit time while
  the line is idle or the stop bit is being sent). The start bit begins at the edge that takes
  the byte, so bytes that are always waiting go out back to back, one every ``10 * divisor``
  cycles; a byte offered while the line is idle waits up to ``divisor`` cycles.
* :class:`UARTRx` samples bit ``k`` (0 = start, 9 = stop) of a frame on ``rx`` exactly
  ``divisor // 2 + k * divisor`` cycles after the first clock edge that sees the start bit's 0
  (the synchroniser flip-flops add a constant latency, not a sampling offset).

Speed
-----
Nothing in the link may limit a board's clock. On an iCE40 UP5K nextpnr's routing dominates:
a hop between logic tiles costs up to about 3 ns, a hop onto a clock-enable or reset pin about
3.5 ns, a LUT about 1 ns. So a path of two LUTs, or of a LUT into the enable of a group of
flip-flops, comes to 8 to 11 ns (about 100 MHz), while a flip-flop into a LUT that feeds its
own flip-flop (same logic cell, no routing) or straight into enable pins stays near 5 ns. The
UART and :mod:`.board_top` are therefore built so that

* every flip-flop's next value is one LUT4 of at most four flip-flops, written as AND/OR
  logic (a multiplexer with a constant arm would let Yosys turn it into a synchronous
  set/reset, or a held value into a clock enable, driven by a LUT);
* every clock enable is a flip-flop (so is the reset), and handshakes are folded into the
  per-bit LUTs of the registers they load rather than into a shared enable;
* there is no carry chain: all timers and counters are :class:`_LFSRCounter`\\ s.
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


def _sel(pairs, default):
    """``c1 ? v1 : c2 ? v2 : ... : default`` for 1-bit values, as AND/OR logic rather than a
    multiplexer (see the module docstring: no set/reset or enable inference from it)."""
    r = default
    for cond, v in reversed(pairs):
        if isinstance(v, int):
            r = (cond | r) if v else (~cond & r)
        else:
            r = (cond & v) | (~cond & r)
    return r


# Maximal-length feedback taps with two taps (1-based bit numbers; Xilinx XAPP052, table 3):
# an n-bit register stepping ``s -> (s << 1 | s[a-1] ^ s[b-1]) mod 2**n`` runs through all
# 2**n - 1 non-zero states (tests/test_uart.py checks the periods). Only two-tap widths are
# used, so the feedback bit with two load conditions is one LUT4. Every row has tap n, so a
# step is a bijection: the state before a given one is unique.
_LFSR_TAPS = {2: (2, 1), 3: (3, 2), 4: (4, 3), 5: (5, 3), 6: (6, 5), 7: (7, 6), 9: (9, 5),
              10: (10, 7), 11: (11, 9), 15: (15, 14), 17: (17, 14), 18: (18, 11),
              20: (20, 17), 21: (21, 19), 22: (22, 21), 23: (23, 18)}


def _lfsr_step(state, n):
    """One step of the ``n``-bit LFSR of :class:`_LFSRCounter`, on Python ints."""
    a, b = _LFSR_TAPS[n]
    fb = ((state >> (a - 1)) ^ (state >> (b - 1))) & 1
    return ((state << 1) | fb) & ((1 << n) - 1)


class _LFSRCounter:
    """A counter with no carry chain and no wide comparison: an LFSR that reaches a fixed
    *end state* after a chosen number of steps, with flip-flop flags for "the state is the end
    state" (``at_end``) and, with ``lookahead=1``, "... is one step before it" (``pre_end``).

    ``longest`` is the largest number of steps any load asks for. The register has the fewest
    bits ``n`` (among the two-tap widths) whose LFSR cycle holds the path; the end state is
    ``longest`` steps after the seed 1 and ``load_value(k)`` is the state ``k`` steps before it,
    all computed here in Python, so every count is exact.

    Every flip-flop is one LUT4 of at most four signals, counting up to two load conditions:

    * state bit ``i > 0`` takes bit ``i - 1``, bit 0 the XOR of two taps, or a load constant;
    * the flags are set one step early, and without comparing the whole state with a constant
      (two LUT levels beyond four bits): the state is a shift register, its bit ``j`` is what
      bit 0 was ``j`` steps ago, so "the state is X" means "bit 0 was ``X[n-1]``, then
      ``X[n-2]``, ..., and is ``X[0]`` now". Let ``G_k`` say that the last ``k`` values of
      bit 0 were ``X[n-k], ..., X[n-1]`` (newest first): ``G_1`` is ``bit1 == X[n-1]``, and
      ``chain`` holds ``G_2 .. G_{n-1}``, each updated to ``bit0 == X[n-k] & G_{k-1}``. The
      top flag becomes ``bit0 == X[0] & G_{n-1}``; X is the state one step before the top
      flag's state, so the flag is 1 exactly when the state is. A load sets the chain to its
      value for the loaded state (constants: the bits of a loaded state are the history they
      stand for), so loads keep it exact.

    All registers are reset-less (every user loads the counter whenever its value does not
    matter). Call :meth:`drive` once from ``elaborate``.
    """

    def __init__(self, longest, *, name, lookahead=0):
        if not isinstance(longest, int) or longest < 0:
            raise ValueError(f"step count must be a non-negative integer, not {longest!r}")
        if lookahead not in (0, 1):
            raise ValueError(f"lookahead must be 0 or 1, not {lookahead!r}")
        self.longest = longest
        self.lookahead = lookahead
        span = max(longest, lookahead + 1)          # the path must contain the chain's target
        n = min((w for w in _LFSR_TAPS if 2 ** w - 1 >= span + 1), default=None)
        if n is None:
            raise ValueError(f"a count of {longest} is too long for a {max(_LFSR_TAPS)}-bit "
                             f"LFSR")
        self.n = n
        path = [1]                                  # path[j]: j steps after the seed
        for _ in range(span):
            path.append(_lfsr_step(path[-1], n))
        if len(set(path)) != len(path):             # cannot happen with maximal taps
            raise AssertionError(f"{n}-bit LFSR repeats within {len(path)} states")
        self._path = path
        self.end = path[-1]
        self._flag_states = [path[-1 - j] for j in range(lookahead + 1)]
        self._target = path[-2 - lookahead]
        st, ch, fl = self._load_consts(longest)          # initially loaded with `longest`
        self.state = Signal(n, name=f"{name}_lfsr", init=sum(b << i for i, b in enumerate(st)),
                            reset_less=True)
        self.chain = [Signal(name=f"{name}_g{k}", init=ch[k - 2], reset_less=True)
                      for k in range(2, n)]                    # G_2 .. G_{n-1}
        self.flags = [Signal(name=f"{name}_{'pre_end' if j else 'at_end'}", init=f,
                             reset_less=True) for j, f in enumerate(fl)]
        self.at_end = self.flags[0]
        self.pre_end = self.flags[1] if lookahead else None

    def load_value(self, steps):
        """The state from which the end state is ``steps`` steps away."""
        if not isinstance(steps, int) or not 0 <= steps <= self.longest:
            raise ValueError(f"{steps!r} steps is outside 0..{self.longest}")
        return self._path[-1 - steps]

    def _load_consts(self, steps):
        """Register values right after loading the state ``steps`` steps from the end, as one
        list of bits: state bits, chain bits, flags."""
        n, x, v = self.n, self._target, self.load_value(steps)
        bit = lambda w, i: (w >> i) & 1
        chain = [int(all(bit(v, j + 1) == bit(x, n - k + j) for j in range(k)))
                 for k in range(2, n)]              # G_k: v[1..k] match X[n-k..n-1]
        return [bit(v, i) for i in range(n)], chain, [int(v == f) for f in self._flag_states]

    def drive(self, m, loads, enable=None):
        """Add the updates to ``m.d.sync``. ``loads`` lists up to two ``(condition, steps)``
        pairs, the first true one wins, otherwise the counter steps. With ``enable`` (which
        should be a flip-flop: it becomes the clock enable) all of it happens only in the
        cycles where ``enable`` is true."""
        s, ch, n, x = self.state, self.chain, self.n, self._target
        a, b = _LFSR_TAPS[n]
        match = lambda k: s[0] if (x >> k) & 1 else ~s[0]       # bit 0 == X[k]
        g = lambda k: (s[1] if (x >> (n - 1)) & 1 else ~s[1]) if k == 1 else ch[k - 2]
        step = ([s[a - 1] ^ s[b - 1]] + [s[i - 1] for i in range(1, n)]
                + [match(n - k) & g(k - 1) for k in range(2, n)]
                + list(self.flags[1:]) + [match(0) & g(n - 1)])
        consts = [sum(self._load_consts(steps), []) for _, steps in loads]
        regs = [s[i] for i in range(n)] + list(ch) + list(self.flags)
        nxt = [_sel([(cond, c[j]) for (cond, _), c in zip(loads, consts)], v)
               for j, v in enumerate(step)]
        if enable is None:
            m.d.sync += [r.eq(v) for r, v in zip(regs, nxt)]
        else:
            with m.If(enable):
                m.d.sync += [r.eq(v) for r, v in zip(regs, nxt)]


class _Timeout:
    """``elapsed`` is a flip-flop that reads 1 from ``cycles`` clock edges after the last edge
    at which ``restart`` was 1 (and 0 before), exact to the cycle.

    Up to ``single_max`` cycles this is one :class:`_LFSRCounter`. Longer delays are two in
    cascade, each about ``sqrt(cycles)`` long, to keep the registers few (240 000 cycles, 20 ms
    at 12 MHz: two 9-bit counters): a prescaler ``lo`` with period ``p`` whose first period
    after a restart is ``a`` cycles, and ``hi`` counting the prescaler's pulses, ``q`` in all,
    so that the last pulse comes ``a + (q - 1) * p = cycles - 1`` edges after the restart;
    ``elapsed`` latches it (``lo.at_end & hi.at_end``) one edge later. ``hi``'s clock enable
    (restart or a pulse) is a flip-flop set a cycle ahead, from ``early`` and ``lo.pre_end``.
    """

    def __init__(self, cycles, *, name, single_max=1023):
        if not isinstance(cycles, int) or cycles < 2:
            raise ValueError(f"timeout must be an integer of at least 2 cycles, "
                             f"not {cycles!r}")
        self.cycles = cycles
        self.elapsed = Signal(name=f"{name}_elapsed", reset_less=True)
        d = cycles - 1                              # edges from the restart to the pulse
        if cycles <= single_max:
            self.p = self.q = self.a = None
            self.lo = _LFSRCounter(d, name=f"{name}_lo")
            self.hi = None
        else:
            p = 1
            while p * p < d:
                p += 1                              # ceil(sqrt(d)), no floats
            q = -(-d // p)
            self.p, self.q, self.a = p, q, d - (q - 1) * p          # 1 <= a <= p
            self.lo = _LFSRCounter(max(self.a, p - 1), name=f"{name}_lo", lookahead=1)
            self.hi = _LFSRCounter(q - 1, name=f"{name}_hi")
            self._hi_en = Signal(name=f"{name}_hi_en", reset_less=True)

    def drive(self, m, restart, early):
        """``restart`` and ``early`` must be flip-flops; ``early`` is 1 exactly one cycle
        before each cycle in which ``restart`` is 1, and restarts are never in consecutive
        cycles."""
        lo, hi = self.lo, self.hi
        if hi is None:
            lo.drive(m, [(restart, self.cycles - 1)])
            pulse = lo.at_end
        else:
            # lo: a cycles to its first pulse after a restart, then one every p cycles
            lo.drive(m, [(restart, self.a), (lo.at_end, self.p - 1)])
            # hi steps on lo's pulses and is at its end after q - 1 of them, so the q-th pulse
            # is the last one. Its enable is `restart | lo.at_end` registered a cycle early:
            # lo.at_end follows lo.pre_end unless a restart reloads lo in between.
            m.d.sync += self._hi_en.eq(early | lo.pre_end & ~restart)
            hi.drive(m, [(restart, self.q - 1)], enable=self._hi_en)
            pulse = lo.at_end & hi.at_end
        m.d.sync += self.elapsed.eq(~restart & (self.elapsed | pulse))


def _check_divisor(divisor):
    if not isinstance(divisor, int) or divisor < 4:
        raise ValueError(f"divisor must be an integer >= 4, not {divisor!r}")


class UARTTx(wiring.Component):
    """8N1 transmitter with a free-running bit clock (see the module docstring for timing).

    The transmitter has no reset: its registers start from their initial values, and a reset
    during a frame lets the frame finish.

    Members
    -------
    i : In(stream.Signature(8))
        Bytes to send. ``i.ready`` is a flip-flop, 1 for one cycle per bit time when a byte
        can start (line idle, or its stop bit being sent); ``i.valid`` must be held until then.
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
        # the bit clock: at its end once every `div` cycles, whatever the line does; every
        # register below changes only then (its clock enable is the flag, a flip-flop)
        timer = _LFSRCounter(div - 1, name="tx_bit", lookahead=1)
        timer.drive(m, [(timer.at_end, div - 1)])
        tick = timer.at_end
        # shreg: the frame, LSB first (start bit 0, 8 data bits; the stop bit is the 1 shifted
        # in from the top). pending: bit times still to send as a thermometer code, so that
        # "more than the stop bit to go" is its bit 1, a flip-flop: no counter, no comparison
        shreg = Signal(9, init=0x1FF, reset_less=True)
        pending = Signal(10, reset_less=True)
        more = pending[1]
        ready = Signal(reset_less=True)             # = tick & ~more, set a cycle ahead
        m.d.sync += ready.eq(timer.pre_end & ~more)
        load = self.i.valid
        m.d.comb += [self.tx.eq(shreg[0]), self.i.ready.eq(ready)]
        with m.If(tick):
            m.d.sync += [
                # shift while more than the stop bit is to go; else start the next frame if a
                # byte is offered (at this edge ready is 1), or idle (all ones)
                shreg.eq(Cat(_sel([(more, shreg[1]), (load, 0)], 1),
                             *(_sel([(more, shreg[i + 1]), (load, self.i.payload[i - 1])], 1)
                               for i in range(1, 8)),
                             _sel([(more, 1), (load, self.i.payload[7])], 1))),
                pending.eq(Cat(*(_sel([(more, pending[i + 1])], load) for i in range(9)),
                               ~more & load)),
            ]
        return m


class UARTRx(wiring.Component):
    """8N1 receiver: samples each bit in its middle; a byte whose stop bit reads 0 is dropped
    (framing error). A byte that arrives while the previous one is still unread overwrites it
    (``overrun`` pulses). ``o.payload`` holds the last byte until the next one is complete.

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
        # s1 -> s2 synchronise rx; `line` is s2 one cycle later, the value every decision is
        # about. Decisions are registered one cycle ahead, on s2 = the next value of line, so
        # that in the cycle they take effect every condition is a single flip-flop.
        s1, s2, line = (Signal(init=1, reset_less=True) for _ in range(3))
        fall = Signal(reset_less=True)           # line went 1 -> 0 at the last edge
        m.d.sync += [s1.eq(self.rx), s2.eq(s1), line.eq(s2), fall.eq(line & ~s2)]
        # one flip-flop per state (one-hot). Waiting for a falling edge rather than for a 0
        # replaces a break state: after a framing error the receiver is idle at once but
        # cannot start before the line has been high again.
        idle, start, data_, stop = (Signal(init=1, name="rx_idle"), Signal(name="rx_start"),
                                    Signal(name="rx_data"), Signal(name="rx_stop"))
        # held at half a bit time while idle, so that the sample edge is div // 2 cycles after
        # the start bit's edge; reloaded to a full bit time at every sample
        timer = _LFSRCounter(div - 1, name="rx_bit", lookahead=1)
        timer.drive(m, [(idle, div // 2 - 1), (timer.at_end, div - 1)])
        sample, pre = timer.at_end, timer.pre_end    # pre: the next cycle samples

        # decisions for the next sample (no reset: functions of the state flags, which have one)
        godata = Signal(reset_less=True)         # start bit reads 0: data bits follow
        shift = Signal(reset_less=True)          # a data bit is sampled
        shen = Signal(reset_less=True)           # godata | shift: shreg's clock enable
        last = Signal(reset_less=True)           # ... and it is the eighth
        leave = Signal(reset_less=True)          # back to idle (glitch, or the stop bit)
        ok = Signal(reset_less=True)             # stop bit reads 1: the byte is complete
        bad = Signal(reset_less=True)            # stop bit reads 0
        # data bits shift in from the top behind a marker 1 loaded at the end of the start bit:
        # the marker reaching bit 1 means the eighth data bit is next (the bits below it are 0),
        # so no bit counter; the byte is shreg[1:] once the marker has reached bit 0
        shreg = Signal(9, reset_less=True)
        m.d.sync += [godata.eq(pre & start & ~s2), shift.eq(pre & data_),
                     shen.eq(pre & (start & ~s2 | data_)), last.eq(pre & data_ & shreg[1]),
                     leave.eq(pre & (stop | start & s2)), ok.eq(pre & stop & s2),
                     bad.eq(pre & stop & ~s2)]
        m.d.sync += [idle.eq(idle & ~fall | leave), start.eq(idle & fall | start & ~sample),
                     data_.eq(godata | data_ & ~last), stop.eq(last | stop & ~sample)]
        with m.If(shen):
            m.d.sync += shreg.eq(Cat(*(~godata & shreg[i + 1] for i in range(8)),
                                     godata | line))
        payload = Signal(8, reset_less=True)
        with m.If(ok):
            m.d.sync += payload.eq(shreg[1:])
        valid = self.o.valid
        m.d.sync += valid.eq(ok | valid & ~self.o.ready)
        m.d.comb += [self.o.payload.eq(payload), self.framing_error.eq(bad),
                     self.overrun.eq(ok & valid & ~self.o.ready)]
        return m
