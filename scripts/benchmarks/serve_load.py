#!/usr/bin/env python3
"""Load for `vigil serve` (used by scripts/benchmarks/serve; standard library only).

While two live sources run, for --duration seconds:
  - --subscribers SSE clients hold GET /v1/sources/{id}/events open (split over the sources), each checking that the
    event ids it receives are consecutive (a gap is a lost event) and counting them;
  - --askers clients ask questions back to back (POST /v1/chat/completions, stream: true, alternating sources),
    each timing the first content chunk (time to first token, client side) and the whole answer;
  - the server's resident memory and every source's status are sampled every --sample seconds.

Prints one JSON object: subscribers (held, events, lost, errors), questions (count, per second, TTFT p50/p95
client- and server-side, answer time), per-source frames processed and dropped during the run, RSS samples.
"""

import argparse
import http.client
import json
import statistics
import sys
import threading
import time


def percentile(values, q):
    if not values:
        return None
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(q * (len(ordered) - 1)))))
    return ordered[k]


def get_json(host, port, path, key):
    conn = http.client.HTTPConnection(host, port, timeout=30)
    headers = {"Authorization": "Bearer " + key} if key else {}
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return json.loads(body)


class Subscriber(threading.Thread):
    """Holds one SSE stream open and checks its ids."""

    def __init__(self, host, port, source, key, stop):
        super().__init__(daemon=True)
        self.host, self.port, self.source, self.key, self.stop = host, port, source, key, stop
        self.events = 0
        self.lost = 0
        self.first = None
        self.last = None
        self.error = None
        self.opened = threading.Event()

    def run(self):
        try:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            headers = {"Accept": "text/event-stream"}
            if self.key:
                headers["Authorization"] = "Bearer " + self.key
            conn.request("GET", "/v1/sources/%s/events" % self.source, headers=headers)
            response = conn.getresponse()
            if response.status != 200:
                self.error = "HTTP %d: %s" % (response.status, response.read()[:200])
                self.opened.set()
                return
            self.opened.set()
            while not self.stop.is_set():
                line = response.readline()
                if not line:
                    if not self.stop.is_set():
                        self.error = "the server closed the stream"
                    break
                if line.startswith(b"id: "):
                    n = int(line[4:].strip())
                    if self.last is not None and n != self.last + 1:
                        self.lost += max(0, n - self.last - 1)
                    if self.first is None:
                        self.first = n
                    self.last = n
                    self.events += 1
            conn.close()
        except Exception as error:  # noqa: BLE001 - reported in the result
            if not self.stop.is_set():
                self.error = repr(error)
            self.opened.set()


class Asker(threading.Thread):
    """Asks questions back to back, alternating sources."""

    def __init__(self, host, port, sources, key, stop, max_tokens, think):
        super().__init__(daemon=True)
        self.host, self.port, self.sources, self.key, self.stop = host, port, sources, key, stop
        self.max_tokens, self.think = max_tokens, think
        self.ttft, self.total, self.server_ttft, self.errors, self.rejected = [], [], [], [], 0

    def ask(self, source):
        body = json.dumps({
            "model": "stream:" + source, "stream": True, "max_tokens": self.max_tokens,
            "messages": [{"role": "user", "content": "What is happening now?"}],
        })
        headers = {"Content-Type": "application/json"}
        if self.key:
            headers["Authorization"] = "Bearer " + self.key
        start = time.monotonic()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
        conn.request("POST", "/v1/chat/completions", body=body, headers=headers)
        response = conn.getresponse()
        if response.status == 429:
            self.rejected += 1
            response.read()
            conn.close()
            time.sleep(float(response.getheader("Retry-After", "1")))
            return
        if response.status != 200:
            self.errors.append("HTTP %d" % response.status)
            response.read()
            conn.close()
            return
        first = None
        while True:
            line = response.readline()
            if not line:
                break
            if not line.startswith(b"data: "):
                continue
            data = line[6:].strip()
            if data == b"[DONE]":
                break
            chunk = json.loads(data)
            if "error" in chunk:
                self.errors.append(chunk["error"].get("message", "error"))
                break
            for choice in chunk.get("choices", []):
                if first is None and choice.get("delta", {}).get("content"):
                    first = time.monotonic() - start
            if "vigil" in chunk:
                self.server_ttft.append(chunk["vigil"]["ttft_ms"] / 1000)
        conn.close()
        self.total.append(time.monotonic() - start)
        if first is not None:
            self.ttft.append(first)

    def run(self):
        i = 0
        while not self.stop.is_set():
            try:
                self.ask(self.sources[i % len(self.sources)])
            except Exception as error:  # noqa: BLE001
                self.errors.append(repr(error))
            i += 1
            self.stop.wait(self.think)


def source_figures(status):
    s = status["status"]
    return {
        "state": s.get("state"), "frames_processed": s.get("frames_processed", 0), "dropped": s.get("dropped", 0),
        "lag_s": s.get("lag_s"), "fps_processed": s.get("fps_processed"),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--key", default="")
    parser.add_argument("--sources", required=True, help="comma-separated source ids")
    parser.add_argument("--duration", type=float, default=300)
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--askers", type=int, default=1)
    parser.add_argument("--think", type=float, default=1.0, help="seconds between an answer and the next question")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--sample", type=float, default=5.0)
    parser.add_argument("--pid", type=int, default=0, help="the server's pid, for RSS from /proc")
    args = parser.parse_args()
    sources = args.sources.split(",")

    def rss():
        if args.pid:
            with open("/proc/%d/status" % args.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
        return None

    before = {s: source_figures(get_json(args.host, args.port, "/v1/sources/" + s, args.key)) for s in sources}
    stop = threading.Event()
    subscribers = [Subscriber(args.host, args.port, sources[i % len(sources)], args.key, stop)
                   for i in range(args.subscribers)]
    for s in subscribers:
        s.start()
    for s in subscribers:
        s.opened.wait(30)
    askers = [Asker(args.host, args.port, sources, args.key, stop, args.max_tokens, args.think)
              for _ in range(args.askers)]
    started = time.monotonic()
    for a in askers:
        a.start()
    samples = []
    while time.monotonic() - started < args.duration:
        samples.append({"t": round(time.monotonic() - started, 1), "rss_bytes": rss()})
        time.sleep(min(args.sample, max(0.0, args.duration - (time.monotonic() - started))))
    samples.append({"t": round(time.monotonic() - started, 1), "rss_bytes": rss()})
    stop.set()
    for a in askers:
        a.join(150)
    elapsed = time.monotonic() - started
    after = {s: source_figures(get_json(args.host, args.port, "/v1/sources/" + s, args.key)) for s in sources}
    held = [s for s in subscribers if s.error is None]

    ttft = [t for a in askers for t in a.ttft]
    server_ttft = [t for a in askers for t in a.server_ttft]
    total = [t for a in askers for t in a.total]
    rss_values = [s["rss_bytes"] for s in samples if s["rss_bytes"]]
    result = {
        "duration_s": round(elapsed, 1),
        "subscribers": {
            "opened": len(subscribers), "held_to_the_end": len(held),
            "events_per_subscriber_median": statistics.median([s.events for s in subscribers]) if subscribers else 0,
            "lost_events": sum(s.lost for s in subscribers),
            "errors": sorted({s.error for s in subscribers if s.error})[:5],
        },
        "questions": {
            "answered": len(total), "per_second": round(len(total) / elapsed, 3) if elapsed else 0,
            "rejected_429": sum(a.rejected for a in askers), "errors": sum(len(a.errors) for a in askers),
            "error_samples": sorted({e for a in askers for e in a.errors})[:5],
            "ttft_p50_s": percentile(ttft, 0.5), "ttft_p95_s": percentile(ttft, 0.95),
            "server_ttft_p50_s": percentile(server_ttft, 0.5), "server_ttft_p95_s": percentile(server_ttft, 0.95),
            "answer_p50_s": percentile(total, 0.5), "answer_p95_s": percentile(total, 0.95),
        },
        "sources": {
            s: {
                "state": after[s]["state"],
                "frames_processed": after[s]["frames_processed"] - before[s]["frames_processed"],
                "dropped": after[s]["dropped"] - before[s]["dropped"],
                "lag_s_at_end": after[s]["lag_s"], "fps_processed_at_end": after[s]["fps_processed"],
            } for s in sources
        },
        "rss": {
            "first_bytes": rss_values[0] if rss_values else None, "last_bytes": rss_values[-1] if rss_values else None,
            "max_bytes": max(rss_values) if rss_values else None, "samples": samples,
        },
    }
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
