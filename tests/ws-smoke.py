# SPDX-License-Identifier: MIT
# tlsio-ws against python3-websockets (Debian's package, which imports under /usr/bin/python3:
# tests/ws-smoke.sh runs this with that interpreter) and a raw client for protocol violations.
#   ws-smoke.py PORT CA
# Every echo is checked by SHA-256 against what was sent; exits 1 on the first failure.
import asyncio
import hashlib
import os
import random
import socket
import ssl
import struct
import sys

import websockets

port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
uri = f"wss://localhost:{port}/ws"
SIZES = [0, 1, 125, 126, 127, 65535, 65536, 65537, 100000, 1 << 20, 4 << 20]
TEXT_SIZES = [0, 1, 125, 126, 65536, 100000, 1 << 20]


def digest(m):
    return hashlib.sha256(m.encode() if isinstance(m, str) else m).hexdigest()


def text(n):
    # valid UTF-8 of about n bytes, multi-byte characters included
    s = "aé€😀"
    out = "".join(random.choice(s) for _ in range(max(0, n // 2)))
    return out


async def echo_case(ws, m, what):
    await ws.send(m)
    r = await asyncio.wait_for(ws.recv(), 60)
    if type(r) is not type(m) or digest(r) != digest(m):
        raise SystemExit(f"FAIL {what}: echo differs ({len(m)} sent, {len(r)} back, "
                         f"{type(m).__name__} -> {type(r).__name__})")


async def echoes(comp):
    async with websockets.connect(uri, ssl=ctx, compression=comp, max_size=None) as ws:
        if comp is not None and not ws.extensions:
            raise SystemExit("FAIL: permessage-deflate offered but not negotiated")
        if comp is None and ws.extensions:
            raise SystemExit("FAIL: an extension negotiated that was not offered")
        n = 0
        for size in SIZES:
            await echo_case(ws, os.urandom(size), f"binary {size} B, {comp}")
            n += 1
        for size in TEXT_SIZES:
            await echo_case(ws, text(size), f"text ~{size} B, {comp}")
            n += 1
        parts = [os.urandom(k) for k in (1, 125, 70000, 3, 65536)]
        await ws.send(parts)
        r = await asyncio.wait_for(ws.recv(), 30)
        if r != b"".join(parts):
            raise SystemExit(f"FAIL fragmented binary, {comp}")
        tparts = ["é" * 10, "€" * 40000, "x"]
        await ws.send(tparts)
        r = await asyncio.wait_for(ws.recv(), 30)
        if r != "".join(tparts):
            raise SystemExit(f"FAIL fragmented text, {comp}")
        await asyncio.wait_for(ws.ping(b"keep"), 10)
        return n + 2


async def big():
    async with websockets.connect(uri, ssl=ctx, compression=None, max_size=None) as ws:
        await echo_case(ws, os.urandom(16 << 20), "binary 16 MiB")


async def many(k):
    async def one(i):
        async with websockets.connect(uri, ssl=ctx, compression="deflate" if i % 2 else None,
                                      max_size=None) as ws:
            for size in (10, 5000, 70000):
                await echo_case(ws, os.urandom(size), f"client {i}, {size} B")
    await asyncio.gather(*(one(i) for i in range(k)))


# --- raw client ---------------------------------------------------------------------------

def raw_connect():
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    t = ctx.wrap_socket(s, server_hostname="localhost")
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    t.sendall((f"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        d = t.recv(4096)
        if not d:
            raise SystemExit("FAIL raw: connection closed during the upgrade")
        head += d
    if not head.startswith(b"HTTP/1.1 101") or b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" not in head:
        raise SystemExit(f"FAIL raw: bad upgrade answer {head!r}")
    return t


def frame(op, payload, fin=True, mask=True, rsv=0):
    b0 = (0x80 if fin else 0) | rsv << 4 | op
    n = len(payload)
    if n < 126:
        h = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
    elif n < 65536:
        h = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
    else:
        h = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
    if not mask:
        return h + payload
    k = os.urandom(4)
    return h + k + bytes(c ^ k[i & 3] for i, c in enumerate(payload))


def read_close(t):
    # the frames the server sends until its close frame: returns (code, frames before)
    buf, seen = b"", []
    while True:
        while len(buf) >= 2:
            n = buf[1] & 0x7f
            off = 2
            if n == 126:
                if len(buf) < 4:
                    break
                n, off = struct.unpack("!H", buf[2:4])[0], 4
            elif n == 127:
                if len(buf) < 10:
                    break
                n, off = struct.unpack("!Q", buf[2:10])[0], 10
            if len(buf) < off + n:
                break
            op, p = buf[0] & 0x0f, buf[off:off + n]
            buf = buf[off + n:]
            if op == 8:
                return (struct.unpack("!H", p[:2])[0] if len(p) >= 2 else None), seen
            seen.append((op, p))
        d = t.recv(65536)
        if not d:
            return "EOF", seen
        buf += d


VIOLATIONS = [
    ("unmasked frame", [frame(1, b"hi", mask=False)], 1002),
    ("opcode 3", [frame(3, b"x")], 1002),
    ("RSV1 without deflate", [frame(1, b"x", rsv=4)], 1002),
    ("ping of 126 bytes", [frame(9, b"p" * 126)], 1002),
    ("fragmented ping", [frame(9, b"p", fin=False)], 1002),
    ("continuation first", [frame(0, b"x")], 1002),
    ("text inside a fragmented message", [frame(1, b"a", fin=False), frame(1, b"b")], 1002),
    ("close with 1 byte", [frame(8, b"\x03")], 1002),
    ("close code 999", [frame(8, struct.pack("!H", 999))], 1002),
    ("close code 1005", [frame(8, struct.pack("!H", 1005))], 1002),
    ("text 0xff", [frame(1, b"\xff")], 1007),
    ("overlong", [frame(1, b"\xc0\xaf")], 1007),
    ("surrogate", [frame(1, b"\xed\xa0\x80")], 1007),
    ("bad UTF-8 across fragments", [frame(1, b"ab\xe2\x82", fin=False), frame(0, b"\x28")], 1007),
    ("close mid-message", [frame(2, b"part", fin=False), frame(8, struct.pack("!H", 1000))], 1000),
]


def violations():
    for what, frames, want in VIOLATIONS:
        t = raw_connect()
        for f in frames:
            t.sendall(f)
        code, seen = read_close(t)
        t.close()
        if code != want:
            raise SystemExit(f"FAIL violation '{what}': close code {code}, expected {want}")
        if any(op in (1, 2) for op, _ in seen):
            raise SystemExit(f"FAIL violation '{what}': a message was echoed before the close")
    # a ping between two fragments: its pong, then the whole message
    t = raw_connect()
    t.sendall(frame(2, b"ab", fin=False) + frame(9, b"between") + frame(0, b"cd") +
              frame(8, struct.pack("!H", 1000)))
    code, seen = read_close(t)
    t.close()
    if seen != [(10, b"between"), (2, b"abcd")] or code != 1000:
        raise SystemExit(f"FAIL ping between fragments: got {seen!r}, close {code}")
    return len(VIOLATIONS) + 1


def too_big(limit_port):
    global port
    saved, port = port, limit_port
    try:
        t = raw_connect()
        t.sendall(frame(2, b"", mask=True)[:1] + bytes([0x80 | 127]) + struct.pack("!Q", 2 << 20)
                  + os.urandom(4))
        code, _ = read_close(t)
        t.close()
        if code != 1009:
            raise SystemExit(f"FAIL frame above --max-message: close code {code}, expected 1009")
    finally:
        port = saved


def http_checks():
    for req, want in ((b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 200"),
                      (b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
                       b"HTTP/1.1 426"),
                      (b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       b"Sec-WebSocket-Version: 13\r\n\r\n", b"HTTP/1.1 400")):
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                            server_hostname="localhost")
        s.sendall(req)
        got = s.recv(4096)
        s.close()
        if not got.startswith(want):
            first = req.split(b"\r\n")[0]
            raise SystemExit(f"FAIL HTTP {first!r}: {got[:40]!r}")


async def broadcast(n_clients=6, k=15):
    # --mode broadcast: every client (the sender included) gets every client's messages, each
    # sender's in its order, equal by SHA-256; half the clients negotiate permessage-deflate
    clients = [await websockets.connect(uri, ssl=ctx, compression="deflate" if i % 2 else None,
                                        max_size=None) for i in range(n_clients)]
    sent = {}
    async def send_all(i, ws):
        r = random.Random(i)
        for j in range(k):
            await ws.send(bodies[i][j])
            if r.random() < 0.3:
                await asyncio.sleep(0)

    bodies = {}
    rng = random.Random(port)
    for i in range(n_clients):
        bodies[i] = []
        for j in range(k):
            size = rng.choice([0, 125, 126, 65535, 65536, 70000, 300000]) if j % 3 else rng.randrange(2000)
            bodies[i].append(struct.pack("!II", i, j) + (os.urandom(size) if j % 2 else b"z" * size))
        sent[i] = [digest(b) for b in bodies[i]]

    async def receive_all(c, ws):
        nxt = [0] * n_clients
        for _ in range(n_clients * k):
            m = await asyncio.wait_for(ws.recv(), 60)
            i, j = struct.unpack("!II", m[:8])
            if j != nxt[i]:
                raise SystemExit(f"FAIL broadcast: client {c} got message {j} of sender {i}, "
                                 f"expected {nxt[i]} (order)")
            if digest(m) != sent[i][j]:
                raise SystemExit(f"FAIL broadcast: client {c}, sender {i} message {j}: SHA-256 differs")
            nxt[i] += 1
        return sum(nxt)

    got = await asyncio.gather(*(receive_all(c, ws) for c, ws in enumerate(clients)),
                               *(send_all(i, ws) for i, ws in enumerate(clients)))
    for ws in clients:
        await ws.close()
    return sum(g for g in got if g is not None)


def keepalive():
    # --ping-interval 300 --pong-timeout 1000: a raw client that never answers is pinged, then
    # closed with 1011; one that answers (websockets does) stays served
    t = raw_connect()
    code, seen = read_close(t)
    t.close()
    if not any(op == 9 for op, _ in seen):
        raise SystemExit(f"FAIL keep-alive: no ping before the close ({code}, frames {seen!r})")
    if code != 1011:
        raise SystemExit(f"FAIL keep-alive: a client that does not answer pings got {code}, not 1011")


async def main():
    mode = sys.argv[3] if len(sys.argv) > 3 else "all"
    if mode == "too-big":
        too_big(port)
        print("frame above --max-message: 1009")
        return
    if mode == "broadcast":
        n = await broadcast()
        print(f"broadcast: 6 clients x 15 messages, {n} deliveries in each sender's order, equal by SHA-256")
        return
    if mode == "keepalive":
        async with websockets.connect(uri, ssl=ctx, compression=None, max_size=None,
                                      ping_interval=None) as ws:
            ka = asyncio.get_running_loop().run_in_executor(None, keepalive)
            await asyncio.sleep(2.5)  # several of the server's pings, answered by websockets
            await echo_case(ws, b"still here", "a client that answers pings")
            await ka
        print("keep-alive: a client that answers pings is served after 2.5 s idle; one that "
              "does not is pinged and closed with 1011")
        return
    # a client that stays connected through the violations, and is still served after them
    async with websockets.connect(uri, ssl=ctx, compression=None, max_size=None) as keeper:
        await echo_case(keeper, b"before", "keeper")
        n = await echoes("deflate")
        n += await echoes(None)
        await big()
        await many(20)
        v = await asyncio.get_running_loop().run_in_executor(None, violations)
        await asyncio.get_running_loop().run_in_executor(None, http_checks)
        await echo_case(keeper, os.urandom(70000), "keeper after the violations")
    print(f"echo: {n} messages 0 B..4 MiB and 16 MiB, text and binary, fragmented, "
          f"deflate on and off, 20 clients at once; {v} violations got their close codes; "
          f"a client connected throughout was served after them")


asyncio.run(main())
