#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Write a realistic kernel log for the replay benchmark: dmesg format with
increasing timestamps, mostly benign lines (this host's own boot log plus
common runtime messages), and about one multi-line report per 1000 lines,
cycling through every report class taken from the real fixtures.
Usage: gen-kernel-log.py LINES OUT SOURCE_DIR"""
import glob
import os
import random
import re
import sys

lines_wanted, out, src = int(sys.argv[1]), sys.argv[2], sys.argv[3]
rnd = random.Random(42)
TS = re.compile(r"^(<\d>)?\[[ 0-9.]+\](\[ *[TC]\d+\])? ?")

benign = []
# a real boot log of a VM (the negative fixture: no reports in it)
for f in glob.glob(os.path.join(src, "tests/fixtures/kmsg/negative-*.log")):
    benign += [TS.sub("", l.rstrip("\n")) for l in open(f, errors="replace")]
benign += [
    "audit: type=1400 audit(1700000000.123:%d): apparmor=\"DENIED\" operation=\"open\" profile=\"snap.lxd\" name=\"/proc/1/environ\"",
    "IPv6: ADDRCONF(NETDEV_CHANGE): veth%x: link becomes ready",
    "br0: port %d(veth%x) entered forwarding state",
    "EXT4-fs (vdb1): mounted filesystem with ordered data mode. Quota mode: none.",
    "nf_conntrack: default automatic helper assignment has been turned off for security reasons",
    "TCP: request_sock_TCP: Possible SYN flooding on port 443. Sending cookies.",
    "virtio_net virtio0 eth0: renamed from veth%x",
    "device veth%x entered promiscuous mode",
    "perf: interrupt took too long (2503 > 2500), lowering kernel.perf_event_max_sample_rate to 79750",
    "systemd-journald[%d]: Data hash table of /var/log/journal/system.journal has a fill level at 75.0",
    "usb 1-1: new high-speed USB device number %d using xhci_hcd",
    "loop%d: detected capacity change from 0 to 8",
    "docker0: port %d(veth%x) entered disabled state",
    "overlayfs: upper fs does not support RENAME_WHITEOUT.",
    "NMI watchdog: Perf event create on CPU 0 failed with -2",
    "rcu: Hierarchical RCU implementation.",
    "kvm: %d: cpu1 unhandled wrmsr: 0x391 data 2000000f",
]
benign = [b for b in benign if b.strip()]

reports = []
for f in sorted(glob.glob(os.path.join(src, "tests/fixtures/kmsg/*.log")) +
                glob.glob(os.path.join(src, "tests/fixtures/kmsg/*.txt"))):
    if "negative" in f:
        continue
    body = [TS.sub("", l.rstrip("\n")) for l in open(f, errors="replace")]
    # saved-log prefixes of syslog fixtures: keep the kernel text only
    body = [re.sub(r"^\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ kernel: (\[[ 0-9.]+\] )?", "", l) for l in body]
    body = [l for l in body if l and "CRON" not in l and "pulseaudio" not in l]
    if len(body) > 1 or "joined" not in f:
        reports.append(body)

ts = 5.0
n = 0
k = 0
with open(out, "w") as o:
    while n < lines_wanted:
        if n and n % 1000 == rnd.randrange(1000) and k * 1000 < n:
            for l in reports[k % len(reports)]:
                o.write("[%12.6f] %s\n" % (ts, l))
                ts += 0.000013
                n += 1
            k += 1
            ts += 20.0  # reports are bursts; the next one is a separate incident
            continue
        t = rnd.choice(benign)
        if "%" in t:
            t = t % tuple(rnd.randrange(1, 65535) for _ in range(t.count("%")))
        o.write("[%12.6f] %s\n" % (ts, t))
        ts += 0.0007
        n += 1
print(f"{n} lines, {k} reports", file=sys.stderr)
