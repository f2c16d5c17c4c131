#!/usr/bin/env python3
"""vigil QEMU lab: boot a real Debian kernel under QEMU (TCG) with vigild in
the guest, provoke real kernel and virtual-hardware events from the host and
check both what the guest kernel saw and what vigil reported.

Python 3 standard library only.  Run tests/vm/setup.sh first (as root).

    python3 tests/vm/lab.py [--build-dir DIR | --vigil-root DIR] [--only a,b] [--list]

Channels between host and guest (four ISA serial ports, host side = FIFOs of
QEMU `-chardev pipe`):
    ttyS0  kernel console (+ init's VMLAB-* markers)      host reads
    ttyS1  vigild stdout: one JSON object per event/line  host reads
    ttyS2  vigild stderr: its own log                     host reads
    ttyS3  a non-interactive shell: the host's commands   host writes+reads
plus QMP on a unix socket.  The host never parses the console for vigil's
events, and command output never contains kernel messages.

Each scenario prints `PASS name (N.Ns)`, `FAIL name: reason` or
`SKIP name: reason`; the last line is `N passed, N failed`; exit status is
non-zero when anything failed.
"""

import argparse
import http.server
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
QEMU = "qemu-system-x86_64"


class Fail(Exception):
    """A scenario assertion failed."""


class Skip(Exception):
    """A scenario's prerequisite is missing."""


def log(msg):
    print(msg, flush=True)


# --------------------------------------------------------------------------
# line streams (FIFOs of QEMU pipe chardevs), read on threads

class Stream:
    """Lines arriving on a FIFO, collected by a reader thread.  The FIFO is
    opened O_RDWR so the open never blocks and reads never see EOF while
    QEMU restarts or has not opened it yet; the thread polls the raw fd (no
    buffered file objects)."""

    def __init__(self, path, name, log_path, echo=False):
        self.name = name
        self.fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
        self.lines = []
        self.partial = b""
        self.cond = threading.Condition()
        self.stopping = False
        self.echo = echo
        self.wfd = None
        self.logf = open(log_path, "ab")
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self):
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        while True:
            ready = poller.poll(100)
            if not ready:
                if self.stopping:
                    break
                continue
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                continue
            except OSError:
                break
            if not data:
                continue
            self.logf.write(data)
            self.logf.flush()
            self._feed(data)
        with self.cond:
            if self.partial:
                self.lines.append(self._decode(self.partial))
                self.partial = b""
            self.cond.notify_all()

    @staticmethod
    def _decode(b):
        return b.decode("utf-8", "replace").replace("\r", "")

    def _feed(self, data):
        with self.cond:
            parts = (self.partial + data).split(b"\n")
            self.partial = parts.pop()
            for p in parts:
                line = self._decode(p)
                self.lines.append(line)
                if self.echo:
                    sys.stderr.write("[%s] %s\n" % (self.name, line))
            self.cond.notify_all()

    def mark(self):
        with self.cond:
            return len(self.lines)

    def wait_for(self, pred, timeout, since=0, what="line", alive=None):
        """Wait until a line at index >= since satisfies pred; return
        (index, line).  alive(): a callable that returns False when waiting
        is pointless (QEMU gone)."""
        deadline = time.monotonic() + timeout
        i = since
        with self.cond:
            while True:
                while i < len(self.lines):
                    if pred(self.lines[i]):
                        return i, self.lines[i]
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Fail("timeout after %gs waiting for %s on %s" % (timeout, what, self.name))
                if alive is not None and not alive():
                    # give the reader a moment to drain what QEMU wrote last
                    self.cond.wait(0.3)
                    while i < len(self.lines):
                        if pred(self.lines[i]):
                            return i, self.lines[i]
                        i += 1
                    raise Fail("QEMU exited while waiting for %s on %s" % (what, self.name))
                self.cond.wait(min(left, 0.5))

    def wait_re(self, regex, timeout, since=0, alive=None):
        rx = re.compile(regex)
        return self.wait_for(lambda l: rx.search(l) is not None, timeout, since,
                             what="/%s/" % regex, alive=alive)

    def grep(self, regex, since=0):
        rx = re.compile(regex)
        with self.cond:
            return [l for l in self.lines[since:] if rx.search(l)]

    def tail(self, n):
        with self.cond:
            t = self.lines[-n:]
            if self.partial:
                t = t + [self._decode(self.partial) + "  <partial>"]
            return t

    def write(self, data):
        """Write to the FIFO's other direction (QEMU's PATH.in), opened on
        demand with open_input()."""
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.wfd, view)
                view = view[n:]
            except BlockingIOError:
                select.select([], [self.wfd], [], 1.0)

    def open_input(self, path):
        self.wfd = os.open(path, os.O_RDWR | os.O_NONBLOCK)

    def close(self):
        self.stopping = True
        self.thread.join(2)
        for fd in (self.fd, self.wfd):
            try:
                if fd is not None:
                    os.close(fd)
            except OSError:
                pass
        self.logf.close()


# --------------------------------------------------------------------------
# QMP

class QMP:
    """QMP client: one reader thread splits raw socket bytes into JSON
    messages; command responses are matched by id, events are kept in a
    list that waiters scan (no select() on buffered files)."""

    def __init__(self, path, timeout, alive):
        deadline = time.monotonic() + timeout
        while True:
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(path)
                break
            except OSError:
                s.close()
                if time.monotonic() > deadline or not alive():
                    raise Fail("cannot connect to QMP socket %s" % path)
                time.sleep(0.05)
        self.sock = s
        self.cond = threading.Condition()
        self.events = []
        self.responses = {}
        self.greeting = None
        self.next_id = 0
        self.send_lock = threading.Lock()
        self.closed = False
        self.thread = threading.Thread(target=self._run, name="qmp", daemon=True)
        self.thread.start()
        with self.cond:
            if not self.cond.wait_for(lambda: self.greeting is not None or self.closed, timeout):
                raise Fail("no QMP greeting")
        self.cmd("qmp_capabilities")

    def _run(self):
        buf = b""
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                line = line.strip()
                if not line:
                    continue
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                with self.cond:
                    if "QMP" in msg:
                        self.greeting = msg
                    elif "event" in msg:
                        msg["_t"] = time.monotonic()
                        self.events.append(msg)
                    elif "id" in msg:
                        self.responses[msg["id"]] = msg
                    self.cond.notify_all()
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def cmd(self, _name, _timeout=30, **args):
        name, timeout = _name, _timeout
        with self.cond:
            self.next_id += 1
            cid = "c%d" % self.next_id
        msg = {"execute": name, "id": cid}
        if args:
            msg["arguments"] = args
        with self.send_lock:
            self.sock.sendall(json.dumps(msg).encode() + b"\n")
        with self.cond:
            if not self.cond.wait_for(lambda: cid in self.responses or self.closed, timeout):
                raise Fail("QMP %s: no answer in %gs" % (name, timeout))
            if cid not in self.responses:
                raise Fail("QMP %s: connection closed" % name)
            r = self.responses.pop(cid)
        if "error" in r:
            raise Fail("QMP %s %s: %s" % (name, json.dumps(args), r["error"].get("desc")))
        return r.get("return")

    def mark(self):
        with self.cond:
            return len(self.events)

    def wait_event(self, name, timeout, since=0, pred=None):
        deadline = time.monotonic() + timeout
        i = since
        with self.cond:
            while True:
                while i < len(self.events):
                    e = self.events[i]
                    if e["event"] == name and (pred is None or pred(e.get("data", {}))):
                        return e
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Fail("timeout after %gs waiting for QMP event %s" % (timeout, name))
                if self.closed:
                    raise Fail("QMP closed while waiting for event %s" % name)
                self.cond.wait(min(left, 0.5))

    def find_events(self, name, since=0):
        with self.cond:
            return [e for e in self.events[since:] if e["event"] == name]

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.thread.join(2)


# --------------------------------------------------------------------------
# vigil events (the event channel, ttyS1)

def dig(obj, path):
    """dig(ev, 'device.virtio_mode') -> value or None"""
    for k in path.split("."):
        if not isinstance(obj, dict) or k not in obj:
            return None
        obj = obj[k]
    return obj


def ev_matches(ev, kind, where):
    if ev.get("kind") != kind:
        return False
    for k, v in (where or {}).items():
        got = dig(ev, k)
        if callable(v):
            if not v(got):
                return False
        elif got != v:
            return False
    return True


# which plugin reports which event kind: an assertion about a kind whose
# plugin is not in the image is recorded as inactive instead of failing
KIND_PLUGIN = {
    "virtio_removed": "virtio", "virtio_added": "virtio", "virtio_legacy_risk": "virtio",
    "link_down": "link", "link_up": "link", "link_removed": "link",
    "blk_stall": "blkstall", "blk_resumed": "blkstall", "vhost_backend_lost": "blkstall",
    "task_stuck": "dstate",
    "hung_task": "kmsg", "soft_lockup": "kmsg", "pci_hotplug": "kmsg", "oops": "kmsg", "warning": "kmsg", "bug": "kmsg",
    "previous_boot_crash": "lastboot", "reboot_suppressed": "reboot", "kdump_state": "kdump",
    "inventory": "virtio",
}


def compact_event(line):
    try:
        ev = json.loads(line)
    except ValueError:
        return line
    return ev_brief(ev) if isinstance(ev, dict) else line


def ev_brief(ev):
    keep = {k: ev.get(k) for k in ("kind", "severity", "summary", "comm", "pid", "cpu", "cause")
            if ev.get(k) is not None}
    for k in ("device", "link", "known_issue"):
        if ev.get(k):
            keep[k] = ev[k]
    return json.dumps(keep, sort_keys=True)


# --------------------------------------------------------------------------
# virtual devices

class VDev:
    """A hot-pluggable virtio device of the guest.
    vtype: blk | net; mode: modern | legacy | transitional."""

    def __init__(self, ident, vtype, mode, slot, restrict=True):
        self.id = ident
        self.restrict = restrict  # net: QEMU user networking without host access
        self.vtype = vtype
        self.mode = mode
        self.slot = slot          # pc: PCI slot on pci.0; q35: root port index
        self.bus = None
        self.addr = None
        self.backend = None

    def qdev_props(self):
        p = {"driver": "virtio-%s-pci" % self.vtype, "id": self.id}
        if self.vtype == "blk":
            p["drive"] = self.backend
        else:
            p["netdev"] = self.backend
        if self.mode == "modern":
            p["disable-legacy"] = "on"
            p["disable-modern"] = False
        elif self.mode == "legacy":
            p["disable-legacy"] = "off"
            p["disable-modern"] = True
        else:
            p["disable-legacy"] = "off"
            p["disable-modern"] = False
        p["bus"] = self.bus
        p["addr"] = self.addr
        return p

    def cmdline(self):
        out = []
        for k, v in self.qdev_props().items():
            if k == "driver":
                continue
            if isinstance(v, bool):
                v = "on" if v else "off"
            out.append("%s=%s" % (k, v))
        return self.qdev_props()["driver"] + "," + ",".join(out)

    @property
    def expect_mode(self):
        """virtio_mode vigil must report: the interface the driver uses;
        a transitional device is driven through its modern interface."""
        return "legacy" if self.mode == "legacy" else "modern"

    @property
    def expect_pci_device(self):
        base = {"blk": 1, "net": 0}[self.vtype]
        if self.mode == "modern":
            return "%04x" % (0x1041 + (1 if self.vtype == "blk" else 0))
        return "%04x" % (0x1000 + base)


# --------------------------------------------------------------------------
# the VM

class VM:
    def __init__(self, lab, name, machine="pc", smp=1, mem=512, devices=(),
                 append="", extra=(), vigil=True, conf=(), pvpanic=True,
                 no_reboot=True, pciehp_native=False, state_disk=None,
                 memfd=False):
        self.lab = lab
        self.name = name
        self.machine = machine
        self.smp = smp
        self.mem = mem
        self.devices = list(devices)
        self.append = append
        self.extra = list(extra)
        self.vigil = vigil and lab.vigil is not None
        self.conf = list(conf)
        self.pvpanic = pvpanic
        self.no_reboot = no_reboot
        self.pciehp_native = pciehp_native
        self.state_disk = state_disk
        self.memfd = memfd
        # SMBIOS product UUID: vigil's default instance_id
        self.uuid = str(uuid.uuid5(uuid.NAMESPACE_DNS, "vigil-lab." + name))
        self.dir = os.path.join(lab.work, name)
        self.proc = None
        self.qmp = None
        self.streams = {}
        self.cmdno = 0
        self.boots = 0

    # -- construction -------------------------------------------------
    def _image(self, fname, size="64M"):
        path = os.path.join(self.dir, fname)
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.truncate(parse_size(size))
        return path

    def argv(self):
        a = [QEMU, "-machine", "%s,accel=tcg" % self.machine, "-cpu", "max",
             "-smp", str(self.smp), "-m", str(self.mem),
             "-nodefaults", "-display", "none", "-vga", "none",
             "-uuid", self.uuid,
             "-kernel", self.lab.kernel, "-initrd", self.lab.initrd,
             "-qmp", "unix:%s,server=on,wait=off" % os.path.join(self.dir, "qmp.sock")]
        if self.no_reboot:
            a.append("-no-reboot")
        if self.memfd:
            a[a.index("-machine") + 1] += ",memory-backend=mem"
            a += ["-object", "memory-backend-memfd,id=mem,size=%dM,share=on" % self.mem]
        for port in ("con", "ev", "vlog", "sh"):
            a += ["-chardev", "pipe,id=%s,path=%s" % (port, os.path.join(self.dir, port)),
                  "-serial", "chardev:%s" % port]
        if self.pvpanic:
            a += ["-device", "pvpanic", "-action", "panic=exit-failure"]
        if self.pciehp_native:
            a += ["-global", "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off"]
        for i, d in enumerate(self.devices):
            if self.machine.startswith("q35"):
                port = "rp%d" % (i + 1)
                a += ["-device", "pcie-root-port,id=%s,chassis=%d,slot=%d,bus=pcie.0,addr=0x%x"
                      % (port, i + 1, i + 1, 0x10 + i)]
                d.bus, d.addr = port, "0x0"
                d.port_bdf = "0000:00:%02x.0" % (0x10 + i)
            else:
                d.bus, d.addr = "pci.0", "0x%x" % (0x5 + i)
                d.port_bdf = None
            if d.vtype == "blk":
                d.backend = "bk_" + d.id
                a += ["-blockdev", "driver=raw,node-name=%s,file.driver=file,file.filename=%s"
                      % (d.backend, self._image(d.id + ".img", "32M"))]
            else:
                d.backend = "nd_" + d.id
                a += ["-netdev", "user,id=%s,restrict=%s" % (d.backend, "on" if d.restrict else "off")]
            a += ["-device", d.cmdline()]
        if self.state_disk:
            # persistent state disk (kept across boots of this VM)
            a += ["-blockdev", "driver=raw,node-name=bk_state,file.driver=file,file.filename=%s"
                  % self.state_disk,
                  "-device", "virtio-blk-pci,id=state,drive=bk_state,serial=vigilstate"]
        cmdline = "console=ttyS0,115200 panic=-1 loglevel=7 " + self.append
        if self.conf:
            cmdline += " lab.conf=" + ",".join(self.conf)
        if not self.vigil:
            cmdline += " lab.novigil"
        if self.state_disk:
            cmdline += " lab.state"
        a += ["-append", cmdline.strip()]
        return a + self.extra

    # -- life cycle ---------------------------------------------------
    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        for port in ("con", "ev", "vlog", "sh"):
            for sfx in (".in", ".out"):
                p = os.path.join(self.dir, port + sfx)
                if not os.path.exists(p):
                    os.mkfifo(p)
        # streams are opened before QEMU, so nothing is lost; kept across reboots
        if not self.streams:
            echo = self.lab.args.verbose
            self.streams = {
                "console": Stream(os.path.join(self.dir, "con.out"), "console",
                                  os.path.join(self.dir, "console.log"), echo),
                "events": Stream(os.path.join(self.dir, "ev.out"), "events",
                                 os.path.join(self.dir, "events.log"), echo),
                "vigild": Stream(os.path.join(self.dir, "vlog.out"), "vigild-log",
                                 os.path.join(self.dir, "vigild.log"), echo),
                "shell": Stream(os.path.join(self.dir, "sh.out"), "shell",
                                os.path.join(self.dir, "shell.log"), echo),
            }
            self.streams["shell"].open_input(os.path.join(self.dir, "sh.in"))
        argv = self.argv()
        with open(os.path.join(self.dir, "qemu.cmd"), "a") as f:
            f.write(" ".join(argv) + "\n")
        self.qemu_log = open(os.path.join(self.dir, "qemu.log"), "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.qemu_log,
                                     stderr=subprocess.STDOUT, cwd=self.dir)
        self.t_start = time.monotonic()
        self.boot_mark = {k: s.mark() for k, s in self.streams.items()}
        sock = os.path.join(self.dir, "qmp.sock")
        if self.qmp:
            self.qmp.close()
        self.qmp = QMP(sock, 20, self.alive)
        self.boots += 1
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def console(self):
        return self.streams["console"]

    @property
    def events(self):
        return self.streams["events"]

    def wait_ready(self, timeout=120):
        """Wait for the guest's command shell; return seconds since start."""
        self.shell_mark = self.streams["shell"].mark()
        self.streams["shell"].wait_for(lambda l: l == "@@READY", timeout,
                                       self.boot_mark["shell"], "@@READY", self.alive)
        t = time.monotonic() - self.t_start
        if self.vigil:
            i, l = self.console.wait_re(r"VMLAB-VIGILD-(UP|DIED|NOSOCKET|EXIT)", 5,
                                        self.boot_mark["console"], self.alive)
            if "VIGILD-UP" not in l:
                raise Fail("vigild did not come up: %s" % l.strip())
        self.lab.note("%s: guest ready after %.1fs" % (self.name, t))
        return t

    def boot(self, timeout=120):
        self.start()
        return self.wait_ready(timeout)

    def sh(self, cmd, timeout=30, check=True):
        """Run a shell command in the guest; return its output (str).
        Raises Fail on timeout, or on non-zero status when check."""
        self.cmdno += 1
        n = self.cmdno
        shell = self.streams["shell"]
        since = shell.mark()
        payload = "echo @@B%d; ( %s\n) </dev/null 2>&1; echo \"@@E%d $?\"\n" % (n, cmd, n)
        shell.write(payload.encode())
        try:
            i, line = shell.wait_for(lambda l: l.startswith("@@E%d " % n), timeout, since,
                                     "end of command %r" % cmd, self.alive)
        except Fail as e:
            raise Fail("guest command %r: %s" % (cmd, e))
        with shell.cond:
            lines = shell.lines[since:i]
        try:
            lines = lines[lines.index("@@B%d" % n) + 1:]
        except ValueError:
            pass
        rc = int(line.split()[1])
        out = "\n".join(lines)
        self.last_rc = rc
        if check and rc != 0:
            raise Fail("guest command %r exited %d: %s" % (cmd, rc, out[-500:]))
        return out

    def sh_bg(self, cmd):
        """Start a command in the guest's background and return at once."""
        return self.sh("%s >/dev/null 2>&1 &" % cmd, timeout=15)

    def waitfor(self, cond, timeout):
        """Bounded guest-side wait for a shell condition."""
        self.sh("/etc/lab/waitfor %d %s" % (timeout, shquote(cond)), timeout=timeout + 15,
                check=False)
        if self.last_rc != 0:
            raise Fail("guest condition not true within %ds: %s" % (timeout, cond))

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise Fail("QEMU still running %gs later" % timeout)

    def shutdown_reason(self):
        ev = self.qmp.find_events("SHUTDOWN") if self.qmp else []
        return ev[-1]["data"].get("reason") if ev else None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                self.qmp.cmd("quit", _timeout=5)
            except Exception:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.qmp:
            self.qmp.close()
            self.qmp = None
        if getattr(self, "qemu_log", None):
            self.qemu_log.close()
            self.qemu_log = None

    def close(self):
        self.stop()
        for s in self.streams.values():
            s.close()
        self.streams = {}

    # -- guest facts --------------------------------------------------
    def vdevs(self):
        out = self.sh("/etc/lab/vdevs")
        res = []
        for line in out.splitlines():
            if not line.startswith("VDEV "):
                continue
            res.append(dict(kv.split("=", 1) for kv in line.split()[1:]))
        return res

    def vdev_of(self, d, vdevs=None):
        """The guest's view (a vdevs() row) of host device d, or None."""
        for v in (vdevs if vdevs is not None else self.vdevs()):
            if d.port_bdf:
                if "/%s/" % d.port_bdf in v["path"] + "/":
                    return v
            elif v["bdf"] == "0000:00:%02x.0" % int(d.addr, 16):
                return v
        return None

    # -- vigil events -------------------------------------------------
    def ev_mark(self):
        return self.events.mark()

    def has(self, plugin):
        """vigild runs in this guest with `plugin` loaded"""
        return self.vigil and plugin in self.lab.plugins

    def active(self, kind):
        """True when an assertion about `kind` can be made in this guest;
        otherwise records it as inactive (with the reason)."""
        if not self.vigil:
            self.lab.inactive.add(kind)
            return False
        p = KIND_PLUGIN.get(kind)
        if p and p not in self.lab.plugins:
            self.lab.inactive.add("%s (no %s plugin)" % (kind, p))
            return False
        return True

    def vigil_events(self, kind=None, where=None, since=0):
        res = []
        with self.events.cond:
            lines = list(self.events.lines[since:])
        for l in lines:
            try:
                ev = json.loads(l)
            except ValueError:
                continue
            if isinstance(ev, dict) and (kind is None or ev_matches(ev, kind, where)):
                res.append(ev)
        return res

    def expect(self, kind, where=None, timeout=30, since=0):
        """Wait for a vigil event of `kind` whose fields match `where`
        ({'device.virtio_mode': 'legacy', 'pid': lambda v: v > 0}).  Returns
        the event, or None when vigil is not in this guest (the assertion is
        then recorded as inactive)."""
        if not self.active(kind):
            return None

        def pred(l):
            try:
                ev = json.loads(l)
            except ValueError:
                return False
            return isinstance(ev, dict) and ev_matches(ev, kind, where)
        try:
            i, l = self.events.wait_for(pred, timeout, since, "vigil event %s %s" % (kind, where or ""),
                                        self.alive)
        except Fail as e:
            seen = [ev_brief(ev) for ev in self.vigil_events(kind, since=since)]
            raise Fail("%s; events of kind %s seen: %s" % (e, kind, seen[-3:] or "none"))
        return json.loads(l)

    def expect_count(self, kind, where, n, since=0):
        if not self.active(kind):
            return
        got = self.vigil_events(kind, where, since)
        if len(got) != n:
            raise Fail("expected exactly %d %s event(s) matching %s, got %d: %s"
                       % (n, kind, where, len(got), [ev_brief(e) for e in got]))

    # -- diagnostics --------------------------------------------------
    def tails(self):
        out = []
        for key, n in (("console", 40), ("events", 15), ("vigild", 30), ("shell", 10)):
            s = self.streams.get(key)
            if not s:
                continue
            t = s.tail(n)
            if key == "events":
                t = [compact_event(l) for l in t]
            if t:
                out.append("---- %s (%s), last %d lines ----" % (key, self.name, len(t)))
                out += ["  " + (l if len(l) <= 400 else l[:400] + " ...") for l in t]
        p = os.path.join(self.dir, "qemu.log")
        if os.path.exists(p):
            with open(p, errors="replace") as f:
                t = f.read().splitlines()[-10:]
            if t:
                out.append("---- qemu stderr (%s) ----" % self.name)
                out += ["  " + l for l in t]
        return "\n".join(out)


def kernel_ts(lines):
    """printk timestamp (seconds) of the first of lines that has one"""
    for l in lines:
        m = re.match(r"\[\s*(\d+\.\d+)\]", l)
        if m:
            return float(m.group(1))
    return None


def shquote(s):
    return "'" + s.replace("'", "'\\''") + "'"


def parse_size(s):
    m = re.fullmatch(r"(\d+)([KMG]?)", s)
    return int(m.group(1)) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2)]


# --------------------------------------------------------------------------
# an HTTP receiver on the host's loopback (the guest reaches it as 10.0.2.2
# through QEMU user networking)

class Receiver:
    def __init__(self):
        self.requests = []
        self.cond = threading.Condition()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                with outer.cond:
                    outer.requests.append({"path": self.path, "headers": dict(self.headers),
                                           "body": body.decode("utf-8", "replace")})
                    outer.cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for r in self.requests:
                    if pred(r):
                        return r
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Fail("timeout after %gs waiting for %s at the host receiver (got %d "
                               "requests: %s)" % (timeout, what, len(self.requests),
                                                  [r["path"] for r in self.requests][-5:]))
                self.cond.wait(min(left, 0.5))

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# --------------------------------------------------------------------------
# scenarios

SCENARIOS = []


def scenario(name, needs_vigil=False, budget=120):
    """needs_vigil: False, True, or a tuple of plugin names the scenario
    cannot do without (it SKIPs when they are missing)."""
    """budget: the scenario's overall time limit in seconds (a watchdog
    kills QEMU when it is exceeded, so one hang cannot eat the lab)."""
    def deco(fn):
        SCENARIOS.append((name, fn, needs_vigil, budget))
        return fn
    return deco


def hotplug_matrix(lab, machine, name, pciehp=False):
    if pciehp:
        devs = [VDev("blk_modern", "blk", "modern", 0)]
    else:
        devs = [VDev("blk_modern", "blk", "modern", 0), VDev("blk_legacy", "blk", "legacy", 1),
                VDev("net_modern", "net", "modern", 2), VDev("net_legacy", "net", "legacy", 3)]
    vm = lab.vm(name, machine=machine, devices=devs, pciehp_native=pciehp)
    vm.boot()
    before = vm.vdevs()
    facts = {}
    for d in devs:
        v = vm.vdev_of(d, before)
        if v is None:
            raise Fail("guest does not see %s before unplug: %s" % (d.id, before))
        want_ver1 = "0" if d.mode == "legacy" else "1"
        if v["ver1"] != want_ver1:
            raise Fail("%s: VERSION_1 bit %s, expected %s (%s)" % (d.id, v["ver1"], want_ver1, v))
        if v["name"] == "none":
            raise Fail("%s: no block/net name in the guest: %s" % (d.id, v))
        facts[d.id] = v
    ev0 = vm.ev_mark()
    for d in devs:
        v = facts[d.id]
        q = vm.qmp.mark()
        c = vm.console.mark()
        t0 = time.monotonic()
        vm.qmp.cmd("device_del", id=d.id)
        vm.qmp.wait_event("DEVICE_DELETED", 40 if pciehp else 20, q,
                          lambda data, i=d.id: data.get("device") == i)
        dt = time.monotonic() - t0
        vm.waitfor("[ ! -e %s ]" % v["path"], 10)
        if pciehp:
            if not vm.console.grep(r"pciehp: Slot\(\d+\): (Attention button pressed|Powering off)", c):
                raise Fail("native pciehp: no 'pciehp: Slot(N): Attention button pressed' line")
            # the kernel's own pciehp lines (6.1: "pcieport 0000:00:02.0: pciehp: Slot(0): …")
            # are info events of the kmsg classifier, for correlation
            vm.expect("pci_hotplug", {"severity": "info"}, 20, ev0)
        vm.expect("virtio_removed", {"device.pci_bdf": v["bdf"], "device.virtio_type": d.vtype,
                                     "device.virtio_mode": d.expect_mode,
                                     "device.name": v["name"]}, 20, ev0)
        lab.note("%s: device_del %s -> DEVICE_DELETED in %.1fs" % (name, d.id, dt))
    for d in devs:
        props = d.qdev_props()
        drv = props.pop("driver")
        vm.qmp.cmd("device_add", driver=drv, **props)
    after = None
    for d in devs:
        vm.waitfor("ls -d /sys/bus/pci/devices/*/virtio*/%s/%s >/dev/null 2>&1"
                   % ("block" if d.vtype == "blk" else "net", facts[d.id]["name"]), 30)
    after = vm.vdevs()
    for d in devs:
        v = vm.vdev_of(d, after)
        if v is None:
            raise Fail("%s not back after device_add: %s" % (d.id, after))
        vm.expect("virtio_added", {"device.pci_bdf": v["bdf"], "device.virtio_type": d.vtype,
                                   "device.virtio_mode": d.expect_mode}, 20, ev0)
    for d in devs:
        vm.expect_count("virtio_removed", {"device.pci_bdf": facts[d.id]["bdf"]}, 1, ev0)
    vm.close()


@scenario("boot", budget=150)
def sc_boot(lab):
    """Boot to the ready marker; the guest sees modern, legacy and
    transitional virtio devices as such; vigild is up, its event channel
    carries only JSON objects, its inventory names each device's mode."""
    devs = [VDev("blk_modern", "blk", "modern", 0), VDev("blk_legacy", "blk", "legacy", 1),
            VDev("blk_trans", "blk", "transitional", 2), VDev("net_modern", "net", "modern", 3),
            VDev("net_legacy", "net", "legacy", 4), VDev("net_trans", "net", "transitional", 5)]
    vm = lab.vm("boot", machine="pc", devices=devs)
    vm.boot()
    vd = vm.vdevs()
    for d in devs:
        v = vm.vdev_of(d, vd)
        if v is None:
            raise Fail("guest does not see %s: %s" % (d.id, vd))
        exp = {"ver1": "0" if d.mode == "legacy" else "1",
               "caps": "0" if d.mode == "legacy" else "5",
               "pci_id": "1af4:" + d.expect_pci_device,
               "driver": "virtio_" + d.vtype}
        for k, want in exp.items():
            if v[k] != want:
                raise Fail("%s: guest %s=%s, expected %s (%s)" % (d.id, k, v[k], want, v))
    if not vm.vigil:
        lab.inactive.add("vigild")
        vm.close()
        return
    # vigild is up (wait_ready checked its control socket) and answers
    out = vm.sh("vigilctl status --json", timeout=20)
    try:
        st = json.loads(out)
    except ValueError:
        raise Fail("vigilctl status --json is not JSON: %r" % out[:300])
    # every line on the event channel must be one JSON object with a kind
    for l in vm.events.lines:
        try:
            ev = json.loads(l)
        except ValueError:
            raise Fail("non-JSON line on vigil's event channel: %r" % l[:200])
        if not isinstance(ev, dict) or "kind" not in ev:
            raise Fail("event without kind: %r" % l[:200])
        host = ev.get("host") or {}
        if host.get("instance_id") != vm.uuid:
            raise Fail("event host.instance_id %r, expected the DMI product UUID %s"
                       % (host.get("instance_id"), vm.uuid))
        if host.get("hostname") != "vigil-lab" or host.get("kernel") != lab.kver:
            raise Fail("event host fields wrong: %s" % host)
    if not vm.active("inventory"):
        vm.close()
        return
    # inventory: vigilctl status --json must name every device with its mode
    found = {}

    def walk(o):
        if isinstance(o, dict):
            if "pci_bdf" in o and "virtio_mode" in o:
                found[o["pci_bdf"]] = o
            for x in o.values():
                walk(x)
        elif isinstance(o, list):
            for x in o:
                walk(x)
    walk(st)
    for d in devs:
        v = vm.vdev_of(d, vd)
        inv = found.get(v["bdf"])
        if inv is None:
            raise Fail("vigilctl status has no inventory entry for %s (%s)" % (d.id, v["bdf"]))
        if inv.get("virtio_mode") != d.expect_mode or inv.get("virtio_type") != d.vtype:
            raise Fail("inventory of %s: %s, expected mode %s type %s"
                       % (d.id, inv, d.expect_mode, d.vtype))
    vm.close()


@scenario("hotplug_pc", budget=180)
def sc_hotplug_pc(lab):
    """ACPI hot-unplug on i440fx: device_del of modern+legacy virtio-blk/net
    -> DEVICE_DELETED, gone in the guest, exactly one virtio_removed each
    (type, BDF, name, mode); device_add -> back, virtio_added."""
    hotplug_matrix(lab, "pc", "hotplug_pc")


@scenario("hotplug_q35", budget=180)
def sc_hotplug_q35(lab):
    """The same on q35 with each device behind its own pcie-root-port
    (QEMU 7.2 default: ACPI hotplug on root ports)."""
    hotplug_matrix(lab, "q35", "hotplug_q35")


@scenario("hotplug_pciehp", budget=150)
def sc_hotplug_pciehp(lab):
    """q35 with native PCIe hotplug (ACPI hotplug off): the kernel prints the
    pciehp attention-button lines and the device goes 5 s later."""
    hotplug_matrix(lab, "q35", "hotplug_pciehp", pciehp=True)


@scenario("link", budget=120)
def sc_link(lab):
    """QMP set_link off/on on a virtio-net: carrier 1->0->1 in the guest
    (no dmesg line, no uevent: rtnetlink only) -> link_down / link_up."""
    d = VDev("net0", "net", "modern", 0)
    vm = lab.vm("link", machine="pc", devices=[d])
    vm.boot()
    v = vm.vdev_of(d)
    ifn = v["name"]
    vm.sh("ip link set %s up" % ifn)
    vm.waitfor("[ $(cat /sys/class/net/%s/carrier) = 1 ]" % ifn, 10)
    ev0 = vm.ev_mark()
    t0 = time.monotonic()
    vm.qmp.cmd("set_link", name=d.id, up=False)
    vm.waitfor("[ $(cat /sys/class/net/%s/carrier) = 0 ]" % ifn, 10)
    try:
        vm.expect("link_down", {"link.name": ifn, "link.carrier": lambda c: c in (0, False, "0")}, 15, ev0)
    except Fail as e:
        # what the link plugin itself believes about the link
        st = vm.sh("vigilctl status 2>&1 | grep -A12 -w %s" % ifn, check=False)
        raise Fail("%s\nvigilctl status:\n%s" % (e, st))
    lab.note("link: carrier down seen %.1fs after set_link" % (time.monotonic() - t0))
    vm.qmp.cmd("set_link", name=d.id, up=True)
    vm.waitfor("[ $(cat /sys/class/net/%s/carrier) = 1 ]" % ifn, 10)
    vm.expect("link_up", {"link.name": ifn}, 15, ev0)
    vm.expect_count("link_down", {"link.name": ifn}, 1, ev0)
    vm.close()


@scenario("hung_task_dm", budget=150)
def sc_hung_task_dm(lab):
    """dm-linear over a ram disk, dmsetup suspend, buffered write + fsync:
    the writer sits in D state -> task_stuck (vigil's sampler) first, then
    the kernel's hung-task report -> hung_task with comm/pid; resume frees it."""
    vm = lab.vm("hung_task_dm", machine="pc", conf=["hung"])
    vm.boot()
    if not vm.has("sysctl"):
        vm.sh("sysctl -w kernel.hung_task_timeout_secs=3")
    else:
        # vigil's sysctl action (lab conf 'hung') must have lowered it
        vm.waitfor("[ $(cat /proc/sys/kernel/hung_task_timeout_secs) -le 10 ]", 10)
    vm.sh("export DM_DISABLE_UDEV=1; dmsetup create lab --table '0 8192 linear /dev/ram0 0' "
          "&& dmsetup suspend lab")
    ev0 = vm.ev_mark()
    c = vm.console.mark()
    t0 = time.monotonic()
    vm.sh_bg("dd if=/dev/zero of=/dev/mapper/lab bs=4k count=16 seek=64 conv=fsync")
    vm.waitfor("grep -l '^State:.*D' /proc/[0-9]*/status | xargs grep -l '^Name:.*dd' >/dev/null", 10)
    i, l = vm.console.wait_re(r"INFO: task dd:(\d+) blocked for more than \d+ seconds", 60, c, vm.alive)
    pid = int(re.search(r"dd:(\d+)", l).group(1))
    lab.note("hung_task_dm: kernel hung-task report for dd:%d %.1fs after the write"
             % (pid, time.monotonic() - t0))
    stuck = vm.expect("task_stuck", {"comm": "dd", "pid": pid}, 30, ev0)
    hung = vm.expect("hung_task", {"comm": "dd", "pid": pid}, 30, ev0)
    if stuck and hung and stuck.get("monotonic_usec", 0) > hung.get("monotonic_usec", 0):
        raise Fail("task_stuck came after the kernel's hung_task report")
    if hung is not None and not hung.get("frames"):
        raise Fail("hung_task event without call trace frames: %s" % ev_brief(hung))
    vm.sh("export DM_DISABLE_UDEV=1; dmsetup resume lab")
    vm.waitfor("! pidof dd", 20)
    vm.close()


@scenario("kmod_reports", budget=240)
def sc_kmod_reports(lab):
    """The test module provokes WARN, a soft lockup (watchdog_thresh=1, 6 s
    spin), a hung task on a mutex and a NULL-pointer Oops; the kernel reports
    each; vigil reports warning, soft_lockup (cpu/comm/pid/RIP in the
    module), hung_task/task_stuck and oops (cause null_deref)."""
    vm = lab.vm("kmod_reports", machine="pc", conf=["kmod"])
    vm.boot()
    dbg = "/sys/kernel/debug/vigil_testmod"
    vm.sh("[ -d %s ]" % dbg)
    if not vm.has("sysctl"):
        vm.sh("sysctl -w kernel.watchdog_thresh=1 kernel.hung_task_timeout_secs=3")
    else:
        vm.waitfor("[ $(cat /proc/sys/kernel/watchdog_thresh) = 1 ]", 10)
    ev0 = vm.ev_mark()
    # WARN
    c = vm.console.mark()
    vm.sh("echo 1 > %s/warn" % dbg)
    vm.console.wait_re(r"WARNING: CPU: \d+ PID: \d+ at .*warn_write", 20, c, vm.alive)
    vm.expect("warning", {"severity": lambda s: s in ("warning", "critical")}, 30, ev0)
    # soft lockup
    c = vm.console.mark()
    t0 = time.monotonic()
    vm.sh("echo 6 > %s/softlockup" % dbg, timeout=60)
    i, l = vm.console.wait_re(r"watchdog: BUG: soft lockup - CPU#(\d+) stuck for \d+s! \[(.+):(\d+)\]",
                              30, c, vm.alive)
    m = re.search(r"CPU#(\d+) stuck for \d+s! \[(.+):(\d+)\]", l)
    cpu, comm, pid = int(m.group(1)), m.group(2), int(m.group(3))
    vm.console.wait_re(r"RIP: 0010:softlockup_write.*\[vigil_testmod\]", 20, c, vm.alive)
    ts = kernel_ts(vm.console.grep(r"vigil_testmod: spinning for", c))
    tl = kernel_ts([l])
    if ts is not None and tl is not None:
        lab.note("kmod_reports: soft lockup report %.1fs (guest clock) after the spin started"
                 % (tl - ts))
    ev = vm.expect("soft_lockup", {"cpu": cpu, "comm": comm, "pid": pid}, 30, ev0)
    if ev is not None:
        ip = ev.get("ip") or {}
        # gcc may move the loop into softlockup_write.cold
        if not str(ip.get("symbol")).startswith("softlockup_write") or ip.get("module") != "vigil_testmod":
            raise Fail("soft_lockup ip %s, expected softlockup_write in vigil_testmod" % ip)
    # hung task on a mutex
    c = vm.console.mark()
    vm.sh("echo 20 > %s/hold_mutex" % dbg)
    vm.sh_bg("sh -c 'echo 1 > %s/take_mutex'" % dbg)
    i, l = vm.console.wait_re(r"INFO: task sh:(\d+) blocked for more than \d+ seconds", 40, c, vm.alive)
    pid = int(re.search(r"sh:(\d+)", l).group(1))
    vm.expect("hung_task", {"comm": "sh", "pid": pid}, 30, ev0)
    vm.expect("task_stuck", {"pid": pid}, 30, ev0)
    # Oops (from a child shell: the Oops kills the writing task)
    c = vm.console.mark()
    vm.sh("sh -c 'echo 1 > %s/oops'" % dbg, check=False, timeout=30)
    if vm.last_rc != 137:
        raise Fail("the oopsing shell exited %d, expected 137 (killed)" % vm.last_rc)
    vm.console.wait_re(r"BUG: kernel NULL pointer dereference, address: 0+\b", 10, c, vm.alive)
    vm.console.wait_re(r"Oops: 0002 \[#1\]", 10, c, vm.alive)
    vm.expect("oops", {"cause": "null_deref"}, 30, ev0)
    vm.sh("true")  # the guest lives on
    vm.close()


@scenario("kmsg_storm", needs_vigil=("kmsg",), budget=300)
def sc_kmsg_storm(lab):
    """A real printk storm: the test module logs 300,000 records as fast as
    printk takes them (KERN_DEBUG: not on the console), 70 times what the
    ring holds. vigild reads each record or counts it lost: the records it
    read plus those it counted lost equal the kernel's sequence span,
    exactly, and a kmsg_lost event says so when any were lost. The storm
    (benign lines) gives no other event, vigild's peak RSS grows by less
    than 8 MiB, and a WARN right after is reported (the reader is not left
    behind)."""
    n = 300000
    vm = lab.vm("kmsg_storm", machine="pc")
    vm.boot()
    dbg = "/sys/kernel/debug/vigil_testmod"
    vm.sh("[ -d %s ]" % dbg)

    def kmsg_status():
        out = vm.sh("vigilctl status --json", timeout=20)
        try:
            st = json.loads(out)
            return [p for p in st["plugins"] if p["name"] == "kmsg"][0]["status"]
        except (ValueError, KeyError, IndexError):
            raise Fail("no kmsg status in vigilctl status --json: %r" % out[:300])

    def vm_kib(field):
        out = vm.sh("grep '^%s:' /proc/$(pidof vigild)/status" % field)
        m = re.search(r"(\d+) kB", out)
        if not m:
            raise Fail("no %s of vigild: %r" % (field, out))
        return int(m.group(1))

    s0 = kmsg_status()
    hwm0 = vm_kib("VmHWM")
    ev0 = vm.ev_mark()
    c = vm.console.mark()
    vm.sh("echo %d > %s/storm" % (n, dbg), timeout=200)
    i, l = vm.console.wait_re(r"vigil_testmod: storm of \d+ records in (\d+) us", 30, c, vm.alive)
    us = int(re.search(r"in (\d+) us", l).group(1))
    # a real report right after the storm: the reader caught up
    vm.sh("echo 1 > %s/warn" % dbg)
    vm.expect("warning", None, 60, ev0)
    s1 = kmsg_status()
    hwm1 = vm_kib("VmHWM")
    read = s1["records"] - s0["records"]
    lost = s1["lost_records"] - s0["lost_records"]
    span = s1["last_seq"] - s0["last_seq"]
    lab.note("kmsg_storm: %d records in %.2f s (%.0f records/s, guest clock); vigild read %d, counted %d "
             "lost (%d kmsg_lost event(s)), peak RSS %d -> %d KiB"
             % (n, us / 1e6, n / max(us / 1e6, 1e-6), read, lost,
                len(vm.vigil_events("kmsg_lost", since=ev0)), hwm0, hwm1))
    if span < n:
        raise Fail("kmsg last_seq moved by %d, fewer than the %d storm records" % (span, n))
    if read + lost != span:
        raise Fail("records read (%d) + counted lost (%d) = %d, but the kernel's sequence span is %d"
                   % (read, lost, read + lost, span))
    lost_evs = vm.vigil_events("kmsg_lost", since=ev0)
    if lost and not lost_evs:
        raise Fail("%d records lost but no kmsg_lost event" % lost)
    if not lost and lost_evs:
        raise Fail("kmsg_lost events without lost records: %s" % [ev_brief(e) for e in lost_evs])
    for e in lost_evs:
        if not isinstance(e.get("lost"), int) or e["lost"] < 1:
            raise Fail("kmsg_lost event without a positive 'lost': %s" % ev_brief(e))
    other = [e for e in vm.vigil_events(since=ev0)
             if e.get("source") == "kmsg" and e.get("kind") not in ("kmsg_lost", "warning")]
    if other:
        raise Fail("the storm of benign records gave events: %s" % [ev_brief(e) for e in other[:5]])
    vm.expect_count("warning", None, 1, ev0)
    if hwm1 - hwm0 > 8192:
        raise Fail("vigild's peak RSS grew by %d KiB during the storm (bound: 8 MiB)" % (hwm1 - hwm0))
    vm.close()


@scenario("panic_on_oops", budget=120)
def sc_panic_on_oops(lab):
    """kernel.panic_on_oops=1 (set by vigil's sysctl action when vigil is in
    the guest): an Oops becomes a panic; pvpanic + -action panic=exit-failure
    make QEMU exit 1 with GUEST_PANICKED."""
    vm = lab.vm("panic_on_oops", machine="pc", conf=["panic"])
    vm.boot()
    if vm.has("sysctl"):
        vm.waitfor("[ $(cat /proc/sys/kernel/panic_on_oops) = 1 ]", 10)
    else:
        vm.sh("sysctl -w kernel.panic_on_oops=1 kernel.panic=1")
    c = vm.console.mark()
    q = vm.qmp.mark()
    t0 = time.monotonic()
    vm.sh_bg("sh -c 'echo 1 > /sys/kernel/debug/vigil_testmod/oops'")
    rc = vm.wait_exit(30)
    dt = time.monotonic() - t0
    if rc != 1:
        raise Fail("QEMU exit code %d, expected 1 (pvpanic exit-failure)" % rc)
    if not vm.qmp.find_events("GUEST_PANICKED", q):
        raise Fail("no GUEST_PANICKED event")
    vm.console.wait_re(r"Kernel panic - not syncing: Fatal exception", 5, c)
    lab.note("panic_on_oops: QEMU exited %.1fs after the Oops trigger" % dt)
    vm.close()


@scenario("reboot_exit", budget=90)
def sc_reboot_exit(lab):
    """`reboot -f` ends QEMU (-no-reboot) with rc 0 and SHUTDOWN reason
    guest-reset and no GUEST_PANICKED: how the lab tells a vigil reboot
    from a crash."""
    vm = lab.vm("reboot_exit", machine="pc", vigil=False)
    vm.boot()
    vm.sh_bg("reboot -f")
    rc = vm.wait_exit(20)
    if rc != 0 or vm.shutdown_reason() != "guest-reset" or vm.qmp.find_events("GUEST_PANICKED"):
        raise Fail("reboot -f: rc %d reason %s" % (rc, vm.shutdown_reason()))
    vm.close()


@scenario("kdump", budget=180)
def sc_kdump(lab):
    """crashkernel=192M, -m 768: kexec -p arms the crash kernel (vigil's
    kdump action when vigil is in the guest, reporting kdump_state); an Oops
    boots the crash kernel, which reads the dead kernel's log from
    /proc/vmcore and reboots."""
    if not lab.has_kexec:
        raise Skip("no kexec in the image (setup.sh could not fetch kexec-tools)")
    vm = lab.vm("kdump", machine="pc", mem=768, append="crashkernel=192M", conf=["kdump"])
    vm.boot()
    arm_kdump(vm)
    c = vm.console.mark()
    t0 = time.monotonic()
    vm.sh_bg("sh -c 'echo 1 > /sys/kernel/debug/vigil_testmod/oops'")
    vm.console.wait_re(r"VMLAB-CRASH-KERNEL", 60, c, vm.alive)
    lab.note("kdump: crash kernel's init %.1fs after the Oops" % (time.monotonic() - t0))
    vm.console.wait_re(r"VMLAB-VMCORE-DMESG: .*(BUG: kernel NULL pointer dereference|Oops)", 60, c, vm.alive)
    vm.console.wait_re(r"VMLAB-CRASH-DONE", 60, c, vm.alive)
    rc = vm.wait_exit(30)
    if rc != 0:
        raise Fail("crash kernel's reboot: QEMU rc %d" % rc)
    vm.close()


# the vhost-user-blk backend loss (host runs qemu-storage-daemon)
@scenario("vhost_user_blk", budget=200)
def sc_vhost_user_blk(lab):
    """qemu-storage-daemon exports the data disk as vhost-user-blk;
    SIGSTOP -> stuck I/O (inflight > 0) -> blk_stall + vhost_backend_lost
    before the kernel's hung-task report; SIGCONT -> I/O completes,
    blk_resumed."""
    qsd = shutil.which("qemu-storage-daemon")
    if not qsd:
        raise Skip("no qemu-storage-daemon (package qemu-system-common)")
    d = os.path.join(lab.work, "vhost_user_blk")
    os.makedirs(d, exist_ok=True)
    img = os.path.join(d, "vhost.img")
    with open(img, "wb") as f:
        f.truncate(64 << 20)
    sockp = os.path.join(d, "vhost.sock")
    if os.path.exists(sockp):
        os.unlink(sockp)
    qlog = open(os.path.join(d, "qsd.log"), "ab")
    daemon = subprocess.Popen([qsd, "--blockdev", "driver=file,node-name=file0,filename=%s" % img,
                               "--export", "type=vhost-user-blk,id=exp0,node-name=file0,"
                               "addr.type=unix,addr.path=%s,writable=on" % sockp],
                              stdout=qlog, stderr=subprocess.STDOUT)
    lab.cleanup.append(lambda: (daemon.poll() is None and (os.kill(daemon.pid, signal.SIGCONT),
                                                          daemon.kill(), daemon.wait())))
    deadline = time.monotonic() + 10
    while not os.path.exists(sockp):
        if time.monotonic() > deadline or daemon.poll() is not None:
            raise Fail("qemu-storage-daemon did not create %s" % sockp)
        time.sleep(0.05)
    vm = lab.vm("vhost_user_blk", machine="q35", memfd=True, conf=["vhost"],
                extra=["-chardev", "socket,id=vub,path=%s,reconnect=1" % sockp,
                       "-device", "vhost-user-blk-pci,id=vub0,chardev=vub,num-queues=1"])
    vm.boot()
    if not vm.has("sysctl"):
        vm.sh("sysctl -w kernel.hung_task_timeout_secs=5")
    dev = vm.sh("ls /sys/block | grep vd | head -n1").strip()
    if not dev:
        raise Fail("no vhost-user-blk disk in the guest")
    vm.sh("dd if=/dev/zero of=/dev/%s bs=64k count=16 conv=fsync" % dev, timeout=60)
    ev0 = vm.ev_mark()
    c = vm.console.mark()
    os.kill(daemon.pid, signal.SIGSTOP)
    t0 = time.monotonic()
    vm.sh_bg("dd if=/dev/zero of=/dev/%s bs=4k count=64 conv=fsync" % dev)
    vm.waitfor("[ $(awk '{print $1+$2}' /sys/block/%s/inflight) -gt 0 ]" % dev, 15)
    stall = vm.expect("blk_stall", {"device.name": dev}, 60, ev0)
    lost = vm.expect("vhost_backend_lost", {}, 60, ev0)
    i, l = vm.console.wait_re(r"INFO: task dd:\d+ blocked for more than \d+ seconds", 60, c, vm.alive)
    lab.note("vhost_user_blk: hung-task report %.1fs after SIGSTOP" % (time.monotonic() - t0))
    if stall is not None:
        # the shipped signature names the lost backend on the kernel's report
        kern_hung = vm.expect("hung_task", {"comm": "dd", "known_issue.id": "vhost-user-blk-backend-loss"}, 30, ev0)
        for e in (stall, lost):
            if e and kern_hung and e.get("monotonic_usec", 0) > kern_hung.get("monotonic_usec", 0):
                raise Fail("%s came after the kernel's hung-task report" % e["kind"])
    ev1 = vm.ev_mark()
    os.kill(daemon.pid, signal.SIGCONT)
    vm.waitfor("[ $(awk '{print $1+$2}' /sys/block/%s/inflight) = 0 ] && ! pidof dd" % dev, 30)
    vm.expect("blk_resumed", {"device.name": dev}, 30, ev1)
    # SIGKILL, with the reboot rule: vigil must reboot the guest although its
    # disk is dead (forced mode: sync with a deadline, then reboot(2))
    if not (vm.has("reboot") and vm.has("blkstall")):
        lab.inactive.add("reboot on backend loss (no reboot/blkstall plugin)")
        vm.close()
        daemon.kill()
        daemon.wait()
        qlog.close()
        return
    vm.sh("cp /etc/vigil/lab/vhost_reboot.conf /etc/vigil/conf.d/60-lab-vhost_reboot.conf "
          "&& kill -HUP $(pidof vigild)")
    vm.waitfor("vigilctl status --json | grep -q lab-backend-lost", 20)
    ev2 = vm.ev_mark()
    daemon.kill()
    daemon.wait()
    t0 = time.monotonic()
    vm.sh_bg("dd if=/dev/zero of=/dev/%s bs=4k count=64 conv=fsync" % dev)
    vm.expect("vhost_backend_lost", {}, 60, ev2)
    rc = vm.wait_exit(90)
    dt = time.monotonic() - t0
    if rc != 0 or vm.shutdown_reason() != "guest-reset":
        raise Fail("after the backend's SIGKILL: QEMU rc %s, reason %s; expected a reboot by vigil "
                   "(rc 0, guest-reset)" % (rc, vm.shutdown_reason()))
    lab.note("vhost_user_blk: vigil rebooted the guest %.1fs after the backend was killed" % dt)
    vm.close()
    qlog.close()


@scenario("previous_boot_crash", budget=300)
def sc_previous_boot_crash(lab):
    """Boot 1 (state disk, crashkernel): Oops -> kdump crash kernel saves the
    dead kernel's log as /var/crash/<stamp>/dmesg.<stamp> on the persistent
    disk.  Boot 2: the file is there; vigil's lastboot reports
    previous_boot_crash (with the Oops classified).  Boot 3: not again."""
    if not lab.has_kexec:
        raise Skip("no kexec in the image (setup.sh could not fetch kexec-tools)")
    d = os.path.join(lab.work, "previous_boot_crash")
    os.makedirs(d, exist_ok=True)
    state = make_state_disk(d)
    vm = lab.vm("previous_boot_crash", machine="pc", mem=768, append="crashkernel=192M",
                conf=["kdump"], state_disk=state)
    # boot 1: crash
    vm.boot()
    arm_kdump(vm)
    c = vm.console.mark()
    vm.sh_bg("sh -c 'echo 1 > /sys/kernel/debug/vigil_testmod/oops'")
    i, l = vm.console.wait_re(r"VMLAB-CRASH-SAVED (\S+)", 90, c, vm.alive)
    rc = vm.wait_exit(30)
    if rc != 0:
        raise Fail("crash kernel's reboot: QEMU rc %d" % rc)
    vm.stop()
    # boot 2: the saved log is there, vigil reports it once
    vm.boot()
    out = vm.sh("ls /var/crash/*/dmesg.* && grep -c 'BUG: kernel NULL pointer dereference' "
                "/var/crash/*/dmesg.*")
    lab.note("previous_boot_crash: saved crash log on the state disk: %s" % out.splitlines()[0])
    e0 = vm.boot_mark["events"]
    ev = vm.expect("previous_boot_crash", {}, 30, e0)
    if ev is not None:
        # the crash is the Oops (which called crash_kexec), whatever else the
        # dead kernel logged before it (e.g. an RCU stall on a loaded host)
        what = ("%s %s" % (ev.get("summary"), ev.get("cause"))).lower()
        if not any(w in what for w in ("oops", "null", "null_deref")):
            raise Fail("previous_boot_crash names the wrong report (the fatal one was the "
                       "NULL-pointer Oops): %s" % ev_brief(ev))
    vm.expect_count("previous_boot_crash", {}, 1, e0)
    # a clean power-off (busybox init: SIGTERM to vigild, sync) before boot 3
    vm.sh_bg("poweroff")
    rc = vm.wait_exit(60)
    if rc != 0 or vm.shutdown_reason() != "guest-shutdown":
        raise Fail("poweroff: QEMU rc %s reason %s" % (rc, vm.shutdown_reason()))
    vm.stop()
    # boot 3: nothing new to report (only worth a boot when lastboot is there)
    if vm.active("previous_boot_crash"):
        vm.boot()
        e0 = vm.boot_mark["events"]
        try:
            ev = vm.expect("previous_boot_crash", {}, 10, e0)
        except Fail:
            ev = None   # the expected outcome: nothing within 10 s of vigild being up
        if ev is not None:
            raise Fail("previous_boot_crash reported again on the next boot: %s" % ev_brief(ev))
    vm.close()


def make_state_disk(d):
    """a fresh 64 MB ext4 image for the guest's persistent state (serial vigilstate)"""
    state = os.path.join(d, "state.img")
    with open(state, "wb") as f:
        f.truncate(64 << 20)
    r = subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "vigilstate", state],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        raise Fail("mkfs.ext4 %s: %s" % (state, r.stdout.decode(errors="replace")))
    return state


def arm_kdump(vm):
    """kdump armed and panic_on_oops=1: by vigil's kdump/sysctl plugins when
    they are in the guest, else by hand (an Oops reaches crash_kexec() only
    with panic_on_oops)."""
    # (reading kexec_crash_size fails with EBUSY while a kexec load holds the
    # kexec lock, e.g. vigil's kdump plugin arming at start: retry)
    vm.waitfor("[ $(cat /sys/kernel/kexec_crash_size 2>/dev/null || echo 0) -gt 0 ]", 30)
    if vm.has("kdump"):
        vm.waitfor("[ $(cat /sys/kernel/kexec_crash_loaded) = 1 ]", 30)
        vm.expect("kdump_state", {}, 20, vm.boot_mark["events"])
    else:
        vm.sh("kexec -p /boot/vmlinuz --initrd=/boot/initrd "
              "--append='console=ttyS0,115200 nr_cpus=1 irqpoll reset_devices panic=-1 loglevel=4'",
              timeout=60)
    if vm.has("sysctl"):
        vm.waitfor("[ $(cat /proc/sys/kernel/panic_on_oops) = 1 ]", 10)
    else:
        vm.sh("sysctl -w kernel.panic_on_oops=1")
    vm.sh("[ $(cat /sys/kernel/kexec_crash_loaded) = 1 ]")


@scenario("delivery", budget=150)
def sc_delivery(lab):
    """The guest reaches a receiver on the host's loopback through QEMU user
    networking (10.0.2.2); vigil's alert plugin posts the events of a WARN
    and a hot-unplug there in the Alertmanager API v2 format."""
    rx = Receiver()
    lab.cleanup.append(rx.close)
    net = VDev("net0", "net", "modern", 0, restrict=False)
    blk = VDev("blk0", "blk", "modern", 1)
    vm = lab.vm("delivery", machine="pc", devices=[net, blk], conf=["delivery"],
                append="lab.net lab.var.ALERT_PORT=%d" % rx.port)
    vm.boot()
    vm.console.wait_re(r"VMLAB-NET eth\d", 5, vm.boot_mark["console"])
    vm.sh("wget -q -O /dev/null --header 'Content-Type: application/json' "
          "--post-data '{\"lab\":\"ping\"}' http://10.0.2.2:%d/lab-ping" % rx.port, timeout=30)
    rx.wait(lambda r: r["path"] == "/lab-ping", 10, "the guest's test POST")
    if not vm.has("alert"):
        lab.inactive.add("alert delivery (no alert plugin)")
        vm.close()
        return
    kinds = []
    if vm.has("kmsg"):
        vm.sh("echo 1 > /sys/kernel/debug/vigil_testmod/warn")
        kinds.append("warning")
    if vm.has("virtio"):
        q = vm.qmp.mark()
        vm.qmp.cmd("device_del", id=blk.id)
        vm.qmp.wait_event("DEVICE_DELETED", 20, q, lambda data: data.get("device") == blk.id)
        kinds.append("virtio_removed")
    for k in kinds:
        r = rx.wait(lambda r, k=k: r["path"].endswith("/api/v2/alerts") and k in r["body"], 60,
                    "an Alertmanager POST with %s" % k)
        try:
            alerts = json.loads(r["body"])
        except ValueError:
            raise Fail("alert body is not JSON: %r" % r["body"][:300])
        if not isinstance(alerts, list) or not all(isinstance(a, dict) and isinstance(a.get("labels"), dict)
                                                   for a in alerts):
            raise Fail("not an Alertmanager v2 alert list: %r" % r["body"][:300])
    vm.close()


@scenario("reboot_guard", needs_vigil=("reboot", "kmsg"), budget=300)
def sc_reboot_guard(lab):
    """A rule reboots on a warning the guest provokes at every boot; the
    reboot ledger lives on a persistent state disk.  vigil reboots the guest
    max_reboots (2) times, then refuses and reports reboot_suppressed."""
    d = os.path.join(lab.work, "reboot_guard")
    os.makedirs(d, exist_ok=True)
    state = make_state_disk(d)
    vm = lab.vm("reboot_guard", machine="pc", conf=["reboot_guard"], state_disk=state,
                append="lab.warn_at_boot")
    reboots = 0
    for boot in range(1, 5):
        # not vm.boot(): vigil may reboot the guest before its shell is up
        vm.start()
        e0 = vm.boot_mark["events"]
        # vigil either reboots the guest (QEMU exits: -no-reboot) or refuses
        deadline = time.monotonic() + 90
        while vm.alive() and time.monotonic() < deadline:
            if vm.vigil_events("reboot_suppressed", since=e0):
                break
            with vm.events.cond:
                vm.events.cond.wait(0.5)
        if vm.alive() and not vm.vigil_events("reboot_suppressed", since=e0):
            raise Fail("boot %d: neither a reboot nor reboot_suppressed within 90 s" % boot)
        if not vm.alive():
            if vm.shutdown_reason() != "guest-reset":
                raise Fail("boot %d ended with %s, expected a guest-reset by vigil"
                           % (boot, vm.shutdown_reason()))
            reboots += 1
            vm.stop()
            continue
        ev = vm.expect("reboot_suppressed", {}, 5, e0)
        if reboots != 2:
            raise Fail("reboot_suppressed after %d reboots, expected 2 (max_reboots)" % reboots)
        lab.note("reboot_guard: %d reboots, then reboot_suppressed: %s" % (reboots, ev_brief(ev)))
        vm.close()
        return
    raise Fail("vigil rebooted the guest %d times and never suppressed" % reboots)


# --------------------------------------------------------------------------
# the lab

class Lab:
    def __init__(self, args):
        self.args = args
        self.vms = []
        self.cleanup = []
        self.notes = []
        self.inactive = set()
        self.vigil = None
        self.vigil_reason = None
        self.has_kexec = False
        self.plugins = set()
        cache = os.environ.get("VIGIL_LAB_CACHE", os.path.join(HERE, "cache"))
        self.cache = cache
        try:
            with open(os.path.join(cache, "KVER")) as f:
                self.kver = f.read().strip()
        except OSError:
            raise SystemExit("lab: no %s/KVER: run tests/vm/setup.sh first" % cache)
        self.kernel = os.path.join(cache, "kernel-" + self.kver, "boot", "vmlinuz-" + self.kver)
        self.work = args.work or tempfile.mkdtemp(prefix="vigil-lab.")
        os.makedirs(self.work, exist_ok=True)
        self.initrd = os.path.join(self.work, "initramfs.cpio")

    def note(self, msg):
        self.notes.append(msg)
        if self.args.verbose:
            log("  note: " + msg)

    def find_vigil(self):
        a = self.args
        if a.no_vigil:
            self.vigil_reason = "--no-vigil"
            return
        root = a.vigil_root
        if not root and a.build_dir:
            b = os.path.abspath(a.build_dir)
            if not (os.path.exists(os.path.join(b, "vigild")) and
                    os.path.exists(os.path.join(b, "Makefile"))):
                self.vigil_reason = "vigild not built in %s" % b
                return
            root = os.path.join(self.work, "vigil-root")
            shutil.rmtree(root, ignore_errors=True)
            r = subprocess.run(["make", "-s", "-C", b, "install", "DESTDIR=" + root],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            if r.returncode != 0:
                sys.stdout.write(r.stdout.decode(errors="replace")[-3000:])
                raise SystemExit("lab: `make install DESTDIR=%s` failed in %s" % (root, b))
        if not root:
            self.vigil_reason = "no vigil build given (--build-dir / --vigil-root)"
            return
        self.vigil = root

    def build_image(self):
        cmd = [os.path.join(HERE, "mkinitramfs.sh"), "-o", self.initrd, "--kver", self.kver]
        if self.vigil:
            cmd += ["--vigil-root", self.vigil]
        t0 = time.monotonic()
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = r.stdout.decode(errors="replace")
        if r.returncode != 0:
            sys.stdout.write(out)
            raise SystemExit("lab: mkinitramfs.sh failed")
        for l in out.splitlines():
            if "warning" in l:
                log("lab: " + l)
        r = subprocess.run(["cpio", "-it", "--quiet"], stdin=open(self.initrd, "rb"),
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        names = r.stdout.decode().split()
        self.has_kexec = "usr/sbin/kexec" in names
        self.plugins = set()
        for n in names:
            m = re.fullmatch(r"usr/lib/vigil/plugins/(?:vigil[-_]|lib)?([a-z0-9_]+)\.so", n)
            if m:
                self.plugins.add(m.group(1))
        log("lab: kernel %s, initramfs %s (%.1f MB, %.1fs), vigil: %s"
            % (self.kver, self.initrd, os.path.getsize(self.initrd) / 1e6,
               time.monotonic() - t0, self.vigil or ("none (%s)" % self.vigil_reason)))
        if self.vigil:
            log("lab: vigil plugins in the image: %s" % (", ".join(sorted(self.plugins)) or "none"))

    def vm(self, name, **kw):
        v = VM(self, name, **kw)
        self.vms.append(v)
        return v

    def _run_one(self, name, fn, needs_vigil, budget, first_failure, last):
        result = "fail"
        self.overrun = None
        self.vms = []
        self.cleanup = []
        self.inactive = set()
        self.notes = []
        t0 = time.monotonic()
        timer = threading.Timer(budget * self.args.timeout_scale, self._overrun, [name])
        timer.daemon = True
        timer.start()
        try:
            # VIGIL_LAB_SKIP="name=reason;…": a scenario with a known open
            # problem is reported as SKIP with its reason, never silently.
            for item in filter(None, os.environ.get("VIGIL_LAB_SKIP", "").split(";")):
                n, _, why = item.partition("=")
                if n.strip() == name:
                    raise Skip("known open problem: %s" % (why.strip() or "see tests/vm/README.md"))
            if needs_vigil and not self.vigil:
                raise Skip(self.vigil_reason)
            if isinstance(needs_vigil, tuple):
                miss = [p for p in needs_vigil if p not in self.plugins]
                if miss:
                    raise Skip("plugin(s) not built: %s" % ", ".join(miss))
            fn(self)
            dt = time.monotonic() - t0
            extra = ""
            if self.inactive:
                extra = "  [vigil assertions inactive: %s]" % ", ".join(sorted(self.inactive))
            if first_failure:
                extra += "  [passed on retry: %s]" % first_failure
            log("PASS %s (%.1fs)%s" % (name, dt, extra))
            for n in self.notes:
                log("     %s" % n)
            result = "pass"
        except Skip as e:
            log("SKIP %s: %s" % (name, e))
            result = "skip"
        except Exception as e:
            dt = time.monotonic() - t0
            reason = str(e) if isinstance(e, Fail) else "%s: %s" % (type(e).__name__, e)
            if getattr(self, "overrun", None) == name:
                reason = "scenario budget %gs exceeded (QEMU killed); %s" % (
                    budget * self.args.timeout_scale, reason)
            self.last_reason = reason
            log("%s %s: %s (after %.1fs)" % ("FAIL" if last else "RETRY", name, reason, dt))
            if not isinstance(e, Fail):
                traceback.print_exc(file=sys.stdout)
            for n in self.notes:
                log("     %s" % n)
            for v in self.vms:
                log(v.tails())
                log("---- logs: %s" % v.dir)
            result = "fail" if last else "retry"
        finally:
            timer.cancel()
            for v in self.vms:
                try:
                    v.close()
                except Exception:
                    pass
            for c in self.cleanup:
                try:
                    c()
                except Exception:
                    pass
        return result

    def run(self):
        passed = failed = skipped = 0
        only = set(self.args.only.split(",")) if self.args.only else None
        if only:
            unknown = only - {n for n, *_ in SCENARIOS}
            if unknown:
                raise SystemExit("lab: unknown scenario(s): %s" % ", ".join(sorted(unknown)))
        t_all = time.monotonic()
        for name, fn, needs_vigil, budget in SCENARIOS:
            if only and name not in only:
                continue
            # One retry, loudly: a scenario that fails and then passes is
            # reported as "PASS ... [passed on retry: <first failure>]" after
            # the first attempt's RETRY line and tails, so a flaky scenario is
            # visible in every log without failing the whole lab.
            first_failure = None
            for attempt in (1, 2):
                r = self._run_one(name, fn, needs_vigil, budget, first_failure, last=attempt == 2)
                if r != "retry":
                    break
                first_failure = self.last_reason
            if r == "pass":
                passed += 1
            elif r == "skip":
                skipped += 1
            else:
                failed += 1
        log("lab: total %.1fs, %d skipped, work dir %s" % (time.monotonic() - t_all, skipped, self.work))
        log("%d passed, %d failed" % (passed, failed))
        return failed

    def _overrun(self, name):
        self.overrun = name
        for v in self.vms:
            if v.proc and v.proc.poll() is None:
                v.proc.kill()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", help="a configured+built vigil tree (runs make install DESTDIR=...)")
    ap.add_argument("--vigil-root", help="an existing `make install DESTDIR=` tree")
    ap.add_argument("--no-vigil", action="store_true", help="boot without vigild (kernel side only)")
    ap.add_argument("--only", help="comma-separated scenario names")
    ap.add_argument("--list", action="store_true", help="list scenarios and exit")
    ap.add_argument("--work", help="work dir (default: a new /tmp/vigil-lab.XXXX, removed when all pass)")
    ap.add_argument("--keep", action="store_true", help="keep the work dir even when all pass")
    ap.add_argument("--timeout-scale", type=float, default=1.0, help="multiply scenario budgets")
    ap.add_argument("-v", "--verbose", action="store_true", help="echo all guest channels to stderr")
    args = ap.parse_args()
    if args.list:
        for name, fn, needs_vigil, budget in SCENARIOS:
            doc = " ".join((fn.__doc__ or "").split())
            print("%-20s %s%s" % (name, "[vigil only] " if needs_vigil else "", doc))
        return 0
    if not shutil.which(QEMU):
        print("lab: %s not found: run tests/vm/setup.sh" % QEMU)
        print("0 passed, 1 failed")
        return 1
    lab = Lab(args)
    lab.find_vigil()
    lab.build_image()
    failed = lab.run()
    if not failed and not args.keep and not args.work:
        shutil.rmtree(lab.work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
