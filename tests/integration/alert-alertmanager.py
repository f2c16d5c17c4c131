#!/usr/bin/env python3
"""alert: Debian's real prometheus-alertmanager on loopback. A vigil alert is
visible through GET /api/v2/alerts with the right labels and annotations; a
condition fires while active and is resolved when it clears; the heartbeat
is a VigilHeartbeat alert that stays firing while beats come."""
import json
import os
import shutil
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import alertlib as L  # noqa: E402

t = L.Tap(7)
AM = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"
if not L.have_build():
    t.skip_rest("plugins not built")
    t.done()
if not os.path.exists(AM):
    t.skip_rest("prometheus-alertmanager not installed (apt-get install prometheus-alertmanager)")
    t.done()
tmp = L.tmpdir("am")
port = L.free_port()
with open(os.path.join(tmp, "am.yml"), "w") as f:
    f.write("route:\n  receiver: sink\nreceivers:\n  - name: sink\n")
am = subprocess.Popen([AM, "--config.file=" + os.path.join(tmp, "am.yml"), "--storage.path=" + os.path.join(tmp, "amdata"),
                       "--web.listen-address=127.0.0.1:%d" % port, "--cluster.listen-address="],
                      stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "am.log"), "w"))
base = "http://127.0.0.1:%d" % port


def get(path):
    try:
        return json.loads(urllib.request.urlopen(base + path, timeout=3).read())
    except Exception:
        return None


ready = L.wait_for(lambda: urllib.request.urlopen(base + "/-/ready", timeout=1).status == 200
                   if get("/api/v2/status") is not None else False, 15)
t.ok(ready, "alertmanager up on loopback")
d = L.Vigild(tmp, "[action alert-am]\nurl = %s\nformat = alertmanager\nresend_interval = 2s\nheartbeat_interval = 1s\n" % base,
             rule_match="soft_lockup link_*").start()
d.emit(1, kind="soft_lockup", severity="critical", summary="soft lockup on CPU#3 for 22s in kworker/3:1 (pid 1234)",
       fields={"cpu": 3, "comm": "kworker/3:1", "pid": 1234,
               "frames": [{"symbol": "netdev_pick_tx", "offset": 636, "size": 660, "module": None, "reliable": True},
                          {"symbol": "ovs_vport_send", "offset": 20, "size": 300, "module": "openvswitch", "reliable": True}],
               "known_issue": {"id": "ovs-veth-tx-lockup", "title": "OVS veth tx lockup",
                               "fix": "net: openvswitch: fix race on port output"}},
       raw=["watchdog: BUG: soft lockup - CPU#3 stuck for 22s! [kworker/3:1:1234]"])


def alerts(name):
    return [a for a in (get("/api/v2/alerts") or []) if a["labels"].get("alertname") == name]


a = L.wait_for(lambda: alerts("KernelSoftLockup"), 15)
a = a[0] if a else {}
lab, ann = a.get("labels", {}), a.get("annotations", {})
t.ok(lab.get("severity") == "critical" and lab.get("known_issue") == "ovs-veth-tx-lockup" and
     lab.get("kind") == "soft_lockup" and lab.get("instance") and a.get("status", {}).get("state") == "active",
     "KernelSoftLockup active with labels severity/kind/known_issue/instance", json.dumps(a))
t.ok("netdev_pick_tx+0x27c/0x294" in ann.get("description", "") and "kworker/3:1 (pid 1234)" in ann.get("description", "")
     and "fix race on port output" in ann.get("remediation", "") and "CPU#3 stuck" in ann.get("call_trace", ""),
     "annotations: description with culprit and top frames, remediation, call_trace", json.dumps(ann))
d.emit(1, kind="link_down", severity="warning", summary="eth0 lost carrier",
       fields={"condition": "link/eth0", "active": True, "link": {"name": "eth0", "ifindex": 2}})
t.ok(L.wait_for(lambda: alerts("LinkDown"), 15), "condition LinkDown fires")
# Re-sent every resend_interval while active
L.wait_for(lambda: d.endpoint_status("alert-am").get("counters", {}).get("resends", 0) >= 1, 8)
d.emit(1, kind="link_up", severity="info", summary="eth0 carrier back",
       fields={"condition": "link/eth0", "active": False, "link": {"name": "eth0", "ifindex": 2}})
gone = L.wait_for(lambda: not alerts("LinkDown"), 15)
st = d.endpoint_status("alert-am")
t.ok(gone and st["counters"]["resends"] >= 1 and alerts("KernelSoftLockup"),
     "cleared condition resolved (no longer active), after %d re-sends; the one-shot alert stays" % st["counters"]["resends"],
     json.dumps(get("/api/v2/alerts"))[:1500])
# The heartbeat: a VigilHeartbeat alert held firing (endsAt = 2 intervals +
# 30 s ahead) while beats come: a receiver can page when it stops.
hb = L.wait_for(lambda: alerts("VigilHeartbeat"), 10)
hb = hb[0] if hb else {}
beats = d.endpoint_status("alert-am").get("counters", {}).get("heartbeats", 0)
t.ok(hb.get("status", {}).get("state") == "active" and hb.get("labels", {}).get("instance") and
     hb.get("endsAt", "") > hb.get("updatedAt", "~") and beats >= 1,
     "heartbeat: VigilHeartbeat active in Alertmanager, endsAt ahead (%d beats)" % beats, json.dumps(hb))
rc = d.stop()
t.ok(rc == 0, "clean stop (rc %s)" % rc, d.logtext()[-1500:])
am.terminate()
am.wait()
t.done()
