#!/usr/bin/env python3
"""Benchmark of the alert plugin on loopback: latency from the event's
detection time ("time" in the event) to its arrival at the receiver, p50/p99
over 200 spaced events; then sustained throughput of a 5000-event burst."""
import datetime
import os
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("VIGIL_SOURCE_DIR", "."), "tests/integration"))
import alertlib as L  # noqa: E402


def ts(s):
    return datetime.datetime.strptime(s[:26].rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100))]


tmp = L.tmpdir("bench")
rx = L.Receiver(tmp).start()
d = L.Vigild(tmp, "[action alert-bench]\nurl = %s\nbatch_max = 500\nspool_max_events = 20000\n"
             "spool_max_bytes = 64M\n" % rx.url, rule_match="io_error").start()
for i in range(200):
    d.emit(1, kind="io_error", summary="latency probe %d" % i)
    time.sleep(0.01)
L.wait_for(lambda: len(rx.events()) >= 200, 30)
lat = []
seen = set()
for r in rx.records():
    for e in r["body"] or []:
        if e.get("source") == "testemit" and e["id"] not in seen:
            seen.add(e["id"])
            lat.append((r["t"] - ts(e["time"])) * 1000)
print("alert latency event->2xx (loopback, spool on %s): n=%d p50=%.2fms p99=%.2fms max=%.2fms" %
      (d.state, len(lat), pct(lat, 50), pct(lat, 99), max(lat)))
n0 = len(rx.events())
t0 = time.time()
d.emit(5000, kind="io_error", summary="burst")
L.wait_for(lambda: len(rx.events()) >= n0 + 5000, 120, 0.05)
got = len(rx.events()) - n0
t1 = max(r["t"] for r in rx.records())
print("alert sustained: %d events in %.2fs = %.0f events/s delivered (batch_max 500, fsync'd spool)" %
      (got, t1 - t0, got / (t1 - t0)))
d.stop()
rx.stop()
