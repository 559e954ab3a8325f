#!/usr/bin/python3
"""A WebSocket echo server for tether's integration tests (python3-websockets 10.4).

Echoes text as text and binary as binary, without compression, messages up to 64 MiB.
Prints to stdout (flushed line by line):
  LISTENING <port>                      once the socket is bound
  OPEN <path> <subprotocol or ->        for each accepted connection
  CLOSE <code> <reason>                 the close frame received from the client
                                        (1005: empty close frame, 1006: no close frame)
Options:
  --host H --port N                     where to listen (default 127.0.0.1, 0 = ephemeral)
  --tls-cert F --tls-key F              serve wss with this certificate
  --tls-client-ca F                     and require a client certificate signed by this CA
  --frag N                              echo each message in fragments of at most N bytes (text
                                        is cut at UTF-8 boundaries), then an empty final frame
  --ping-between                        with --frag: a ping after each fragment, i.e. between
                                        the frames of the echoed message
  --close-code C [--close-reason R]     close with C/R right after the opening handshake
  --subprotocol X                       accept subprotocol X (selected when the client offers it)
Must run with /usr/bin/python3 (the interpreter that sees python3-websockets).
"""

import argparse
import asyncio
import itertools
import ssl
import sys

import websockets
import websockets.exceptions

MAX_SIZE = 64 * 1024 * 1024


def log(*parts):
    print(*parts, flush=True)


def text_fragments(text, size):
    """Splits `text` into strings of at most `size` UTF-8 bytes (at least one code point each)."""
    data = text.encode("utf-8")
    out = []
    start = 0
    while start < len(data):
        end = min(start + size, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:
            end -= 1
        if end == start:  # one code point longer than `size`
            end = start + 1
            while end < len(data) and (data[end] & 0xC0) == 0x80:
                end += 1
        out.append(data[start:end].decode("utf-8"))
        start = end
    return out


def binary_fragments(data, size):
    return [data[i:i + size] for i in range(0, len(data), size)]


def make_handler(args):
    ping_ids = itertools.count()

    async def fragmented(ws, pieces):
        for piece in pieces:
            yield piece
            if args.ping_between:
                await ws.ping(b"frag-%d" % next(ping_ids))

    async def handler(ws, path=None):
        path = path if path is not None else getattr(ws, "path", "/")
        log("OPEN", path, ws.subprotocol or "-")
        try:
            if args.close_code:
                await ws.close(args.close_code, args.close_reason)
            else:
                async for message in ws:
                    if args.frag > 0 and len(message) > 0:
                        if isinstance(message, str):
                            pieces = text_fragments(message, args.frag)
                        else:
                            pieces = binary_fragments(message, args.frag)
                        await ws.send(fragmented(ws, pieces))
                    else:
                        await ws.send(message)
        except websockets.exceptions.ConnectionClosed:
            pass
        finally:
            await ws.wait_closed()
            log("CLOSE", ws.close_code, ws.close_reason or "")

    return handler


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--tls-client-ca")
    parser.add_argument("--frag", type=int, default=0)
    parser.add_argument("--ping-between", action="store_true")
    parser.add_argument("--close-code", type=int, default=0)
    parser.add_argument("--close-reason", default="")
    parser.add_argument("--subprotocol", action="append", default=[])
    args = parser.parse_args()

    context = None
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        if args.tls_client_ca:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(args.tls_client_ca)

    server = await websockets.serve(
        make_handler(args),
        args.host,
        args.port,
        ssl=context,
        max_size=MAX_SIZE,
        max_queue=None,
        compression=None,
        ping_interval=None,
        subprotocols=args.subprotocol or None,
    )
    port = server.sockets[0].getsockname()[1]
    log("LISTENING", port)
    await asyncio.Future()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
