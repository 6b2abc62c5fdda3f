# SPDX-License-Identifier: MIT
# bench/ws.sh's second baseline: an echo server with python3-websockets (Debian's package,
# which imports under /usr/bin/python3) over the ssl module, with the certificate libtlsio's
# servers use. Compression off, as the client offers none.
# usage: /usr/bin/python3 bench/ws-py-server.py CERT KEY  (prints "listening on 127.0.0.1:PORT")
import asyncio
import signal
import ssl
import sys

import websockets


async def echo(ws, path=None):
    async for message in ws:
        await ws.send(message)


async def main():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    async with websockets.serve(echo, "127.0.0.1", 0, ssl=ctx, compression=None,
                                max_size=16 << 20) as server:
        port = server.sockets[0].getsockname()[1]
        print("listening on 127.0.0.1:%d" % port, flush=True)
        await stop


asyncio.run(main())
