#!/usr/bin/env python3
"""alert with the state dir on a tiny tmpfs: spool writes fail with a clear
error, the events stay in memory and are delivered; the memory bound drops
the oldest with a count and an alert_dropped event; detection goes on."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import alertlib as L  # noqa: E402

t = L.Tap(6)
if not L.have_build():
    t.skip_rest("plugins not built")
    t.done()
if os.geteuid() != 0:
    t.skip_rest("mounting a tmpfs needs root")
    t.done()
tmp = L.tmpdir("diskfull")
state = os.path.join(tmp, "state")
os.makedirs(state)
r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k,mode=0700", "vigil-test", state], capture_output=True)
if r.returncode != 0:
    t.skip_rest("cannot mount tmpfs: " + r.stderr.decode().strip())
    t.done()
try:
    rx = L.Receiver(tmp)
    d = L.Vigild(tmp, "[action alert-ops]\nurl = http://127.0.0.1:%d/x\nretry_initial = 100ms\nretry_max = 1s\n"
                 "spool_max_events = 40\nbatch_max = 10\n" % rx.port, state_dir=state,
                 rule_match="io_error alert_dropped").start()
    d.emit(60, kind="io_error", severity="warning", summary="I/O error", raw=["x" * 900])
    st = L.wait_for(lambda: (lambda s: s if s.get("counters", {}).get("spool_write_errors", 0) > 0 and
                             s.get("counters", {}).get("dropped", 0) >= 20 else None)(d.endpoint_status("alert-ops")), 15) \
        or d.endpoint_status("alert-ops")
    c = st.get("counters", {})
    t.ok(c.get("spool_write_errors", 0) > 0 and st.get("spool_memory_only", 0) > 0,
         "disk full: write errors counted, events kept in memory (%s errors, %s memory-only, %s on disk)" %
         (c.get("spool_write_errors"), st.get("spool_memory_only"), st.get("spool_on_disk")))
    log = d.logtext()
    t.ok("No space left on device" in log and "keeping them in memory" in log, "clear error in the log", log[-1000:])
    # 60 io_error into a bound of 40; the alert_dropped report (also routed
    # here) rides on top of the bound once emitted, it does not push out a 41st
    t.ok(c.get("dropped") == 20 and st.get("spool_events") in (40, 41),
         "bound of 40: the oldest 20 dropped and counted, none more for the report (%s dropped, %s spooled)"
         % (c.get("dropped"), st.get("spool_events")))
    rx.start()
    ok = L.wait_for(lambda: len(set(e["id"] for e in rx.events())) >= 39, 20)
    evs = rx.events()
    seqs = sorted(set(e["seq"] for e in evs))
    # the oldest go, except a batch already in flight (it finishes first)
    t.ok(ok and len(seqs) >= 39 and set(range(22, 60)) <= set(seqs),
         "the newest events delivered from memory, none lost beyond the counted drops (%d)" % len(seqs), seqs)
    t.ok(L.wait_for(lambda: [e for e in rx.events(source="alert") if e["kind"] == "alert_dropped"], 10),
         "alert_dropped event emitted and delivered")
    d.emit(5, kind="io_error", severity="warning", summary="after the storm")
    t.ok(L.wait_for(lambda: len([e for e in rx.events() if e["summary"].startswith("after the storm")]) >= 5, 10),
         "the agent keeps detecting and delivering")
    d.stop()
    rx.stop()
finally:
    subprocess.run(["umount", "-l", state])
t.done()
