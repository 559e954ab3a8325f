#!/usr/bin/python3
"""The bundled example server of tether: echo, a chat with rooms, and a resumable price feed.

Usage:
  chat_server.py [--host 127.0.0.1] [--port 0] [--log FILE] [--token T]
                 [--epoch SECONDS] [--tick-ms MS] [--history TICKS]

Paths:
  /echo     echoes every text and binary message
  /chat     rooms with presence, broadcasts and a `who` request (tether's default envelope)
  /ticker   a price feed: subscribe to a symbol, `seq` on every price, replay with `resume_from`,
            a `quote` request

Once listening it prints exactly `LISTENING <port>` on stdout (flushed); nothing else goes to
stdout. SIGTERM or SIGINT closes every connection with 1001 "going away" and exits with 0.
The protocol is described in examples/servers/README.md. Runs with /usr/bin/python3 (Debian's
python3-websockets, asyncio API, 10.x).
"""

import argparse
import asyncio
import json
import math
import os
import signal
import socket
import sys
import time
import urllib.parse

import websockets
import websockets.exceptions

MAX_MESSAGE = 16 * 1024 * 1024
# 2026-01-01T00:00:00Z: prices are a function of the time since this instant, so every server
# started with the same epoch (the default, or --epoch) serves the same prices and sequence numbers.
DEFAULT_EPOCH = 1767225600.0
SYMBOLS = ["ACME", "GLOBEX", "INITECH", "UMBRELLA"]
BASE_PRICES = {"ACME": 120.0, "GLOBEX": 48.5, "INITECH": 310.25, "UMBRELLA": 9.8}
# A subscribe that replays waits this long so that the subscribe requests of one reconnect (sent
# back to back) are merged into one replay in sequence order.
REPLAY_COALESCE_S = 0.02


class EventLog:
    """One JSON object per line, flushed per line (--log)."""

    def __init__(self, path):
        self.file = open(path, "a", encoding="utf-8") if path else None
        self.pid = os.getpid()

    def write(self, event, **fields):
        if self.file is None:
            return
        record = {"event": event, "time_ms": int(time.time() * 1000), "pid": self.pid}
        record.update(fields)
        self.file.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
        self.file.flush()


def dumps(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def response(request_id, payload):
    return dumps({"id": request_id, "payload": payload})


def error_response(request_id, code, message):
    return dumps({"id": request_id, "error": {"code": code, "message": message}})


def parse_envelope(text):
    """The message as a dict, or None when it is not a JSON object with a string `type`."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        return None
    payload = value.get("payload")
    if payload is None:
        value["payload"] = {}
    elif not isinstance(payload, dict):
        return None
    return value


def resume_from_of(payload):
    value = payload.get("resume_from")
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


# --- the price feed ------------------------------------------------------------------------------


class Feed:
    """Prices as a pure function of the tick number: tick k happens at epoch + k * tick; symbol i
    (of SYMBOLS) at tick k has seq k * len(SYMBOLS) + i + 1, so sequence numbers grow with time
    across every symbol and a restarted server computes the same ones."""

    def __init__(self, epoch, tick_ms, history):
        self.epoch = epoch
        self.tick_s = tick_ms / 1000.0
        self.history = history

    def current_tick(self):
        return math.floor((time.time() - self.epoch) / self.tick_s)

    def tick_time(self, tick):
        return self.epoch + tick * self.tick_s

    @staticmethod
    def seq(symbol, tick):
        return tick * len(SYMBOLS) + SYMBOLS.index(symbol) + 1

    @staticmethod
    def tick_of_seq(seq):
        return (seq - 1) // len(SYMBOLS)

    @staticmethod
    def price(symbol, tick):
        index = SYMBOLS.index(symbol)
        base = BASE_PRICES[symbol]
        wave = (0.04 * math.sin(tick * 0.05 + index) + 0.015 * math.sin(tick * 0.31 + 2 * index)
                + 0.005 * math.sin(tick * 1.7 + 3 * index))
        return round(base * (1.0 + wave), 2)

    def message(self, symbol, tick):
        return dumps({
            "type": "price",
            "seq": self.seq(symbol, tick),
            "payload": {
                "symbol": symbol,
                "price": self.price(symbol, tick),
                "tick": tick,
                "time_ms": int(round(self.tick_time(tick) * 1000)),
            },
        })


class TickerStream:
    """One connection's stream: every tick from `next_tick` on, for each subscribed symbol in
    SYMBOLS order, skipping sequence numbers at or below that symbol's starting point."""

    def __init__(self, ws, feed):
        self.ws = ws
        self.feed = feed
        self.symbols = {}  # symbol -> only send seq > this
        self.next_tick = None
        self.wake = asyncio.Event()
        self.replay_pending = False
        self.task = asyncio.create_task(self.run())

    def subscribe(self, symbol, resume_from):
        now = self.feed.current_tick()
        if resume_from is None:
            start_seq = self.feed.seq(symbol, now)  # live from the next tick
            first_tick = now + 1
        else:
            oldest = max(now - self.feed.history, 0)
            first_tick = max(self.feed.tick_of_seq(resume_from) if resume_from > 0 else 0, oldest)
            start_seq = max(resume_from, self.feed.seq(symbol, first_tick) - 1)
            self.replay_pending = True
        self.symbols[symbol] = start_seq
        if self.next_tick is None or first_tick < self.next_tick:
            self.next_tick = first_tick
        self.wake.set()

    def unsubscribe(self, symbol):
        self.symbols.pop(symbol, None)

    async def run(self):
        try:
            await self.loop()
        except websockets.exceptions.ConnectionClosed:
            pass

    async def loop(self):
        while True:
            if not self.symbols or self.next_tick is None:
                self.wake.clear()
                await self.wake.wait()
                continue
            if self.replay_pending:
                self.replay_pending = False
                await asyncio.sleep(REPLAY_COALESCE_S)
            now = self.feed.current_tick()
            while self.next_tick <= now and self.symbols:
                tick = self.next_tick
                for symbol in SYMBOLS:
                    start_seq = self.symbols.get(symbol)
                    if start_seq is not None and self.feed.seq(symbol, tick) > start_seq:
                        await self.ws.send(self.feed.message(symbol, tick))
                self.next_tick = tick + 1
            delay = self.feed.tick_time(self.next_tick) - time.time()
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=max(delay, 0.001))
            except asyncio.TimeoutError:
                pass

    def stop(self):
        self.task.cancel()


# --- the server ----------------------------------------------------------------------------------


class Server:
    def __init__(self, args):
        self.args = args
        self.log = EventLog(args.log)
        self.feed = Feed(args.epoch, args.tick_ms, args.history)
        self.rooms = {}  # room -> {connection id: user}
        self.members = {}  # connection id -> websocket
        self.next_id = 1
        self.next_guest = 1

    # -- helpers

    async def send(self, ws, text):
        try:
            await ws.send(text)
            return True
        except websockets.exceptions.ConnectionClosed:
            return False

    async def broadcast(self, room, text):
        members = list(self.rooms.get(room, {}).keys())
        delivered = 0
        for conn in members:
            ws = self.members.get(conn)
            if ws is not None and await self.send(ws, text):
                delivered += 1
        return delivered

    def users(self, room):
        return sorted(self.rooms.get(room, {}).values())

    async def presence(self, room, user, event):
        await self.broadcast(room, dumps({
            "type": "presence",
            "payload": {"room": room, "user": user, "event": event, "users": self.users(room)},
        }))

    async def authenticate(self, ws, conn, state, message):
        """Handles an `auth` request; True when it was one."""
        if message["type"] != "auth" or "id" not in message:
            return False
        token = message["payload"].get("token")
        ok = self.args.token is None or token == self.args.token
        self.log.write("auth", conn=conn, ok=ok)
        if not ok:
            await self.send(ws, error_response(message["id"], "auth_rejected", "bad token"))
            return True
        state["authenticated"] = True
        user = message["payload"].get("user")
        if isinstance(user, str) and user:
            state["user"] = user
        state["resume_from"] = resume_from_of(message["payload"])
        await self.send(ws, response(message["id"], {"ok": True, "user": state["user"]}))
        return True

    async def refuse_unauthenticated(self, ws, message):
        if "id" in message:
            await self.send(ws, error_response(message["id"], "unauthenticated",
                                               "send an auth request first"))
        else:
            await self.send(ws, dumps({"type": "error", "payload": {
                "code": "unauthenticated", "message": "send an auth request first"}}))

    # -- paths

    async def echo(self, ws, conn):
        # Messages still arrive while the server is closing (they are logged); their echo fails.
        async for data in ws:
            self.log_message(conn, "/echo", data)
            await self.send(ws, data)

    async def chat(self, ws, conn, query):
        user = query.get("user") or "guest-%d" % self.next_guest
        if not query.get("user"):
            self.next_guest += 1
        state = {"authenticated": self.args.token is None, "user": user, "rooms": set()}
        self.members[conn] = ws
        try:
            async for data in ws:
                self.log_message(conn, "/chat", data)
                if not isinstance(data, str):
                    continue
                message = parse_envelope(data)
                if message is None:
                    await self.send(ws, dumps({"type": "error", "payload": {
                        "code": "bad_message", "message": "expected {\"type\":T,...}"}}))
                    continue
                if await self.authenticate(ws, conn, state, message):
                    continue
                if not state["authenticated"]:
                    await self.refuse_unauthenticated(ws, message)
                    continue
                await self.chat_message(ws, conn, state, message)
        finally:
            self.members.pop(conn, None)
            for room in sorted(state["rooms"]):
                self.rooms.get(room, {}).pop(conn, None)
                if not self.rooms.get(room):
                    self.rooms.pop(room, None)
                else:
                    await self.presence(room, state["user"], "leave")

    async def chat_message(self, ws, conn, state, message):
        kind = message["type"]
        payload = message["payload"]
        request_id = message.get("id")
        room = payload.get("channel", payload.get("room"))
        if kind in ("subscribe", "unsubscribe", "who") and (not isinstance(room, str) or not room):
            if request_id is not None:
                await self.send(ws, error_response(request_id, "bad_request",
                                                   "payload.channel must be a room name"))
            return
        if kind == "subscribe":
            joined = room not in state["rooms"]
            state["rooms"].add(room)
            self.rooms.setdefault(room, {})[conn] = state["user"]
            if request_id is not None:
                await self.send(ws, response(request_id,
                                             {"channel": room, "users": self.users(room)}))
            if joined:
                await self.presence(room, state["user"], "join")
        elif kind == "unsubscribe":
            was_member = room in state["rooms"]
            state["rooms"].discard(room)
            self.rooms.get(room, {}).pop(conn, None)
            if request_id is not None:
                await self.send(ws, response(request_id, {"channel": room}))
            if was_member:
                if self.rooms.get(room):
                    await self.presence(room, state["user"], "leave")
                else:
                    self.rooms.pop(room, None)
        elif kind == "who":
            if request_id is not None:
                await self.send(ws, response(request_id, {"room": room, "users": self.users(room)}))
        elif kind == "nick":
            user = payload.get("user")
            if not isinstance(user, str) or not user:
                if request_id is not None:
                    await self.send(ws, error_response(request_id, "bad_request",
                                                       "payload.user must be a name"))
                return
            old = state["user"]
            state["user"] = user
            for joined in state["rooms"]:
                self.rooms[joined][conn] = user
            if request_id is not None:
                await self.send(ws, response(request_id, {"user": user, "was": old}))
            for joined in sorted(state["rooms"]):
                await self.presence(joined, user, "rename")
        elif kind == "chat":
            text = payload.get("text")
            if not isinstance(room, str) or room not in state["rooms"] or not isinstance(text, str):
                reason = ("join the room first" if isinstance(text, str)
                          else "payload.text must be a string")
                if request_id is not None:
                    await self.send(ws, error_response(request_id, "not_in_room", reason))
                else:
                    await self.send(ws, dumps({"type": "error", "payload": {
                        "code": "not_in_room", "message": reason, "room": room}}))
                return
            user = payload.get("user")
            if not isinstance(user, str) or not user:
                user = state["user"]
            delivered = await self.broadcast(room, dumps({
                "type": "chat",
                "payload": {"room": room, "user": user, "text": text,
                            "time_ms": int(time.time() * 1000)},
            }))
            if request_id is not None:
                await self.send(ws, response(request_id, {"delivered": delivered}))
        elif request_id is not None:
            await self.send(ws, error_response(request_id, "unknown_type",
                                               "unknown request type %s" % kind))

    async def ticker(self, ws, conn):
        state = {"authenticated": self.args.token is None, "user": "", "resume_from": None}
        stream = TickerStream(ws, self.feed)
        try:
            async for data in ws:
                self.log_message(conn, "/ticker", data)
                if not isinstance(data, str):
                    continue
                message = parse_envelope(data)
                if message is None:
                    continue
                if await self.authenticate(ws, conn, state, message):
                    continue
                if not state["authenticated"]:
                    await self.refuse_unauthenticated(ws, message)
                    continue
                await self.ticker_message(ws, state, stream, message)
        finally:
            stream.stop()

    async def ticker_message(self, ws, state, stream, message):
        kind = message["type"]
        payload = message["payload"]
        request_id = message.get("id")
        symbol = payload.get("channel", payload.get("symbol"))
        if kind in ("subscribe", "unsubscribe", "quote") and symbol not in SYMBOLS:
            if request_id is not None:
                await self.send(ws, error_response(
                    request_id, "unknown_symbol",
                    "unknown symbol %s (known: %s)" % (symbol, ", ".join(SYMBOLS))))
            return
        if kind == "subscribe":
            resume_from = resume_from_of(payload)
            if resume_from is None:
                resume_from = state["resume_from"]
            if request_id is not None:
                await self.send(ws, response(request_id, {"channel": symbol}))
            stream.subscribe(symbol, resume_from)
        elif kind == "unsubscribe":
            stream.unsubscribe(symbol)
            if request_id is not None:
                await self.send(ws, response(request_id, {"channel": symbol}))
        elif kind == "resume":
            state["resume_from"] = resume_from_of(payload)
        elif kind == "quote":
            tick = self.feed.current_tick()
            if request_id is not None:
                await self.send(ws, response(request_id, {
                    "symbol": symbol, "price": self.feed.price(symbol, tick), "tick": tick,
                    "seq": self.feed.seq(symbol, tick),
                    "time_ms": int(round(self.feed.tick_time(tick) * 1000))}))
        elif kind == "symbols":
            if request_id is not None:
                await self.send(ws, response(request_id, {"symbols": SYMBOLS}))
        elif request_id is not None:
            await self.send(ws, error_response(request_id, "unknown_type",
                                               "unknown request type %s" % kind))

    # -- connections

    def log_message(self, conn, path, data):
        if isinstance(data, str):
            self.log.write("message", conn=conn, path=path, kind="text", text=data)
        else:
            self.log.write("message", conn=conn, path=path, kind="binary", size=len(data),
                           hex=data[:4096].hex())

    async def handler(self, ws, path=None):
        path = path if path is not None else getattr(ws, "path", "/")
        target = urllib.parse.urlsplit(path)
        query = dict(urllib.parse.parse_qsl(target.query))
        conn = self.next_id
        self.next_id += 1
        self.log.write("open", conn=conn, path=target.path, query=target.query)
        try:
            if target.path == "/echo":
                await self.echo(ws, conn)
            elif target.path == "/chat":
                await self.chat(ws, conn, query)
            elif target.path == "/ticker":
                await self.ticker(ws, conn)
            else:
                await ws.close(1008, "unknown path (use /echo, /chat or /ticker)")
        except websockets.exceptions.ConnectionClosed:
            pass
        finally:
            await ws.wait_closed()
            self.log.write("close", conn=conn, path=target.path, code=ws.close_code,
                           reason=ws.close_reason or "")


async def main():
    parser = argparse.ArgumentParser(description="tether's bundled example server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log", help="append one JSON line per event to FILE")
    parser.add_argument("--token", help="require first-message auth with this token")
    parser.add_argument("--epoch", type=float, default=DEFAULT_EPOCH,
                        help="the ticker's epoch, UNIX seconds (default 2026-01-01T00:00:00Z)")
    parser.add_argument("--tick-ms", type=int, default=100, help="the ticker's tick (ms)")
    parser.add_argument("--history", type=int, default=3000,
                        help="ticks the ticker can replay (default 3000)")
    args = parser.parse_args()
    if args.tick_ms <= 0 or args.history < 0:
        parser.error("--tick-ms must be > 0 and --history >= 0")

    app = Server(args)
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(
            sig, lambda: stop.done() or stop.set_result(None))

    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    server = await websockets.serve(app.handler, args.host, args.port, family=family,
                                    reuse_address=True, max_size=MAX_MESSAGE, compression=None,
                                    close_timeout=2.5)
    port = server.sockets[0].getsockname()[1]
    app.log.write("listening", host=args.host, port=port)
    print("LISTENING", port, flush=True)

    await stop
    app.log.write("shutdown", connections=len(server.websockets))
    # Stop accepting, then close every connection with 1001 "going away"; each closing handshake
    # is bounded by close_timeout. server.close() then finishes what is left.
    server.server.close()
    closing = [asyncio.create_task(ws.close(1001, "going away")) for ws in list(server.websockets)]
    if closing:
        await asyncio.wait(closing)
    server.close()
    await server.wait_closed()
    app.log.write("exit")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    sys.exit(0)
