# amaranth: UnusedElaboratable=no
"""The UART board top level in Amaranth simulation, bit by bit on the serial lines, against
the integer reference model."""
import numpy as np
import pytest
from amaranth.sim import Simulator

from thresh2hw.hdl import ThresholdNetworkCircuit
from thresh2hw.hdl.board_top import UARTNetworkTop, frame_sizes
from thresh2hw.hdl.uart import UARTRx, UARTTx, uart_divisor
from thresh2hw.link import LinkError, decode_replies, encode_request, frame_layout
from thresh2hw.sim import adversarial_vectors, random_vectors

from conftest import random_network

pytestmark = pytest.mark.sim

PERIOD = 1e-8
DIV = 4                      # clock cycles per UART bit: the fastest the receiver supports


def run_link(top, stream_bytes, n_replies, *, div=DIV, gaps=None, max_cycles=None):
    """Drive ``stream_bytes`` onto ``top.rx`` as 8N1 frames, ``div`` cycles per bit, and decode
    the bytes appearing on ``top.tx``; ``gaps`` maps a byte index to idle cycles before it."""
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


def check_link(net, Q, circuit=None):
    circuit = circuit or ThresholdNetworkCircuit(net)
    top = UARTNetworkTop(circuit, DIV)
    assert (top.request_bytes, top.reply_bytes) == frame_layout(net)[:2]
    stream_bytes = b"".join(encode_request(net, r) for r in Q)
    data = run_link(top, stream_bytes, len(Q))
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
    check_link(net, Q, circuit=build_circuit(net, **arch))
