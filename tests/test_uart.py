# amaranth: UnusedElaboratable=no
"""The UART board top level in Amaranth simulation, bit by bit on the serial lines, against
the integer reference model."""
import numpy as np
import pytest
from amaranth import *
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from thresh2hw.hdl import ThresholdNetworkCircuit
from thresh2hw.hdl.board_top import UARTNetworkTop, frame_sizes
from thresh2hw.hdl.uart import (UARTRx, UARTTx, _LFSR_TAPS, _LFSRCounter, _Timeout,
                                _lfsr_step, uart_divisor)
from thresh2hw.link import LinkError, decode_replies, encode_request, frame_layout
from thresh2hw.sim import adversarial_vectors, random_vectors

from conftest import random_network

pytestmark = pytest.mark.sim

PERIOD = 1e-8
DIV = 4                      # clock cycles per UART bit: the fastest the receiver supports


def run_link(top, stream_bytes, n_replies, *, div=DIV, gaps=None, max_cycles=None, flags=None):
    """Drive ``stream_bytes`` onto ``top.rx`` as 8N1 frames, ``div`` cycles per bit, and decode
    the bytes appearing on ``top.tx``; ``gaps`` maps a byte index to idle cycles before it.
    ``flags`` (a dict) receives the sticky ``overrun`` and ``framing_error`` at the end."""
    gaps = gaps or {}
    got = []
    sim = Simulator(top)
    sim.add_clock(PERIOD)
    limit = max_cycles or (len(stream_bytes) + 3 * n_replies * top.reply_bytes + 20) * 10 * div \
        + sum(gaps.values()) + 500

    async def sender(ctx):
        ctx.set(top.rx, 1)
        await ctx.tick().repeat(3)
        for k, byte in enumerate(stream_bytes):
            if k in gaps:
                await ctx.tick().repeat(gaps[k])
            for bit in [0] + [(byte >> i) & 1 for i in range(8)] + [1]:
                ctx.set(top.rx, bit)
                await ctx.tick().repeat(div)
        for _ in range(limit):
            if len(got) >= n_replies * top.reply_bytes:
                break
            await ctx.tick()
        await ctx.tick().repeat(12 * div)           # no extra bytes may follow
        if flags is not None:
            flags.update(overrun=ctx.get(top.overrun), framing_error=ctx.get(top.framing_error))

    async def monitor(ctx):                         # an independent 8N1 receiver on tx
        while True:
            _, _, tx = await ctx.tick().sample(top.tx)
            if tx:
                continue
            await ctx.tick().repeat(div // 2)       # middle of the start bit
            value = 0
            for i in range(8):
                await ctx.tick().repeat(div - 1)
                _, _, bit = await ctx.tick().sample(top.tx)
                value |= bit << i
            await ctx.tick().repeat(div - 1)
            _, _, stop = await ctx.tick().sample(top.tx)
            assert stop == 1, "stop bit on tx is 0"
            got.append(value)

    sim.add_testbench(sender)
    sim.add_process(monitor)
    sim.run()
    return bytes(got)


def check_link(net, Q, circuit=None, div=DIV):
    circuit = circuit or ThresholdNetworkCircuit(net)
    top = UARTNetworkTop(circuit, div)
    assert (top.request_bytes, top.reply_bytes) == frame_layout(net)[:2]
    stream_bytes = b"".join(encode_request(net, r) for r in Q)
    data = run_link(top, stream_bytes, len(Q), div=div)
    assert len(data) == len(Q) * top.reply_bytes, "wrong number of reply bytes"
    got = decode_replies(net, data, len(Q))
    expected = net.forward(Q)
    bad = np.flatnonzero(got != expected)
    assert not bad.size, (f"{bad.size} mismatches; first: vector {bad[0]} inputs "
                          f"{Q[bad[0]].tolist()} expected {expected[bad[0]]} got {got[bad[0]]}")


def test_multiclass_frames_against_reference(rng):
    net = random_network(rng, d=5, hidden=(6,), n_out=3, input_bits=4)
    Q = np.vstack([adversarial_vectors(net, rng)[:12], random_vectors(net, 12, rng)])
    check_link(net, Q)


def test_multibyte_input_and_sync_byte_inside_payload(rng):
    # 3 features x 8 bits: a payload byte equal to 0xA5 must not restart the frame
    net = random_network(rng, d=3, hidden=(4,), n_out=4, input_bits=8)
    Q = np.vstack([[0xA5, 0xA5, 0xA5], [0, 0xA5, 255], random_vectors(net, 6, rng)])
    check_link(net, Q)


def test_regression_score_is_sign_extended(rng):
    net = random_network(rng, d=4, hidden=(5,), task="regression", input_bits=3, vmax=90)
    Q = random_vectors(net, 10, rng)
    check_link(net, Q)


def test_binary_two_layers(rng):
    net = random_network(rng, d=4, hidden=(5, 3), task="binary", input_bits=2)
    check_link(net, random_vectors(net, 10, rng))


def test_timeout_abandons_partial_frame_and_junk_is_ignored(rng):
    net = random_network(rng, d=3, hidden=(4,), n_out=3, input_bits=8)
    Q = random_vectors(net, 2, rng)
    f0, f1 = encode_request(net, Q[0]), encode_request(net, Q[1])
    top = UARTNetworkTop(ThresholdNetworkCircuit(net), DIV, timeout_cycles=200)
    junk = bytes([0x00, 0x13])
    partial = f1[:2]                                    # sync + one byte, then a long pause
    stream_bytes = junk + partial + f0 + f1
    data = run_link(top, stream_bytes, 2, gaps={len(junk) + len(partial): 400})
    assert decode_replies(net, data, 2).tolist() == net.forward(Q).tolist()
    assert len(data) == 2 * top.reply_bytes


def test_uart_divisor_and_codec_errors():
    assert uart_divisor(12e6, 115200) == 104
    with pytest.raises(ValueError, match="too fast"):
        uart_divisor(12e6, 6_000_000)
    with pytest.raises(ValueError, match="off by"):
        uart_divisor(12e6, 1_000_000 + 900_000)
    with pytest.raises(ValueError, match="divisor"):
        UARTTx(3)
    with pytest.raises(ValueError, match="divisor"):
        UARTRx(1.5)
    net = random_network(np.random.default_rng(0), d=2, hidden=(2,), n_out=2)
    with pytest.raises(LinkError, match="header"):
        decode_replies(net, bytes([0x00, 0x01]), 1)
    with pytest.raises(LinkError, match="expected 4"):
        decode_replies(net, bytes([0x5A, 0x01]), 2)


def test_uart_loopback_all_byte_values():
    """TX into RX directly: every byte value survives, with a 5-cycle bit."""
    from amaranth import Module
    m = Module()
    m.submodules.tx = tx = UARTTx(5)
    m.submodules.rx = rx = UARTRx(5)
    m.d.comb += rx.rx.eq(tx.tx)
    sim = Simulator(m)
    sim.add_clock(PERIOD)
    got = []

    async def bench(ctx):
        ctx.set(rx.o.ready, 1)
        for v in range(256):
            ctx.set(tx.i.payload, v)
            ctx.set(tx.i.valid, 1)
            await ctx.tick().until(tx.i.ready)
            ctx.set(tx.i.valid, 0)
            b, = await ctx.tick().sample(rx.o.payload).until(rx.o.valid)
            got.append(b)

    sim.add_testbench(bench)
    sim.run()
    assert got == list(range(256))


def test_wrong_circuit_behind_the_link_is_caught(rng):
    from dataclasses import replace
    from thresh2hw.model import OutputLayer
    net = random_network(rng, d=4, hidden=(5,), n_out=3, input_bits=3)
    Q = random_vectors(net, 12, rng)
    bias = net.output.bias.copy()
    bias[np.argmin(np.bincount(net.forward(Q), minlength=3))] += 1000   # one class always wins
    bad = replace(net, output=OutputLayer(net.output.weights, bias))
    with pytest.raises(AssertionError, match="mismatches"):
        check_link(net, Q, circuit=ThresholdNetworkCircuit(bad))


@pytest.mark.parametrize("arch", [dict(architecture="pipelined", pipeline_stages=2),
                                  dict(architecture="folded", fold=2)])
def test_other_architectures_behind_the_link(rng, arch):
    from thresh2hw.hdl import build_circuit
    net = random_network(rng, d=5, hidden=(4, 3), n_out=3, input_bits=4)
    Q = np.vstack([adversarial_vectors(net, rng)[:6], random_vectors(net, 6, rng)])
    circuit = build_circuit(net, **arch)
    # the folded circuit latches its input, so the link keeps no holding register for it
    assert circuit.latches_input == (arch["architecture"] == "folded")
    check_link(net, Q, circuit=circuit)


class _SlowLatch(wiring.Component):
    """A stand-in for a folded circuit (it latches its input on transfer, so the link keeps no
    holding register for it) that echoes its input ``busy`` cycles later and accepts nothing
    in between: requests arriving meanwhile must be dropped whole, never delivered torn."""
    latches_input = True

    def __init__(self, width, busy):
        self._busy = busy
        super().__init__({"i": In(stream.Signature(width)), "o": Out(stream.Signature(width))})

    def elaborate(self, platform):
        m = Module()
        left = Signal(range(self._busy + 1))
        data = Signal.like(self.i.payload)
        m.d.comb += self.i.ready.eq((left == 0) & ~self.o.valid)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [data.eq(self.i.payload), left.eq(self._busy)]
        with m.Elif(left == 1):
            m.d.sync += [self.o.payload.eq(data), self.o.valid.eq(1), left.eq(0)]
        with m.Elif(left != 0):
            m.d.sync += left.eq(left - 1)
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        return m


@pytest.mark.parametrize("busy", [130, 170, 210, 300])
def test_latching_circuit_drops_whole_requests_while_busy(busy):
    """Behind a circuit that latches its input, a request waits in the assembly register; the
    next request's bytes arriving meanwhile drop that request whole (overrun). Echoed payloads
    show exactly which requests arrived, and that none was torn."""
    top = UARTNetworkTop(_SlowLatch(16, busy), DIV)           # a frame is 120 cycles
    sent = [0x1111 * (k + 1) for k in range(8)]
    stream_bytes = b"".join(bytes([0xA5, v & 255, v >> 8]) for v in sent)
    flags = {}
    data = run_link(top, stream_bytes, 8, flags=flags, max_cycles=20000)
    assert len(data) % 3 == 0 and data[::3] == bytes([0x5A]) * (len(data) // 3)
    got = [data[k + 1] | data[k + 2] << 8 for k in range(0, len(data), 3)]
    assert got[0] == sent[0] and len(got) >= 2, got
    idx = [sent.index(v) for v in got]                  # every echo is a request, whole
    assert idx == sorted(set(idx)), idx                 # in order, none twice
    assert flags["overrun"] == (len(got) < len(sent)) and flags["framing_error"] == 0
    if busy > 240:                                      # longer than two frames: drops
        assert len(got) < len(sent)


# -- exact timing of the timers, the transmitter and the receiver ------------------------------

EDGE_DIVISORS = [4, 5, 7, 104, 868, 1302]


@pytest.mark.parametrize("n", sorted(w for w in _LFSR_TAPS if w <= 18))
def test_lfsr_taps_are_maximal(n):
    s, period = 1, 0
    while True:
        s, period = _lfsr_step(s, n), period + 1
        if s == 1:
            break
    assert period == 2 ** n - 1


@pytest.mark.parametrize("longest,lookahead", [(0, 0), (1, 0), (1, 1), (2, 1), (3, 0), (6, 1),
                                               (103, 1), (867, 0), (1301, 1)])
def test_lfsr_counter_flags_follow_the_state(longest, lookahead):
    """Random loads, steps and stalls: the registered flags (computed through the chain, one
    step early) always equal "state == end" / "state == the one before", and a load of k
    steps reaches the end exactly k steps later."""
    from amaranth import Module, Signal
    rng = np.random.default_rng(longest * 10 + lookahead)
    c = _LFSRCounter(longest, name="c", lookahead=lookahead)
    for k in {0, longest, longest // 2}:
        v = c.load_value(k)
        for _ in range(k):
            assert v != c.end
            v = _lfsr_step(v, c.n)
        assert v == c.end
    m = Module()
    ld1, ld2, en = Signal(), Signal(), Signal()
    k1, k2 = longest, longest // 3
    c.drive(m, [(ld1, k1), (ld2, k2)], enable=en)
    before_end = next(v for v in range(1, 2 ** c.n) if _lfsr_step(v, c.n) == c.end)
    sim = Simulator(m)
    sim.add_clock(PERIOD)

    async def bench(ctx):
        state = c.load_value(longest)
        for cycle in range(3 * longest + 60):
            a, b, e = rng.random(3) < (0.03, 0.03, 0.8)
            ctx.set(ld1, int(a))
            ctx.set(ld2, int(b))
            ctx.set(en, int(e))
            await ctx.tick()
            if e:
                state = (c.load_value(k1) if a else c.load_value(k2) if b
                         else _lfsr_step(state, c.n))
            assert ctx.get(c.state) == state, cycle
            assert ctx.get(c.at_end) == (state == c.end), cycle
            if lookahead:
                assert ctx.get(c.pre_end) == (state == before_end), cycle

    sim.add_testbench(bench)
    sim.run()


def _timeout_bench(cycles, gaps, single_max=1023):
    """Restart a _Timeout with the given gaps (edges between restarts; the last one is run
    out) and return, per restart, the number of edges after which `elapsed` first read 1
    (None if it did not before the next restart)."""
    from amaranth import Module, Signal
    m = Module()
    kick, early, restart = Signal(), Signal(), Signal()
    m.d.sync += [early.eq(kick), restart.eq(early)]      # early is restart one cycle ahead
    t = _Timeout(cycles, name="t", single_max=single_max)
    t.drive(m, restart, early)
    sim = Simulator(m)
    sim.add_clock(PERIOD)
    seen = []

    async def bench(ctx):
        for gap in gaps:
            ctx.set(kick, 1)
            await ctx.tick()
            ctx.set(kick, 0)
            await ctx.tick()
            _, _, r = await ctx.tick().sample(restart)
            assert r                            # the restart edge
            first = None
            for j in range(1, gap):
                _, _, r, e = await ctx.tick().sample(restart, t.elapsed)
                assert not r
                if e and first is None:
                    first = j                   # elapsed sampled 1 at the j-th edge after
                if not e:
                    assert first is None, "elapsed is not sticky"
            seen.append(first)

    sim.add_testbench(bench)
    sim.run()
    return t, seen


@pytest.mark.parametrize("cycles", [2, 3, 4, 200, 1023, 1024, 1500, 4999])
def test_timeout_is_exact(cycles):
    """`elapsed` reads 1 from `cycles` edges after the restart edge on, i.e. it is first
    sampled 1 by edge cycles + 1; an earlier restart starts the count again; two-stage
    (prescaled) above 1023 cycles."""
    gaps = [cycles + 4, max(1, cycles - 3), cycles + 2, cycles + 1]
    t, seen = _timeout_bench(cycles, gaps)
    assert (t.hi is None) == (cycles <= 1023)
    if t.hi is not None:
        assert t.a + (t.q - 1) * t.p == cycles - 1 and 1 <= t.a <= t.p
    assert seen == [cycles + 1 if g - 1 >= cycles + 1 else None for g in gaps]


def test_timeout_two_stage_small_segments():
    # force the cascade on short delays, where the prescaler's first period a is 1 or p
    for cycles in (5, 10, 17, 26, 37):
        t, seen = _timeout_bench(cycles, [cycles + 3, cycles + 2], single_max=1)
        assert t.hi is not None
        assert seen == [cycles + 1, cycles + 1], (cycles, t.p, t.q, t.a)


def tx_waveform(div, data, n_cycles, offer_at=0):
    """Record tx after every edge and the edges at which bytes were taken."""
    dut = UARTTx(div)
    sim = Simulator(dut)
    sim.add_clock(PERIOD)
    trace, taken = [], []

    async def bench(ctx):
        k = 0
        for cycle in range(n_cycles):
            offer = k < len(data) and cycle >= offer_at
            ctx.set(dut.i.valid, int(offer))
            if offer:
                ctx.set(dut.i.payload, data[k])
            _, _, valid, ready, _ = await ctx.tick().sample(dut.i.valid, dut.i.ready, dut.tx)
            if valid and ready:
                taken.append(cycle)
                k += 1
            trace.append(ctx.get(dut.tx))

    sim.add_testbench(bench)
    sim.run()
    return trace, taken


@pytest.mark.parametrize("div", EDGE_DIVISORS)
def test_tx_bits_are_exactly_divisor_cycles(div):
    data = [0x55, 0xA3, 0x00, 0xFF] if div < 100 else [0x5A, 0xC3]
    trace, taken = tx_waveform(div, data, (len(data) * 10 + 2) * div)
    assert len(taken) == len(data)
    assert np.all(np.diff(taken) == 10 * div), "back-to-back frames are 10 bit times apart"
    assert taken[0] == div - 1                      # the first bit boundary after start-up
    assert trace[:taken[0]] == [1] * taken[0]
    for t, byte in zip(taken, data):
        bits = [0] + [(byte >> i) & 1 for i in range(8)] + [1]
        assert trace[t:t + 10 * div] == [b for b in bits for _ in range(div)], hex(byte)
    end = taken[-1] + 10 * div
    assert set(trace[end:]) <= {1}


@pytest.mark.parametrize("div", [4, 5, 7, 104])
def test_tx_takes_an_offered_byte_at_the_next_bit_boundary(div):
    offsets = range(div + 1) if div < 10 else (0, 1, div // 2, div - 1, div)
    for offer_at in (3 * div + k for k in offsets):
        trace, taken = tx_waveform(div, [0x81], offer_at + 2 * div + 1, offer_at=offer_at)
        assert len(taken) == 1 and offer_at <= taken[0] < offer_at + div
        assert (taken[0] + 1) % div == 0            # on the free-running bit clock
        assert trace[taken[0]:taken[0] + div] == [0] * div


def rx_receive(div, waveform, settle=None):
    """Drive rx with `waveform` (one value per cycle, then idle) and return the received bytes
    and the number of framing-error pulses."""
    dut = UARTRx(div)
    sim = Simulator(dut)
    sim.add_clock(PERIOD)
    got, errors = [], []

    async def bench(ctx):
        ctx.set(dut.o.ready, 1)
        for v in list(waveform) + [1] * (settle or 3 * div):
            ctx.set(dut.rx, v)
            _, _, valid, payload, fe = await ctx.tick().sample(dut.o.valid, dut.o.payload,
                                                              dut.framing_error)
            if valid:
                got.append(payload)
            errors.append(fe)

    sim.add_testbench(bench)
    sim.run()
    return got, sum(errors)


def windowed_frame(div, byte, shift=0):
    """One frame in which each bit has its value only in the single cycle the receiver should
    sample (div // 2 + k * div cycles after the start bit's first 0; `shift` moves these
    windows) and the inverse in all other cycles of the bit; the line is idle (1) from the
    stop bit's window on."""
    bits = [0] + [(byte >> i) & 1 for i in range(8)] + [1]
    wave = []
    for c in range(10 * div):
        k = c // div
        window = div // 2 + k * div + shift
        wave.append(1 if c >= div // 2 + 9 * div + shift else
                    bits[k] if c in (0, window) else 1 - bits[k])
    return [1] * 4 + wave


@pytest.mark.parametrize("div", EDGE_DIVISORS)
def test_rx_samples_each_bit_in_one_exact_cycle(div):
    for byte in (0xA7, 0x5C):
        got, errors = rx_receive(div, windowed_frame(div, byte))
        assert got == [byte] and errors == 0
        for shift in (-1, 1):                       # one cycle off: the inverted bits
            got, _ = rx_receive(div, windowed_frame(div, byte, shift))
            assert got != [byte]


@pytest.mark.parametrize("div", [4, 5, 7])
def test_rx_ignores_glitches_and_recovers_from_framing_errors(div):
    frame = lambda b, stop=1: [v for v in [0] + [(b >> i) & 1 for i in range(8)] + [stop]
                               for _ in range(div)]
    glitch = [1] * 5 + [0] * (div // 2 - 1) + [1] * (3 * div)   # too short for a start bit
    brk = frame(0x00, stop=0) + [0] * (25 * div) + [1] * 3      # framing error, then a break
    got, errors = rx_receive(div, glitch + frame(0x3C) + [1] * 2 + brk + frame(0xC5))
    assert got == [0x3C, 0xC5] and errors == 1


@pytest.mark.parametrize("div", [5, 7])
def test_link_at_odd_divisors(rng, div):
    net = random_network(rng, d=3, hidden=(4,), n_out=3, input_bits=8)
    check_link(net, random_vectors(net, 6, rng), div=div)


@pytest.mark.parametrize("timeout", [200, 1500])
def test_timeout_boundary_is_exact(rng, timeout):
    """A byte whose start bit comes timeout + 1 cycles after the previous byte's still belongs
    to the frame; one cycle later the frame is abandoned (and the reply to it never comes).
    1500 cycles uses the two-stage (prescaled) timeout."""
    net = random_network(rng, d=3, hidden=(4,), n_out=3, input_bits=8)
    Q = np.array([[1, 2, 3], [4, 5, 6]])
    f0, f1 = encode_request(net, Q[0]), encode_request(net, Q[1])
    expected = net.forward(Q)
    for extra, replies in ((0, 2), (1, 1)):
        top = UARTNetworkTop(ThresholdNetworkCircuit(net), DIV, timeout_cycles=timeout)
        gap = timeout + 1 - 10 * DIV + extra        # idle cycles between stop and start bit
        data = run_link(top, f0 + f1, 2, gaps={2: gap})
        assert len(data) == replies * top.reply_bytes, (timeout, extra)
        got = decode_replies(net, data, replies)
        assert got.tolist() == (expected if replies == 2 else expected[1:]).tolist()


def test_uart_overhead_estimate_knows_the_lfsr_widths():
    from thresh2hw.hdl.estimate import uart_overhead
    for div in (4, 104, 217, 868, 1302, 10417):
        n = min(w for w in _LFSR_TAPS if 2 ** w - 1 >= div)
        assert uart_overhead(3, 2, div) == (2 + 15 + 4 * n + 100, 32 + 17 + 4 * n + 112)
