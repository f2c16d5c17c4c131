#!/usr/bin/env python3
"""alert: endpoint down while 200 events are produced, then up: every event
delivered, none lost, no duplicate ids, first delivery in production order."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import alertlib as L  # noqa: E402

t = L.Tap(5)
if not L.have_build():
    t.skip_rest("plugins not built")
    t.done()
tmp = L.tmpdir("outage")
rx = L.Receiver(tmp)  # not started: connection refused
d = L.Vigild(tmp, "[action alert-ops]\nurl = http://127.0.0.1:%d/x\nretry_initial = 100ms\nretry_max = 2s\n"
             % rx.port, rule_match="io_error").start()
d.emit(200, kind="io_error", severity="warning", summary="I/O error on vda")
st = L.wait_for(lambda: (lambda s: s if s.get("spool_on_disk") == 200 else None)(d.endpoint_status("alert-ops")), 20) \
    or d.endpoint_status("alert-ops")
t.ok(st.get("spool_on_disk") == 200 and st["counters"]["delivered"] == 0 and st["counters"]["retried"] >= 1,
     "endpoint down: 200 events spooled on disk, retrying (%s)" % {k: st.get(k) for k in ("spool_on_disk", "state")})
files = [f for f in os.listdir(os.path.join(d.state, "alert/alert-ops")) if f.endswith(".ev")]
t.ok(len(files) == 200, "200 spool files on disk (%d)" % len(files))
rx.start()
ok = L.wait_for(lambda: len(set(e["id"] for e in rx.events())) >= 200, 30)
evs = rx.events()
ids = [e["id"] for e in evs]
t.ok(ok and len(set(ids)) == 200, "all 200 delivered after the endpoint came back (%d unique)" % len(set(ids)))
first = []
for i in ids:
    if i not in first:
        first.append(i)
seqs = [next(e["seq"] for e in evs if e["id"] == i) for i in first]
t.ok(seqs == sorted(seqs), "first delivery follows production order")
t.ok(L.wait_for(lambda: not [f for f in os.listdir(os.path.join(d.state, "alert/alert-ops")) if f.endswith(".ev")], 10),
     "spool files removed after 2xx (%d duplicates re-sent)" % (len(ids) - len(set(ids))))
d.stop()
rx.stop()
t.done()
