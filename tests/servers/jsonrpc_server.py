#!/usr/bin/python3
"""A JSON-RPC 2.0 server over WebSocket for tether's interop tests (python3-websockets 10.4).

An implementation independent of tether: it speaks JSON-RPC 2.0 as the specification says,
single requests and batches. Methods:
  echo(params)            -> params
  add([a, b]) / add({"a":a,"b":b}) -> a + b
  sleep({"ms":N, "value":V}) -> V after N ms (answers out of order with other requests)
  fail()                  -> error {"code": -32000, "message": "requested failure", "data": {"why": "asked"}}
  notify_me({"method":M,"params":P}) -> true, then a notification {"method":M,"params":P}
  any other method        -> error -32601 "Method not found"
Notifications (no id) are executed and never answered. Invalid JSON -> -32700, an invalid
request object -> -32600, as the specification says.
Prints to stdout (flushed line by line):
  LISTENING <port>        once the socket is bound
  REQUEST <method> <id>   for each request or notification (id "-" for notifications)
Options: --host H --port N (default 127.0.0.1, 0 = ephemeral).
Must run with /usr/bin/python3 (the interpreter that sees python3-websockets).
"""

import argparse
import asyncio
import json
import sys

import websockets
import websockets.exceptions


def log(*parts):
    print(*parts, flush=True)


def error(id_, code, message, data=None):
    err = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return {"jsonrpc": "2.0", "error": err, "id": id_}


async def call(ws, request):
    """Runs one request object; returns the response object or None (notification)."""
    if not isinstance(request, dict) or request.get("jsonrpc") != "2.0" or \
            not isinstance(request.get("method"), str):
        return error(None, -32600, "Invalid Request")
    method = request["method"]
    params = request.get("params")
    is_notification = "id" not in request
    id_ = request.get("id")
    log("REQUEST", method, "-" if is_notification else json.dumps(id_))
    if method == "echo":
        result = params
    elif method == "add":
        if isinstance(params, list) and len(params) == 2:
            result = params[0] + params[1]
        elif isinstance(params, dict):
            result = params.get("a", 0) + params.get("b", 0)
        else:
            return None if is_notification else error(id_, -32602, "Invalid params")
    elif method == "sleep":
        await asyncio.sleep((params or {}).get("ms", 0) / 1000.0)
        result = (params or {}).get("value")
    elif method == "fail":
        return None if is_notification else error(id_, -32000, "requested failure", {"why": "asked"})
    elif method == "notify_me":
        await ws.send(json.dumps({"jsonrpc": "2.0", "method": params["method"],
                                  "params": params.get("params")}))
        result = True
    else:
        return None if is_notification else error(id_, -32601, "Method not found")
    if is_notification:
        return None
    return {"jsonrpc": "2.0", "result": result, "id": id_}


async def handle_message(ws, text):
    try:
        message = json.loads(text)
    except ValueError:
        await ws.send(json.dumps(error(None, -32700, "Parse error")))
        return
    if isinstance(message, list):
        if not message:
            await ws.send(json.dumps(error(None, -32600, "Invalid Request")))
            return
        responses = await asyncio.gather(*(call(ws, r) for r in message))
        responses = [r for r in responses if r is not None]
        if responses:
            await ws.send(json.dumps(responses))
        return
    response = await call(ws, message)
    if response is not None:
        await ws.send(json.dumps(response))


async def serve(ws, path=None):
    del path
    tasks = set()
    try:
        async for text in ws:
            if isinstance(text, bytes):
                continue
            # Each message runs on its own, so a slow request does not hold back later ones.
            task = asyncio.ensure_future(handle_message(ws, text))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    except websockets.exceptions.ConnectionClosed:
        pass


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    async with websockets.serve(serve, args.host, args.port, compression=None,
                                max_size=16 * 1024 * 1024) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        log("LISTENING", port)
        await asyncio.Future()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
