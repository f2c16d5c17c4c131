#!/usr/bin/env python3
"""alert: vigild SIGKILLed after spooling, before sending: delivered after the
restart; a corrupted spool entry is quarantined and counted, not fatal."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import alertlib as L  # noqa: E402

t = L.Tap(5)
if not L.have_build():
    t.skip_rest("plugins not built")
    t.done()
tmp = L.tmpdir("crash")
rx = L.Receiver(tmp)
conf = "[action alert-ops]\nurl = http://127.0.0.1:%d/x\nretry_initial = 100ms\nretry_max = 1s\n" % rx.port
d = L.Vigild(tmp, conf).start()
d.emit(50, kind="oops", severity="critical", summary="Oops in virtio_pci")
spool = os.path.join(d.state, "alert/alert-ops")
spooled = lambda: [f for f in os.listdir(spool) if f.endswith(".ev")] if os.path.isdir(spool) else []
n = L.wait_for(lambda: len(spooled()) >= 50, 15)  # the spool dir is made by a worker: it may not exist yet
t.ok(n, "50 events spooled while the endpoint is down")
d.kill()
t.ok(d.proc is None, "vigild SIGKILLed")
files = sorted(f for f in os.listdir(spool) if f.endswith(".ev"))
victim = os.path.join(spool, files[10])
with open(victim, "r+b") as f:
    f.seek(40)
    f.write(b"\x00garbage\x00")
rx.start()
d = L.Vigild(tmp, conf).start()
ok = L.wait_for(lambda: len(set(e["id"] for e in rx.events())) >= 49, 20)
got = set(e["id"] for e in rx.events())
t.ok(ok and len(got) == 49, "the 49 intact events delivered after restart (%d)" % len(got))
st = d.endpoint_status("alert-ops")
t.ok(st.get("counters", {}).get("corrupt") == 1 and os.path.exists(os.path.join(spool, "quarantine", files[10])),
     "the corrupted entry quarantined and counted", st)
t.ok("corrupt spool entries" in d.logtext(), "corruption logged")
d.stop()
rx.stop()
t.done()
