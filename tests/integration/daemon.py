#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The real vigild from the build tree: config errors refuse start-up with
file:line, the foreground daemon answers vigilctl, emits test events through
the policy, reloads on SIGHUP (keeping the running config when the new one
is bad), talks sd_notify (READY, STATUS, WATCHDOG, RELOADING, STOPPING) and
stops cleanly on SIGTERM; unsafe plugins are refused."""
import os
import shutil
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vigiltest import PLUGINS, SOURCE, VIGILD, Daemon, Scratch, Tap, run  # noqa: E402

BASE = "[agent]\nlock_memory = no\n\n[rule all]\nmatch = *\nactions = log\n"

tap = Tap(22)
s = Scratch("daemon")
try:
    # 1: the shipped configuration validates with the built plugins.
    r = run([VIGILD, "--check-config", "-c", os.path.join(SOURCE, "conf", "vigil.conf"),
             "--conf-dir", os.path.join(SOURCE, "conf", "conf.d"), "--plugin-dir", PLUGINS])
    tap.ok(r.returncode == 0 and "configuration OK" in r.stdout, "shipped vigil.conf + conf.d pass --check-config",
           r.stderr)

    # 2-7: every kind of config mistake is refused with file:line.
    bad = [
        ("unknown key", "[agent]\nlock_memory = no\ndedup_windo = 5s\n", "bad.conf:3: [agent] dedup_windo: unknown key"),
        ("bad value", "[agent]\ndedup_window = soon\n", "bad.conf:2: [agent] dedup_window: 'soon': expected a duration"),
        ("unknown action", BASE + "[rule x]\nmatch = oops\nactions = log, reboot-now\n",
         "bad.conf:9: [rule x] actions: unknown action 'reboot-now'"),
        ("unknown section", BASE + "[nosuchplugin]\nfoo = 1\n", "bad.conf:7: [nosuchplugin]: unknown section"),
        ("bad section line", "[agent\nlock_memory = no\n", "bad.conf:1: syntax error"),
        ("bad range", "[agent]\nrecent_events = 0\n", "recent_events: '0': out of range"),
    ]
    for what, text, needle in bad:
        p = s.write("bad.conf", text)
        r = run([VIGILD, "--check-config", "-c", p, "--conf-dir", "", "--plugin-dir", PLUGINS])
        r2 = run([VIGILD, "-f", "-c", p, "--conf-dir", "", "--plugin-dir", PLUGINS,
                  "--state-dir", s.path("st"), "--control-socket", s.path("ctl0")], timeout=20)
        tap.ok(r.returncode == 1 and needle in r.stderr and r2.returncode == 1 and needle in r2.stderr,
               f"{what}: refused with '{needle}'", r.stderr + r2.stderr)

    # 8-9: the daemon starts, notifies READY, answers vigilctl.
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns_path = s.path("notify")
    ns.bind(ns_path)
    ns.settimeout(0.2)
    d = Daemon(s, BASE, env={"NOTIFY_SOCKET": ns_path, "WATCHDOG_USEC": "400000"})
    notes = []
    # Read the notify socket all the time, as systemd does: WATCHDOG=1 comes
    # five times a second, and a datagram socket whose queue is full
    # (net.unix.max_dgram_qlen, 10 by default) blocks the sender.
    reading = [True]

    def reader():
        while reading[0]:
            try:
                notes.append(ns.recv(4096).decode())
            except socket.timeout:
                pass
            except OSError:
                return

    threading.Thread(target=reader, daemon=True).start()
    started = d.start()

    def collect(until, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if any(until in n for n in list(notes)):
                return True
            time.sleep(0.05)
        return False

    tap.ok(started and collect("READY=1"), "starts and sends READY=1", d.diag())
    st = d.ctl_json("status")
    tap.ok(st.get("ok") and st["version"] and isinstance(st["plugins"], list) and st["rules"][0]["name"] == "all",
           "vigilctl status answers with plugins and rules", st)
    # 10: watchdog pings come from a timer on the loop.
    tap.ok(collect("WATCHDOG=1", 5) and any("STATUS=" in n for n in notes), "sends WATCHDOG=1 and STATUS=", notes)

    # 11: a test alert flows through the policy to the log action (stdout JSON).
    r = d.ctl("test-alert", "integration says hi")
    ev = d.wait_event(lambda e: e.get("kind") == "agent_test")
    tap.ok(r.returncode == 0 and ev and ev["summary"] == "integration says hi" and ev["host"]["boot_id"]
           and len(ev["id"]) == 36, "test-alert event printed as one JSON line", d.diag())

    # 12: SIGHUP with a good new config reloads (RELOADING=1, then READY=1).
    with open(d.conf, "a") as f:
        f.write("\n[rule second]\nmatch = agent_test\nactions = log\n")
    notes.clear()
    d.kill(signal.SIGHUP)
    ok = collect("READY=1") and any("RELOADING=1" in n for n in notes)
    st = d.ctl_json("status")
    tap.ok(ok and st["reloads"] == 1 and len(st["rules"]) == 2, "SIGHUP reloads a good config", d.diag())

    # 13: SIGHUP with a broken config keeps the running one and says why.
    with open(d.conf, "a") as f:
        f.write("\n[rule third]\nmatch = oops\nactions = explode\n")
    d.kill(signal.SIGHUP)
    line = d.wait_log("keeping the running configuration")
    st = d.ctl_json("status")
    tap.ok(line and d.wait_log("actions: unknown action 'explode'") and st["reload_failures"] == 1
           and len(st["rules"]) == 2 and d.proc.poll() is None, "bad reload keeps the running config", d.diag())

    # 14: vigilctl check-config against the running agent.
    r = d.ctl("check-config", d.conf)
    tap.ok(r.returncode == 1 and "unknown action 'explode'" in r.stderr, "vigilctl check-config reports errors",
           r.stdout + r.stderr)

    # 15: SIGTERM: STOPPING=1, exit 0, socket removed.
    notes.clear()
    rc = d.stop()
    collect("STOPPING=1", 2)
    tap.ok(rc == 0 and any("STOPPING=1" in n for n in notes) and not os.path.exists(d.sock),
           "SIGTERM stops cleanly", d.diag())

    # 16: events of two identical test alerts within the dedup window fold.
    reading[0] = False
    d = Daemon(s, BASE.replace("lock_memory = no", "lock_memory = no\ndedup_window = 10s"), name="dedup.conf")
    d.start()
    d.ctl("test-alert", "same")
    d.ctl("test-alert", "same")
    d.ctl("test-alert", "same")
    ev = d.wait_event(lambda e: e.get("kind") == "agent_test" and e.get("count") == 3, timeout=20)
    tap.ok(ev is not None and d.kinds().count("agent_test") == 2 and ev.get("repeats_folded") == 2,
           "three identical events in the window: one now, one summary with count 3", d.diag())
    d.stop()

    # 17-18: unsafe plugin directory / file refused, the agent still runs.
    if os.path.isdir(PLUGINS) and any(f.endswith(".so") for f in os.listdir(PLUGINS)):
        unsafe = s.path("unsafe-plugins")
        shutil.copytree(PLUGINS, unsafe, ignore=shutil.ignore_patterns("*.la", "*.lai", "*.o"))
        os.chmod(unsafe, 0o777)
        d = Daemon(s, BASE, plugin_dir=unsafe, name="unsafe.conf")
        started = d.start()
        line = d.wait_log("refused: plugin directory is group/world-writable", 5)
        st = d.ctl_json("status") if started else {}
        tap.ok(started and line and st.get("plugins") == [], "plugins in a world-writable directory are refused",
               d.diag())
        d.stop()
        os.chmod(unsafe, 0o755)
        victim = sorted(f for f in os.listdir(unsafe) if f.endswith(".so"))[0]
        os.chmod(os.path.join(unsafe, victim), 0o666)
        d = Daemon(s, BASE, plugin_dir=unsafe, name="unsafe2.conf")
        started = d.start()
        line = d.wait_log("refused: plugin file is group/world-writable", 5)
        st = d.ctl_json("status") if started else {}
        names = [p["name"] for p in st.get("plugins", [])]
        tap.ok(started and line and victim[:-3] not in names, f"a world-writable plugin file ({victim}) is refused",
               d.diag())
        d.stop()
    else:
        tap.skip("world-writable plugin directory refused", "no plugins built yet")
        tap.skip("world-writable plugin file refused", "no plugins built yet")

    # 19: the daemon runs without systemd (no NOTIFY_SOCKET) and without root-owned /run.
    d = Daemon(s, BASE, name="plain.conf")
    ok = d.start()
    tap.ok(ok and d.stop() == 0, "runs and stops without NOTIFY_SOCKET", d.diag())

    # 20-22: SIGHUP applies a changed [agent] plugins list: plugins start and stop.
    def with_plugins(names):
        return BASE.replace("lock_memory = no", "lock_memory = no\nplugins = " + names)

    def states(d):
        return {p["name"]: p["state"] for p in d.ctl_json("status").get("plugins", [])}

    def reload_to(d, text):
        with open(d.conf, "w") as f:
            f.write(text)
        n = d.ctl_json("status").get("reloads", 0) + d.ctl_json("status").get("reload_failures", 0)
        d.kill(signal.SIGHUP)
        deadline = time.time() + 15
        while time.time() < deadline:
            st = d.ctl_json("status")
            if st.get("reloads", 0) + st.get("reload_failures", 0) > n:
                return st
            time.sleep(0.1)
        return {}

    d = Daemon(s, with_plugins("link"), name="plugins.conf")
    d.start()
    st0 = states(d)
    reload_to(d, with_plugins("link, dstate"))
    st1 = states(d)
    tap.ok(st0.get("link") == "running" and st0.get("dstate") == "disabled" and
           st1.get("link") == "running" and st1.get("dstate") == "running",
           "reload adds dstate to [agent] plugins: it starts, link keeps running", f"{st0}\n{st1}\n" + d.diag())
    reload_to(d, with_plugins("dstate"))
    st2 = states(d)
    tap.ok(st2.get("link") == "disabled" and st2.get("dstate") == "running",
           "reload drops link from [agent] plugins: it stops", f"{st2}\n" + d.diag())
    st3 = reload_to(d, with_plugins("dstate, nosuchplugin"))
    tap.ok(st3.get("reload_failures") == 1 and d.wait_log("plugin 'nosuchplugin' not found") and
           states(d) == st2 and d.stop() == 0,
           "a plugin that is not there: reload refused, the running set kept, clean stop", d.diag())
finally:
    s.cleanup()
tap.done()
