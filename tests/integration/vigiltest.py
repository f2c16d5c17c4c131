# SPDX-License-Identifier: LGPL-2.1-or-later
"""Helpers for vigil's integration tests: TAP output, a scratch directory,
and a vigild started from the build tree with its stdout (JSON events)
and stderr (logs) captured. Python standard library only."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

BUILD = os.environ.get("VIGIL_BUILD_DIR") or os.path.abspath(".")
SOURCE = os.environ.get("VIGIL_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
VIGILD = os.path.join(BUILD, "vigild")
VIGILCTL = os.path.join(BUILD, "vigilctl")
PLUGINS = os.path.join(BUILD, "plugins", ".libs")


class Tap:
    """Minimal TAP producer: plan first, then ok/not ok lines."""

    def __init__(self, plan):
        self.n = 0
        self.failed = 0
        print(f"1..{plan}", flush=True)

    def ok(self, cond, what, diag=None):
        self.n += 1
        print(f"{'ok' if cond else 'not ok'} {self.n} - {what}", flush=True)
        if not cond:
            self.failed += 1
            if diag:
                for line in str(diag).splitlines()[-40:]:
                    print(f"# {line}", flush=True)
        return cond

    def skip(self, what, reason):
        self.n += 1
        print(f"ok {self.n} - {what} # SKIP {reason}", flush=True)

    def done(self):
        sys.exit(1 if self.failed else 0)


class Scratch:
    def __init__(self, name):
        self.dir = tempfile.mkdtemp(prefix=f"vigil-{name}-")
        os.chmod(self.dir, 0o755)

    def path(self, *p):
        return os.path.join(self.dir, *p)

    def write(self, name, text, mode=0o644):
        p = self.path(name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, mode)
        return p

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class Daemon:
    """vigild -f with a config; events (stdout JSON lines) and logs (stderr)
    are collected on threads."""

    def __init__(self, scratch, config_text, extra_args=(), env=None, plugin_dir=PLUGINS, name="vigil.conf"):
        self.s = scratch
        self.conf = scratch.write(name, config_text)
        self.state = scratch.path("state")
        self.sock = scratch.path("control")
        self.args = [VIGILD, "-f", "-c", self.conf, "--conf-dir", "", "--plugin-dir", plugin_dir,
                     "--state-dir", self.state, "--control-socket", self.sock, *extra_args]
        self.env = dict(os.environ, **(env or {}))
        self.events = []
        self.log = []
        self.proc = None
        self.lock = threading.Condition()

    def start(self, wait_socket=True):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env,
                                     text=True, bufsize=1)
        threading.Thread(target=self._read_out, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()
        if wait_socket:
            deadline = time.time() + 20
            while time.time() < deadline and self.proc.poll() is None:
                if os.path.exists(self.sock):
                    try:
                        self.ctl_json("status")
                        return True
                    except Exception:
                        pass
                time.sleep(0.05)
            return False
        return True

    def _read_out(self):
        for line in self.proc.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                ev = json.loads(line)
            except ValueError:
                ev = {"_unparsable": line}
            with self.lock:
                self.events.append(ev)
                self.lock.notify_all()

    def _read_err(self):
        for line in self.proc.stderr:
            with self.lock:
                self.log.append(line.rstrip("\n"))
                self.lock.notify_all()

    def wait_event(self, pred, timeout=20):
        deadline = time.time() + timeout
        with self.lock:
            while True:
                for ev in self.events:
                    if pred(ev):
                        return ev
                left = deadline - time.time()
                if left <= 0 or (self.proc and self.proc.poll() is not None):
                    return None
                self.lock.wait(min(left, 0.5))

    def wait_log(self, needle, timeout=20):
        deadline = time.time() + timeout
        with self.lock:
            while True:
                for line in self.log:
                    if needle in line:
                        return line
                left = deadline - time.time()
                if left <= 0:
                    return None
                self.lock.wait(min(left, 0.5))

    def kinds(self):
        with self.lock:
            return [e.get("kind") for e in self.events]

    def ctl(self, *args):
        return subprocess.run([VIGILCTL, "-s", self.sock, *args], capture_output=True, text=True, timeout=30)

    def ctl_json(self, *args):
        r = self.ctl(*args, "--json")
        return json.loads(r.stdout)

    def kill(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def diag(self):
        with self.lock:
            return "\n".join(self.log[-30:] + [json.dumps(e)[:300] for e in self.events[-10:]])


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=kw.pop("timeout", 60), **kw)
