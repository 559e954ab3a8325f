#!/usr/bin/env python3
"""Turns the JSON lines of scripts/bench.sh into docs/performance.md and two plots (gnuplot).

Each input line is {"case": NAME, "target": CLIENT, "round": N, "result": <transport_bench line>}.
Tables give the median over the rounds with the min-max range; the targets are checked on
ratios of medians from the same run.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile

TITLES = {
    "tcp": "TCP floor",
    "tether": "tether",
    "tether-executor": "tether (executor)",
    "tether-poll": "tether (poll)",
    "lws": "lws ws-role",
    "openssl": "OpenSSL client",
    "beast": "Beast",
    "websocketpp": "websocketpp",
}
ORDER = list(TITLES)

NOTES = """## What was optimised, and what the profile says

Each change was measured against a build of the code before it, interleaved in the same minutes
(A B A B, 3–12 rounds, medians), on this shared machine.

**Per-connection write buffer (sdk/transport/connection.cpp).** Every connection allocated and
zero-filled its 256 KiB write buffer when it was created. It now starts at 16 KiB and grows to
256 KiB the first time more is pending: RSS per extra idle connection 274.3 KiB → 30.3 KiB, with
no change in throughput beyond the noise.

**No wake-up for work the loop thread posts to itself (sdk/transport/loop.cpp).** A send made
inside a callback posted its work with `lws_cancel_service()`: a pipe write, an extra `poll()`
and a pipe read per round trip. Posts made while the loop services sockets or runs its inbox are
now covered by the drain that follows every service turn; posts from timer callbacks (which
libwebsockets runs before it computes the `poll()` timeout) and from other threads still wake it.
`strace -c`, 64 B round trips made from `on_message`: 9.47 system calls per round trip before,
4.00 after (2 `poll`, 1 `send`, 1 `recv`). rtt 64 B p50 on one CPU: 16.2 → 12.3 µs (−12 % in 11
of 12 pairs), CPU per round trip −18 %.

**Allocation-free send path (sdk/session_queue.cpp, sdk/core/outbound_queue.cpp,
sdk/protocol/frame_writer.cpp).** Allocations per echoed 64 B message, counted with an
`LD_PRELOAD` malloc counter: 2.44 → 0.015 (loop-thread callbacks), 7.74 → 0.029 (executor),
6.66 → 0.22 (`poll()`). Small payloads are copied under the queue lock into reused memory;
the loop side takes a whole batch per lock and applies "sent" in batches; the frame writer
copies small messages into one shared buffer and frames large ones straight from the queue's
copy; callbacks for `poll()`/executor modes go into a reused batch (one executor task per batch).
Client CPU per 64 B message in the flood: 0.489 → 0.337 µs (loop thread), 1.003 → 0.406 µs
(executor), 0.703 → 0.446 µs (`poll()`); perf: `malloc` 8.1 % → 0.3 % of the client's cycles,
`clock_gettime` 5.0 % → 1.1 %.

**Requests (sdk/core/request_tracker.cpp, sdk/codec/).** Tracked requests live in reused slots
with their callbacks; deadlines sit in a FIFO (a heap only when timeouts arrive out of order);
JSON is written straight into the outgoing string; plain JSON documents are parsed by a fast path
that hands anything else (escapes, exponents, deep nesting, every error) to RapidJSON — the codec
fuzzer checks on every input that both agree. Client CPU per request 3.5 → 1.75 µs; the fast
parse path alone: 2.4 → 1.75 µs (4 interleaved rounds).

**Read slices (sdk/transport/connection.cpp).** In a 64 B echo flood one read holds about 1,000
echoes. Decoding it whole delivered all of them before any reply was written, so the server sat
idle while the client decoded, then the client while the server answered. A read is now decoded
in slices of about 16 KiB that end at frame boundaries, and the replies the application sent
from a slice are written before the next one: the 64 B flood went from 2.33 M to 3.24 M msgs/s
(5 interleaved rounds; 8 KiB, 16 KiB and 32 KiB slices measured alike, 4 KiB worse). An
integration test checks that the first reply leaves before 500 of 3,000 messages in one read are
delivered (248 with slices, 991 or 1,937 without).

**The benchmark's own cost (tests/bench/bench_common.hpp).** The echo check formatted and parsed
a 16-digit hex stamp per message, about 10 % of the client's cycles in the 64 B flood; it now
steps the stamp a digit at a time, the same for every client.

**Back-pressure in the tether client (tests/bench/adapter_tether.cpp, docs/delivery.md).** The
benchmark used to queue its whole 16 × 1 MiB burst at once, and the queue must copy it (the
caller may reuse its buffer): the 1 MiB flood's peak RSS was 27 MiB. The client now tops up to
2 MiB of `buffered_amount()`, as the delivery guide shows streaming applications doing: about
14 MiB at the same throughput (2 MiB and 4 MiB measured alike; 1 MiB left one message in flight).

**Large messages (sdk/core/outbound_queue.cpp, sdk/protocol/frame_decoder.cpp,
sdk/transport/connection.cpp).** The queue keeps the buffers of up to two large messages
(64 KiB–2 MiB) for the next large sends, instead of allocating and faulting in 1 MiB per
message (page faults were 5.5 % of the client's cycles in the 1 MiB flood); a TLS connection
decrypts into the buffer of the previous read; the read slices never cut a frame, so a frame
lying whole in one read is delivered as a view into it. Client CPU per echoed 1 MiB message
0.69 → 0.63 ms (4 interleaved rounds). Then the rest of a large frame is received straight into
the message buffer instead of copied out of libwebsockets' 256 KiB read buffer: that copy went
from 7.8 % to 2.6 % of the client's cycles in the 1 MiB flood, about 3 % less client CPU per
message overall (5 interleaved rounds, within the noise of this machine).

**Queue flush (sdk/session_queue.cpp).** After a reconnect, a backlog was written up to 16 MiB
per turn of the loop while the socket took it, so the server's echoes piled up unread and the
server stalled on a full socket. Two 1 MiB windows per turn, then the reads: 100,000 queued 64 B
messages flushed at 3.64 M msgs/s instead of 3.07 M (medians of 5 interleaved rounds, client
CPU per message 0.325 → 0.275 µs); 1 window measured alike, and the floods did not change.
Then one window of 512 KiB per turn (and at most 512 KiB handed to the connection and not yet
written): 4.21 → 4.91 M msgs/s, medians of 6 interleaved runs against the two windows of 1 MiB
(128 KiB and 256 KiB measured alike); the 64 B, 64 KiB and 1 MiB floods and the wss 1 MiB flood
did not slow (4 interleaved rounds).

**Small payloads in the queue's blocks (sdk/core/outbound_queue.cpp).** A profile of the flush
showed the loop thread spending about a tenth of its time in `free()` (`malloc_consolidate`,
`unlink_chunk`, the arena lock): each of the 100,000 small payloads had a heap buffer of its
own, allocated by the sending thread and freed by the loop thread as it was sent, beyond the
256 KiB of buffers the queue kept. `send()` now copies a payload of up to 1 KiB into 64 KiB blocks
the queue owns, one after the other; a block is freed (or kept, four at most) once its messages
all left. Queue flush, medians of 6 interleaved rounds against the previous code, run twice:
4.19 → 5.51 and 3.31 → 4.32 M msgs/s; requests 745 k → 897 k/s (4 rounds). The 64 B flood did
not slow.

**Requests (sdk/session_requests.cpp, sdk/codec/envelope_codec.cpp).** The envelope of a
response or message is parsed straight into its fields without building a document (anything
unusual still takes the full parse; the codec fuzzer checks both agree), a small request is
encoded into a buffer the calling thread keeps, and a response on the loop thread reuses one
`Response`: 7.1 → 3.1 allocations per request, client CPU per request 1.47 → 1.28 µs, 553 k →
646 k requests/s (8 interleaved rounds).

**One pass over a large payload (sdk/session_queue.cpp, sdk/protocol/frame_writer.cpp,
sdk/transport/connection.cpp).** `send()` copied a large payload into the queue (the API takes a
view, and the caller may reuse its buffer), then the frame writer masked it into the write
buffer: two passes, 11 % of the client's cycles each in the 1 MiB flood. A payload above 4 KiB
is now masked as `send()` copies it, with a key from the sending thread's own pool, and its
frame goes from the queue's copy to the socket: one `sendmsg()` carries the frame headers and up
to 32 such payloads (1 MiB). A message sent again after a lost connection is re-keyed first (one
pass with old ⊕ new key). Client CPU per echoed message, medians of 6 interleaved rounds:
1 MiB 749 → 671 µs (−10 %), 64 KiB 47.0 → 44.2 µs (−6 %).

**The benchmark's mode check (tests/bench/bench_common.cpp).** The echo check asked
`config.rtt()`, a string compare, twice per message (about 6 % of the client's cycles in the
64 B flood, in every client's run): now read once. 64 B flood client CPU about 0.31 → 0.25 µs
per message (4 interleaved rounds).

**The test server's first upgrade (tests/servers/tether_test_server.cpp).** The reconnect case
restarts the server, and its first upgrade computed the first SHA-1 of the process, which loads
OpenSSL's configuration and providers: 2–9 ms on the first handshake against 0.15 ms on the
next (a Python client timing each). The timer itself fires within about 10 µs of the delay; the
rest was the server. It now computes one SHA-1 before it reports `LISTENING`: the time from the
delay to the open, median restart, 1.92 → 0.51 ms (`transport_bench tether … reconnect`, one
run of 5 and one of 8 restarts).

**Sends from the loop thread (sdk/session_queue.cpp, sdk/core/outbound_queue.cpp,
sdk/protocol/frame_writer.cpp).** A message sent from `on_message` waited in the queue for the
next hand-over (a lock, a move into the in-flight line, a vector of pointers), then the frame
writer recorded it, copied it into its buffer and, at write time, wrote its header and masked it
into the write buffer: per message, a 104-byte queue entry moved twice, a 96-byte writer record
pushed and popped, two copies of the payload. Now a small message sent on the thread running the
loop, with nothing waiting ahead of it, goes straight into the in-flight line and the frame
writer; the writer frames and masks a small copied message as it is pushed, into one buffer,
and writes many frames per copy, with a 24-byte record each; and the queue records `sent` events
only while something listens for them. Client CPU per 64 B message 0.399 → 0.337 µs, 2.50 →
2.96 M msgs/s (medians of 5 interleaved rounds, same server); 1 KiB flood 0.62 → 0.70 M msgs/s;
64 KiB and 1 MiB floods unchanged. Then the receive side (sdk/protocol/frame_decoder.cpp): a
whole unfragmented text or binary message of up to 125 bytes from the server is recognised from
its two header bytes and delivered without the general header path (the frame fuzzer checks
that whole and chunked decodes still agree): 0.312 → 0.279 µs, 3.19 → 3.58 M msgs/s; against
the code before both changes, 0.373 → 0.279 µs and 2.67 → 3.58 M msgs/s (1.34×).

**Requests again (sdk/core/request_tracker.cpp, sdk/transport/connection.cpp).** A profile of
the request run had a tenth of the client's cycles in page faults and vector growth inside the
tracker: its list of deadlines dropped answered requests' entries only from its front, and with
requests always pending that front never emptied, so the list grew by 24 bytes per request for as
long as the client sent them (24 MB after a million requests). The entries of answered requests
now go once they are half the list. Then the clock, 53 ns a read on this machine's kvm-clock: a
request's write time, a response's arrival and the time of a request sent from a result's
callback each took one; they now share one read per socket event. And the benchmark times every
16th request's latency instead of every one (two clock reads per request). Client CPU per
request, medians of 7 interleaved rounds: 1.16 → 0.98 µs (tracker) → 0.91 µs (clock) → 0.84 µs
(sampling); peak RSS of a million requests 50 → 27 → 12 MiB. Sending a small request from a
callback straight to the frame writer, as `send()` does, measured no different (0.796 → 0.792
µs, 6 rounds) and was left out.

**The restarted server (tests/bench/adapter_tether.cpp).** The queue-flush and reconnect cases
start and restart `tether_test_server` from the client process. With `fork()`, the client's
pages (100,000 queued messages, about 13 MB) became copy-on-write, and the flush then took a page
fault on every page it wrote: about 3,400 faults in the flush window (`flush_minor_faults`),
which on a machine with expensive faults held the flush to 1.6 M msgs/s. The server is now
started with `posix_spawn`: 5.6 M msgs/s and about 580 faults, 3 interleaved rounds.

**Writes wait for the writable event (sdk/transport/connection.cpp).** In the 64 KiB flood the
client's socket is mostly full, and every read's replies were written at once: each message a
callback sent cost a `sendmsg()` or `send()` that failed with `EAGAIN` (`strace -c`: 6,005 send
calls for 8,192 messages, most failing). Once a send finds the buffer full, none is tried again
before the socket reports it writable or the next read arrives: 1,740 send calls for 10,944 messages. 64 KiB flood, 10
interleaved rounds against the TCP floor: 0.92 → 0.95× its throughput; the 64 B flood and the
queue flush measured the same (6 interleaved rounds each).

**Page faults in the flush (sdk/protocol/frame_writer.cpp).** A first touch of a page costs
about 10 µs on this machine (a C program writing one byte in each of 4,096 fresh pages), and
the queue flush took about 560 in its window, about a third of its time. `perf record -e
minor-faults --call-graph dwarf` put most of them on the frame writer's buffer for small
messages, a `std::string` grown by doubling: each step zero-filled the new buffer and copied
the old one, so framing a 512 KiB window of 64 B messages wrote about 2 MiB of fresh memory. The
buffer now starts at 64 KiB, then takes 1 MiB at once, never zero-filled, so only the pages
frames are written to are touched: about 300 faults, 5.9 → 7.3 M msgs/s (6 interleaved rounds);
the 64 B flood 6.0 → 6.2 M msgs/s, requests and the connect cycle the same. What remains is
mostly first use: the frames themselves (about 140 pages), the connection's 256 KiB write
buffer, and the bookkeeping of the window's first messages.

**The test server's requests (tests/servers/app_scenario.cpp).** In some runs of the request case
the server, not the client, was the limit: about 90 % of its CPU against the client's 55 %. A
profile of the server put a fifth of its cycles in `malloc` and `free`: a RapidJSON document and
a string buffer per request, and a log event built even when the server writes no log. The
document now parses into memory on the stack, one string buffer serves every frame, and requests
are logged only when the server logs: server CPU per request about 0.85 → 0.6 µs, requests about
8 % faster in the same client (3 interleaved rounds of 300,000 requests, where the client is now
the limit).

**Allocations per request (include/tether/client.hpp, tests/bench/adapter_tether.cpp).** An
`LD_PRELOAD` malloc counter over 2,000 and 52,000 requests: 3.0 allocations per request. One was
`Client::request()` taking its payload `Json` by value, which copied a payload reused for every
request; it now takes `const Json&` (the payload is encoded before the call returns). One was the
benchmark's own result callback, which captured every local by reference, too large for
`std::function` to hold in place; it now captures a pointer and the request's number, as an
application's `this` and an id would. The one left is the response payload's string. 1.0
allocation per request; 1.17 → 1.25 M requests/s, client CPU 0.835 → 0.797 µs per request (8
interleaved rounds).

**What still costs, and the targets not met.**
- 1 MiB flood (perf, client): the kernel's send and receive copies and its loopback work are
  about 80 % of the client's cycles, masking (the one pass RFC 6455 requires of a client) about
  15 %, the copy out of libwebsockets' first 256 KiB read 3 %. The TCP floor streams with no
  user-space pass at all, and swings between 1.5 and 3.2 GB/s from one run to the next on this
  machine.
- 3× websocketpp at 64 KiB and 1 MiB (websocketpp streams 0.45–0.65 GB/s here) lands at or near
  the TCP floor: it asks a WebSocket client to cost what a plain TCP stream costs. At 64 KiB
  the verdict changes from run to run: four runs whose code differs in nothing this case runs
  gave 2.75–3.25× websocketpp and 0.78–0.87× the TCP floor (which itself ranged from 1.35 to
  2.0 GB/s between runs); the client's own code is about a fifth of its cycles there (masking
  5 %), the kernel's copies and loopback work the rest.
- 64 B flood, 10× websocketpp: websocketpp runs at 0.3–0.6 M msgs/s here, depending on the
  machine's phase. The tether client is CPU-bound (queue, callbacks, framing, the echo check):
  0.28–0.29 µs per message since sends from the loop thread go straight to the writer and small
  frames are decoded from their two header bytes (0.34–0.40 µs before; 8.7× websocketpp in the
  run before, 12.0× in the first run after). The blocking OpenSSL client, with none of those,
  shows what the server sustains.
- Round trips on one CPU (64 B against libwebsockets' ws role, 64 KiB against the TCP floor)
  are system calls and context switches: tether makes 3 per round trip (`sendto`, `poll`,
  `recvfrom`), the lws ws-role client 5. Their ratios moved with the machine's phase: 64 B was
  0.97× lws in one run and 1.08× in the next, with the send path faster in between (interleaved
  on the same machine right after that run: tether 23.7 µs, the code before 24.2 µs; lws
  21.9 µs, Beast 23.8 µs).
- Queue flush: the flush and the flood do the same work per message; the flush still reads
  100,000 queue entries (about 10 MB) from memory rather than cache, where the flood cycles
  1,000 warm ones, and takes about 300 page faults on memory its new connection uses for the
  first time (about 10 µs each here). Single runs of either vary by ±20 % on this machine: two
  suite runs between the send and frame-writer changes had it at 0.85× and 0.88×, with the
  flood at its fastest yet (5.9–6.4 M msgs/s).
- Requests at half the flood rate: a request is JSON encoded, tracked, its response parsed and
  matched, about 0.8 µs of client CPU against 0.16–0.29 µs for a flood message (the ratio
  follows the flood, which got faster). A profile of the request run is flat: decoding the
  response 14 %, encoding the request 11 %, the tracker's slots and two indexes about 15 %, the
  queue and the write path about 15 %, locks 5 %, the rest spread thin.
- RSS while connected: the process before tether's runtime is already about 5.4 MiB (libc,
  libstdc++, libssl and libcrypto, libwebsockets mapped in). A C++ program that only links
  libwebsockets (which brings libssl, libcrypto, zlib and libcap) has 5.2 MiB resident when
  `main()` starts (3.1 MiB with libstdc++ alone, 1.1 MiB a C program): with the two libraries
  the design fixes, 6 MiB leaves under 1 MiB for the loop thread, libwebsockets' context and
  OpenSSL's random bytes. Of the about 4.2 MiB the runtime and
  one connection add, 2.1–2.4 MiB is OpenSSL 3 starting its default provider at the first
  random bytes: a 10-line C program that only calls `RAND_bytes` goes from 2.9 to 5.3 MiB, and
  as much with a library context of its own that loads no configuration (`RAND_bytes_ex`); its
  RSS grows in libcrypto's file-backed pages (code and tables the provider touches), not in the
  heap. The fixed design takes its random bytes and SHA-1 from OpenSSL, so that cost stays.
  Most of that RSS is library code, file-backed and shared with every other process that maps
  the same libraries: the process's anonymous memory (heap, stacks) is the row below it, about
  1.6 MiB connected, of which about 0.9 MiB is tether's runtime and connection.
- libwebsockets sizes two per-descriptor tables by `ulimit -n` and zeroes them when the runtime
  starts: 16 bytes per allowed descriptor (about 320 KiB more RSS at `ulimit -n` 20000 than at
  1024, measured with idle_bench). Under a limit of 1,048,576, common in containers, that is
  16 MiB per runtime; a program that raises its limit pays for it, one that lowers it (or
  shares one runtime between its clients) does not. The per-descriptor lookup is what keeps
  every socket event O(1); libwebsockets' alternative below the limit (`fd_limit_per_thread`)
  scans the whole table on every event and is not used.

Whole-process RSS while connected is measured by `idle_bench`, which links tether only.
"""


class Runs:
    def __init__(self, path):
        self.rows = []
        for line in open(path):
            line = line.strip()
            if line:
                try:
                    self.rows.append(json.loads(line))
                except json.JSONDecodeError:
                    pass

    def results(self, case, target):
        return [r["result"] for r in self.rows
                if r["case"] == case and r["target"] == target and "error" not in r["result"]]

    def errors(self, case, target):
        return [r["result"].get("error", "") for r in self.rows
                if r["case"] == case and r["target"] == target and "error" in r["result"]]

    def values(self, case, target, key):
        return [r[key] for r in self.results(case, target) if key in r]

    def median(self, case, target, key):
        v = self.values(case, target, key)
        return statistics.median(v) if v else None

    def targets(self, case):
        seen = {r["target"] for r in self.rows if r["case"] == case}
        return [t for t in ORDER if t in seen]


def fmt(v, unit):
    if v is None:
        return "–"
    if unit == "msgs/s":
        return f"{v / 1e3:,.0f} k" if v >= 1e4 else f"{v:,.0f}"
    if unit in ("MB/s", "KiB", "µs", "ms") and abs(v) >= 100:
        return f"{v:,.0f}"
    if unit == "%":
        return f"{v:.2f}"
    return f"{v:.2f}" if abs(v) < 10 else f"{v:.1f}"


def cell(runs, case, target, key, unit, scale=1.0):
    v = [x * scale for x in runs.values(case, target, key)]
    failed = len(runs.errors(case, target))
    if not v:
        return "failed" if failed else "–"
    text = f"{fmt(statistics.median(v), unit)} ({fmt(min(v), unit)}–{fmt(max(v), unit)})"
    if failed:
        text += f" [{failed} failed]"
    return text


def table(out, runs, rows, header_targets=None):
    """rows: (label, case, key, unit, scale)."""
    targets = header_targets
    if targets is None:
        seen = set()
        for _, case, _, _, _ in rows:
            seen.update(runs.targets(case))
        targets = [t for t in ORDER if t in seen]
    out.append("| case | unit | " + " | ".join(TITLES[t] for t in targets) + " |")
    out.append("|---|---|" + "---:|" * len(targets))
    for label, case, key, unit, scale in rows:
        cells = []
        for t in targets:
            cells.append(cell(runs, case, t, key, unit, scale)
                         if t in runs.targets(case) else "")
        out.append(f"| {label} | {unit} | " + " | ".join(cells) + " |")
    out.append("")


def run_text(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def package_version(name):
    return run_text(["dpkg-query", "-W", "-f=${Version}", name]) or "not installed"


def machine(args):
    cpu = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gxx = run_text(["c++", "--version"]).splitlines()
    return [
        f"- Machine: {os.cpu_count()} vCPU ({cpu}), kernel {platform.release()}, "
        f"{platform.node()}",
        f"- Load (`uptime`) before: `{args.load_before.strip()}`; after: "
        f"`{args.load_after.strip()}`",
        f"- Compiler: {gxx[0] if gxx else '?'}; Release build (`-O3`)",
        f"- libwebsockets {package_version('libwebsockets-dev')}, OpenSSL "
        f"{package_version('libssl-dev')}, Boost.Beast (libboost-dev) "
        f"{package_version('libboost-dev')}, websocketpp {package_version('libwebsocketpp-dev')}",
        f"- Servers (`tether_test_server` ws and wss, the TCP echo) pinned to CPU {args.server_cpu}; "
        f"clients on CPU {args.client_cpu} (\"same CPU\": on CPU {args.server_cpu} too)",
        f"- {args.rounds} interleaved rounds (the order of the clients rotates every round), "
        f"{args.duration} s per rtt/flood run; the suite ran in {args.elapsed} s",
    ]


class Targets:
    def __init__(self, runs):
        self.runs = runs
        self.rows = []

    def ratio(self, label, a, b, op, limit, unit_note=""):
        """a / b compared with limit (op '<=' or '>=')."""
        if a is None or b is None or b == 0:
            self.rows.append((label, "–", "not measured"))
            return
        r = a / b
        met = r <= limit if op == "<=" else r >= limit
        self.rows.append((label, f"{r:.2f}× {unit_note}".strip(),
                          "**met**" if met else "not met"))

    def absolute(self, label, value, op, limit, unit):
        if value is None:
            self.rows.append((label, "–", "not measured"))
            return
        met = value <= limit if op == "<=" else value >= limit
        self.rows.append((label, f"{fmt(value, unit)} {unit} (limit {limit:g} {unit})",
                          "**met**" if met else "not met"))

    def context(self, label, *values, show):
        """A row that explains the one above it; left out when a value was not measured."""
        if any(v is None for v in values):
            return
        self.rows.append((label, show(*values), "(context)"))

    def render(self, out):
        out.append("| target | measured (ratio of medians, or value) | verdict |")
        out.append("|---|---|---|")
        for label, value, verdict in self.rows:
            out.append(f"| {label} | {value} | {verdict} |")
        out.append("")


def check_targets(runs):
    m = runs.median
    t = Targets(runs)
    t.ratio("rtt 64 B p50, same CPU: tether ≤ 1.05× lws ws-role",
            m("rtt-64-same-cpu", "tether", "p50_us"), m("rtt-64-same-cpu", "lws", "p50_us"),
            "<=", 1.05)
    t.ratio("rtt 64 B p50, same CPU: tether ≤ Beast",
            m("rtt-64-same-cpu", "tether", "p50_us"), m("rtt-64-same-cpu", "beast", "p50_us"),
            "<=", 1.0)
    t.ratio("rtt 64 KiB p50, same CPU: tether ≤ 1.5× TCP floor",
            m("rtt-64k-same-cpu", "tether", "p50_us"), m("rtt-64k-same-cpu", "tcp", "p50_us"),
            "<=", 1.5)
    t.ratio("flood 64 B: tether ≥ 10× websocketpp",
            m("flood-64", "tether", "msgs_per_s"), m("flood-64", "websocketpp", "msgs_per_s"),
            ">=", 10)
    for case, size in (("flood-64k", "64 KiB"), ("flood-1m", "1 MiB")):
        t.ratio(f"flood {size}: tether ≥ 0.8× TCP floor stream",
                m(case, "tether", "mb_per_s"), m(case, "tcp", "mb_per_s"), ">=", 0.8)
        t.ratio(f"flood {size}: tether ≥ 3× websocketpp",
                m(case, "tether", "mb_per_s"), m(case, "websocketpp", "mb_per_s"), ">=", 3)
    t.ratio("wss flood 1 MiB: tether ≥ 0.8× blocking OpenSSL client",
            m("wss-flood-1m", "tether", "mb_per_s"), m("wss-flood-1m", "openssl", "mb_per_s"),
            ">=", 0.8)
    peak = m("flood-1m", "tether", "peak_rss_kib")
    t.absolute("peak RSS in the 1 MiB flood ≤ 16 MiB", None if peak is None else peak / 1024,
               "<=", 16, "MiB")
    t.absolute("idle CPU 0.0 %", m("idle", "tether", "idle_cpu_pct"), "<=", 0.05, "%")
    rss = m("idle", "tether", "rss_kib")
    t.absolute("RSS while connected ≤ 6 MiB (whole process)", None if rss is None else rss / 1024,
               "<=", 6, "MiB")
    t.context("… of which tether's runtime and connection (RSS minus the process before the "
              "runtime existed; idle_bench links tether alone)",
              rss, m("idle", "tether", "rss_before_tether_kib"),
              show=lambda rss, before: f"{(rss - before) / 1024:.2f} MiB")
    t.context("… the process's anonymous memory (heap, stacks: RSS without library code), "
              "connected; before tether's runtime",
              m("idle", "tether", "rss_anon_kib"), m("idle", "tether", "rss_anon_before_tether_kib"),
              show=lambda anon, before: f"{anon / 1024:.2f} MiB; {before / 1024:.2f} MiB")
    t.context("… `ulimit -n` of the run (libwebsockets zeroes 16 bytes per allowed descriptor)",
              m("idle", "tether", "open_files_limit"),
              show=lambda n: f"{n:,.0f} ({n * 16 / 1024:,.0f} KiB)")
    t.absolute("RSS per extra idle connection ≤ 64 KiB (1,000 connections)",
               m("many-1000", "tether", "rss_per_extra_kib"), "<=", 64, "KiB")
    t.ratio("queue-flush of 100,000 × 64 B ≥ 0.9× the 64 B flood rate",
            m("queue-flush-64", "tether", "msgs_per_s"), m("flood-64", "tether", "msgs_per_s"),
            ">=", 0.9)
    late = runs.values("reconnect", "tether", "max_us")
    t.absolute("reconnect: open within the scheduled delay + 5 ms (worst restart)",
               max(late) / 1000 if late else None, "<=", 5, "ms")
    t.ratio("request throughput ≥ 0.5× the 64 B flood rate",
            m("request-64", "tether", "msgs_per_s"), m("flood-64", "tether", "msgs_per_s"),
            ">=", 0.5)
    t.absolute("client CPU per 64 B message in the flood ≤ 0.5 µs",
               m("flood-64", "tether", "cpu_us_per_msg"), "<=", 0.5, "µs")
    return t


# --- plots -----------------------------------------------------------------------------------

def plots(runs, out_dir):
    gnuplot = shutil.which("gnuplot")
    if not gnuplot:
        return []
    made = []
    with tempfile.TemporaryDirectory() as tmp:
        # Throughput by message size, per client (flood medians).
        sizes = [("flood-64", 64), ("flood-1k", 1024), ("flood-64k", 65536), ("flood-1m", 1048576)]
        series = []
        for target in ORDER:
            points = [(size, runs.median(case, target, "mb_per_s")) for case, size in sizes]
            points = [(s, v) for s, v in points if v]
            if len(points) >= 2:
                path = os.path.join(tmp, f"tp-{target}.dat")
                with open(path, "w") as f:
                    for s, v in points:
                        f.write(f"{s} {v}\n")
                series.append((path, TITLES[target]))
        png = os.path.join(out_dir, "performance-throughput.png")
        if series:
            plot = ", ".join(f"'{p}' using 1:2 with linespoints lw 2 title '{t}'"
                             for p, t in series)
            script = f"""
set terminal pngcairo size 900,560 font ',11'
set output '{png}'
set title 'Echo flood throughput by message size (one connection, median of rounds)'
set logscale xy
set xlabel 'message size (bytes)'
set ylabel 'MB/s echoed (one way, payload)'
set xtics ('64 B' 64, '1 KiB' 1024, '64 KiB' 65536, '1 MiB' 1048576)
set key left top
set grid
plot {plot}
"""
            subprocess.run([gnuplot], input=script, text=True, check=False)
            made.append(png)

        # RTT distribution (64 B, split CPUs and same CPU): the round with the median p50.
        png = os.path.join(out_dir, "performance-rtt.png")
        panels = []
        for case, title in (("rtt-64", "64 B round trip, client and server on different CPUs"),
                            ("rtt-64-same-cpu", "64 B round trip, same CPU")):
            series = []
            for target in runs.targets(case):
                res = [r for r in runs.results(case, target) if "quantiles_us" in r]
                if not res:
                    continue
                res.sort(key=lambda r: r["p50_us"])
                q = res[len(res) // 2]["quantiles_us"]
                path = os.path.join(tmp, f"{case}-{target}.dat")
                with open(path, "w") as f:
                    for pct, v in q:
                        f.write(f"{100.0 / (100.0 - pct)} {max(v, 0.1)}\n")
                series.append((path, TITLES[target]))
            if series:
                panels.append((title, series))
        if panels:
            body = ""
            for title, series in panels:
                plot = ", ".join(f"'{p}' using 1:2 with lines lw 2 title '{t}'" for p, t in series)
                body += f"set title '{title}'\nplot {plot}\n"
            script = f"""
set terminal pngcairo size 900,{420 * len(panels)} font ',11'
set output '{png}'
set multiplot layout {len(panels)},1
set logscale xy
set xlabel 'percentile'
set ylabel 'round trip (µs)'
set xrange [1:2000]
set xtics ('0' 1, '50' 2, '90' 10, '99' 100, '99.9' 1000)
set key left top
set grid
{body}
unset multiplot
"""
            subprocess.run([gnuplot], input=script, text=True, check=False)
            made.append(png)
    return made


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--results", required=True)
    p.add_argument("--commands", required=True)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--rounds", default="?")
    p.add_argument("--duration", default="?")
    p.add_argument("--server-cpu", default="0")
    p.add_argument("--client-cpu", default="1")
    p.add_argument("--elapsed", default="?")
    p.add_argument("--load-before", default="")
    p.add_argument("--load-after", default="")
    p.add_argument("--build", default="build/bench")
    args = p.parse_args()
    runs = Runs(args.results)
    made = plots(runs, args.out_dir)

    out = ["# Performance", ""]
    out.append("Generated by `scripts/bench.sh` (the suite is described in "
               "[tests/bench/README.md](../tests/bench/README.md)). Loopback on a shared machine: "
               "read medians, look at the ranges, and compare clients within this run only.")
    out.append("")
    out += machine(args)
    out.append("")
    try:
        load = float(args.load_before.split("load average:")[1].split(",")[0])
    except (IndexError, ValueError):
        load = 0.0
    if load > (os.cpu_count() or 1):
        out.append(f"**The machine was busy** (load average {load:.1f} on {os.cpu_count()} "
                   "CPUs, from other work): the clients and the server waited for CPU, so "
                   "throughput and tail latencies say more about scheduling than about the "
                   "clients. The ratios between clients of one run still compare like with "
                   "like; absolute numbers do not carry over to an idle machine.")
        out.append("")
    for png in made:
        name = os.path.basename(png)
        out.append(f"![{name}]({name})")
        out.append("")

    out.append("## Targets")
    out.append("")
    check_targets(runs).render(out)

    out.append("## Round trips")
    out.append("")
    out.append("One message in flight; percentiles per run, then median (min–max) over the rounds.")
    out.append("")
    rows = []
    for case, label in (("rtt-64", "64 B"), ("rtt-64-same-cpu", "64 B, same CPU"),
                        ("rtt-1k", "1 KiB"), ("rtt-64k", "64 KiB"),
                        ("rtt-64k-same-cpu", "64 KiB, same CPU"), ("rtt-1m", "1 MiB"),
                        ("wss-rtt-64", "wss 64 B")):
        for key in ("p50_us", "p90_us", "p99_us", "max_us"):
            rows.append((f"{label} {key[:-3]}", case, key, "µs", 1.0))
    table(out, runs, rows)

    out.append("## Floods")
    out.append("")
    out.append("Up to 1,000 messages (and 16 MiB) in flight; MB = 10^6 bytes of payload echoed "
               "(one way). Client CPU is the client process's user + system time over the run.")
    out.append("")
    rows = []
    for case, label in (("flood-64", "64 B"), ("flood-1k", "1 KiB"), ("flood-64k", "64 KiB"),
                        ("flood-1m", "1 MiB"), ("wss-flood-64k", "wss 64 KiB"),
                        ("wss-flood-1m", "wss 1 MiB")):
        rows.append((f"{label}", case, "msgs_per_s", "msgs/s", 1.0))
        rows.append((f"{label}", case, "mb_per_s", "MB/s", 1.0))
        rows.append((f"{label} client CPU per message", case, "cpu_us_per_msg", "µs", 1.0))
        rows.append((f"{label} peak RSS", case, "peak_rss_kib", "KiB", 1.0))
    table(out, runs, rows)

    out.append("## Connection cycles")
    out.append("")
    out.append("TCP connect, (TLS,) upgrade, close handshake, socket closed; the TCP floor is "
               "connect, shutdown, the echo's EOF, close.")
    out.append("")
    table(out, runs, [("ws cycle p50", "connect", "p50_us", "µs", 1.0),
                      ("ws cycle p99", "connect", "p99_us", "µs", 1.0),
                      ("wss cycle p50", "wss-connect", "p50_us", "µs", 1.0),
                      ("wss cycle p99", "wss-connect", "p99_us", "µs", 1.0)])

    out.append("## tether only")
    out.append("")
    table(out, runs, [
        ("requests (64 B payload, 1,000 pending), throughput", "request-64", "msgs_per_s",
         "msgs/s", 1.0),
        ("requests, latency p50", "request-64", "p50_us", "µs", 1.0),
        ("requests, latency p99", "request-64", "p99_us", "µs", 1.0),
        ("queue flush: 100,000 × 64 B queued while down, after the reconnect", "queue-flush-64",
         "msgs_per_s", "msgs/s", 1.0),
        ("queue flush: time from open to the last echo", "queue-flush-64", "seconds", "ms",
         1000.0),
        ("reconnect: open after the scheduled delay, median restart", "reconnect", "p50_us", "µs",
         1.0),
        ("reconnect: worst restart", "reconnect", "max_us", "µs", 1.0),
        ("reconnect: of which the timer's lateness, median restart", "reconnect",
         "timer_late_p50_us", "µs", 1.0),
        ("reconnect: of which the attempt (connect and upgrade), median restart", "reconnect",
         "attempt_p50_us", "µs", 1.0),
        ("reconnect: the slowest attempt", "reconnect", "attempt_max_us", "µs", 1.0),
        ("reconnect: mean scheduled delay", "reconnect", "mean_delay_ms", "ms", 1.0),
        ("idle 1 connection: CPU", "idle", "idle_cpu_pct", "%", 1.0),
        ("idle 1 connection: RSS", "idle", "rss_kib", "KiB", 1.0),
        ("idle: RSS of the process before tether's runtime", "idle", "rss_before_tether_kib",
         "KiB", 1.0),
        ("idle: RSS with the runtime, no connection", "idle", "rss_runtime_kib", "KiB", 1.0),
        ("idle 1 connection: anonymous RSS (no library code)", "idle", "rss_anon_kib", "KiB",
         1.0),
        ("idle: anonymous RSS before tether's runtime", "idle", "rss_anon_before_tether_kib",
         "KiB", 1.0),
        ("1 connection: RSS", "many-1", "rss_all_kib", "KiB", 1.0),
        ("100 connections: RSS", "many-100", "rss_all_kib", "KiB", 1.0),
        ("100 connections: RSS per extra connection", "many-100", "rss_per_extra_kib", "KiB",
         1.0),
        ("1,000 connections: RSS", "many-1000", "rss_all_kib", "KiB", 1.0),
        ("1,000 connections: RSS per extra connection", "many-1000", "rss_per_extra_kib", "KiB",
         1.0),
    ], header_targets=["tether"])

    out.append(NOTES)

    failures = [r for r in runs.rows if "error" in r["result"]]
    if failures:
        out.append("## Failed runs")
        out.append("")
        for r in failures:
            out.append(f"- {r['case']} / {r['target']} round {r['round']}: "
                       f"{r['result'].get('error')}")
        out.append("")

    out.append("## Commands")
    out.append("")
    out.append("Round 1 (ports and the temporary certificate directory change per run):")
    out.append("")
    out.append("```")
    out += [line.rstrip() for line in open(args.commands) if line.strip()]
    out.append("```")
    out.append("")
    with open(os.path.join(args.out_dir, "performance.md"), "w") as f:
        f.write("\n".join(out))


if __name__ == "__main__":
    main()
