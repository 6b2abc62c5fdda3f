#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""idle-conns: open N TLS connections to HOST:PORT, finish each handshake, then hold them all
idle until stdin closes (or SIGTERM). Prints 'ready N' once all are up, so bench/run.sh can read
the server's memory with N idle connections. Not a load generator: handshakes go one at a time."""
import socket, ssl, sys, time

def main():
    if len(sys.argv) < 3 or sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip() + "\n\nUsage: idle-conns.py HOST:PORT N")
        return 0 if len(sys.argv) > 1 else 2
    host, port = sys.argv[1].rsplit(":", 1)
    n = int(sys.argv[2])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    held = []
    t0 = time.time()
    for i in range(n):
        s = socket.create_connection((host, int(port)), timeout=30)
        s = ctx.wrap_socket(s)  # returns after the handshake
        # TLS 1.3: the server's session tickets (if any) arrive after the handshake; read them
        # now so the server's state is at rest, not waiting on a full socket.
        s.setblocking(False)
        try:
            s.recv(1)
        except (ssl.SSLWantReadError, BlockingIOError):
            pass
        held.append(s)
    print("ready %d %.1fs" % (len(held), time.time() - t0), flush=True)
    sys.stdin.read()
    return 0

sys.exit(main())
