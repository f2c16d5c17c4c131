"""Shared helpers of the alert integration tests: TAP output, a vigild with
the alert plugin and the test-only event source, the test receiver."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

BUILD = os.environ.get("VIGIL_BUILD_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "../../_build"))
SRC = os.environ.get("VIGIL_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))


class Tap:
    def __init__(self, n):
        self.n = n
        self.i = 0
        self.failed = 0
        print("1..%d" % n, flush=True)

    def ok(self, cond, what, diag=None):
        self.i += 1
        if not cond:
            self.failed += 1
            if diag:
                for line in str(diag).splitlines()[-40:]:
                    print("# " + line)
        print("%s %d - %s" % ("ok" if cond else "not ok", self.i, what), flush=True)
        return cond

    def skip(self, what, reason):
        self.i += 1
        print("ok %d - %s # SKIP %s" % (self.i, what, reason), flush=True)

    def skip_rest(self, reason):
        while self.i < self.n:
            self.skip("not run", reason)

    def done(self):
        sys.exit(1 if self.failed else 0)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_for(pred, timeout=20.0, step=0.1):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


class Receiver:
    def __init__(self, tmp, port=None, cert=None, key=None):
        self.out = os.path.join(tmp, "received-%d.jsonl" % (port or 0))
        self.port = port or free_port()
        self.cert, self.key = cert, key
        self.proc = None
        open(self.out, "a").close()

    def start(self):
        args = [sys.executable, os.path.join(SRC, "tests/integration/receiver.py"), "--port", str(self.port),
                "--out", self.out]
        if self.cert:
            args += ["--cert", self.cert, "--key", self.key]
        self.proc = subprocess.Popen(args)
        scheme = "https" if self.cert else "http"

        def up():
            try:
                s = socket.create_connection(("127.0.0.1", self.port), timeout=0.5)
                s.close()
                return True
            except OSError:
                return False
        wait_for(up, 10)
        self.url = "%s://127.0.0.1:%d/ingest" % (scheme, self.port)
        return self

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait()
            self.proc = None

    def control(self, **kw):
        req = urllib.request.Request("http://127.0.0.1:%d/_control" % self.port, data=json.dumps(kw).encode(),
                                     method="POST")
        urllib.request.urlopen(req, timeout=5).read()

    def records(self):
        with open(self.out) as f:
            return [json.loads(l) for l in f if l.strip()]

    def events(self, status=200, source="testemit"):
        """Native events received with the given answer, in arrival order."""
        evs = []
        for r in self.records():
            if r["status"] == status and isinstance(r["body"], list):
                evs.extend(e for e in r["body"] if source is None or e.get("source") == source)
        return evs


class Vigild:
    def __init__(self, tmp, actions, extra_conf="", state_dir=None, rule_match="*"):
        self.tmp = tmp
        self.state = state_dir or os.path.join(tmp, "state")
        os.makedirs(self.state, exist_ok=True)
        self.plugdir = os.path.join(tmp, "plugins")
        os.makedirs(self.plugdir, exist_ok=True)
        os.chmod(self.plugdir, 0o755)
        for src in (os.path.join(BUILD, "plugins/.libs/alert.so"),
                    os.path.join(BUILD, "tests/integration/plugins/.libs/testemit.so")):
            dst = os.path.join(self.plugdir, os.path.basename(src))
            shutil.copy(src, dst)
            os.chmod(dst, 0o755)
        self.fifo = os.path.join(tmp, "emit.fifo")
        if not os.path.exists(self.fifo):
            os.mkfifo(self.fifo, 0o600)
        self.conf = os.path.join(tmp, "vigil.conf")
        with open(self.conf, "w") as f:
            f.write("[agent]\nplugins = alert, testemit\n\n[testemit]\nfifo = %s\n\n" % self.fifo)
            f.write(actions)
            f.write("\n[rule all]\nmatch = %s\nactions = alert\n" % rule_match)
            f.write(extra_conf)
        os.chmod(self.conf, 0o644)
        self.proc = None
        self.log = os.path.join(tmp, "vigild.log")

    def start(self, expect_ready=True):
        self.errf = open(self.log, "a")
        self.outf = open(os.path.join(self.tmp, "vigild.out"), "a")
        self.proc = subprocess.Popen([os.path.join(BUILD, "vigild"), "-f", "-c", self.conf, "--conf-dir", "",
                                      "--plugin-dir", self.plugdir, "--state-dir", self.state,
                                      "--control-socket", os.path.join(self.tmp, "ctl")],
                                     stdout=self.outf, stderr=self.errf)
        if expect_ready:
            wait_for(lambda: os.path.exists(os.path.join(self.tmp, "ctl")) or self.proc.poll() is not None, 10)
        return self

    def emit(self, n=1, kind="agent_test", severity="warning", summary="test event", fields=None, raw=None):
        spec = {"n": n, "kind": kind, "severity": severity, "summary": summary, "fields": fields or {},
                "raw": raw or []}
        fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.write(fd, (json.dumps(spec) + "\n").encode())
        os.close(fd)

    def status(self):
        r = subprocess.run([os.path.join(BUILD, "vigilctl"), "-s", os.path.join(self.tmp, "ctl"),
                            "status", "--json"], capture_output=True, text=True, timeout=10)
        try:
            return json.loads(r.stdout)
        except ValueError:
            return {"_raw": r.stdout + r.stderr}

    def endpoint_status(self, name):
        """The action_status() object of one alert instance."""
        for a in self.status().get("actions", []):
            if a.get("name") == name:
                return a.get("status") or {}
        return {}

    def logtext(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def stop(self):
        """SIGTERM; returns the exit status (negative: killed by that signal)."""
        rc = None
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                rc = self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait()
        elif self.proc:
            rc = self.proc.returncode
        self.proc = None
        return rc


def tmpdir(name):
    return tempfile.mkdtemp(prefix="vigil-%s-" % name)


def have_build():
    return os.path.exists(os.path.join(BUILD, "plugins/.libs/alert.so")) and \
        os.path.exists(os.path.join(BUILD, "tests/integration/plugins/.libs/testemit.so"))
