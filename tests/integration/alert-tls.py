#!/usr/bin/env python3
"""alert over HTTPS on loopback with a test CA made by openssl at test time:
verified delivery works, a wrong CA is refused (nothing delivered, error
reported), a bearer token file readable by others is refused at start."""
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import alertlib as L  # noqa: E402

t = L.Tap(5)
if not L.have_build():
    t.skip_rest("plugins not built")
    t.done()
if not shutil.which("openssl"):
    t.skip_rest("openssl not installed")
    t.done()
tmp = L.tmpdir("tls")


def ossl(*a):
    subprocess.run(["openssl"] + list(a), check=True, capture_output=True, cwd=tmp)


for ca in ("ca", "otherca"):
    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca + ".key", "-out", ca + ".pem", "-days", "2",
         "-subj", "/CN=vigil test " + ca)
ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=127.0.0.1")
with open(os.path.join(tmp, "ext"), "w") as f:
    f.write("subjectAltName=IP:127.0.0.1\n")
ossl("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "srv.pem",
     "-days", "2", "-extfile", "ext")
rx = L.Receiver(tmp, cert=os.path.join(tmp, "srv.pem"), key=os.path.join(tmp, "srv.key")).start()

good = L.tmpdir("tls-good")
d = L.Vigild(good, "[action alert-tls]\nurl = %s\nca_file = %s/ca.pem\n" % (rx.url, tmp), rule_match="oops").start()
d.emit(3, kind="oops", severity="critical", summary="Oops: NULL pointer dereference")
t.ok(L.wait_for(lambda: len(rx.events()) >= 3, 15), "HTTPS with the right CA: delivered", d.logtext())
d.stop()

bad = L.tmpdir("tls-bad")
n0 = len(rx.records())
d = L.Vigild(bad, "[action alert-tls]\nurl = %s\nca_file = %s/otherca.pem\nretry_initial = 200ms\n" % (rx.url, tmp),
             rule_match="oops").start()
d.emit(1, kind="oops", severity="critical", summary="Oops with wrong CA")
time.sleep(3)
st = d.endpoint_status("alert-tls")
t.ok(len(rx.records()) == n0 and st.get("spool_events") == 1, "wrong CA: nothing delivered, the event stays spooled")
t.ok("certificate" in (st.get("last_error") or "").lower() or "SSL" in (st.get("last_error") or ""),
     "wrong CA: the error says why (%s)" % st.get("last_error"))
d.stop()

tokdir = L.tmpdir("tls-token")
tok = os.path.join(tokdir, "token")
with open(tok, "w") as f:
    f.write("world-readable-secret\n")
os.chmod(tok, 0o644)
d = L.Vigild(tokdir, "[action alert-tls]\nurl = %s\nca_file = %s/ca.pem\nbearer_token_file = %s\n" % (rx.url, tmp, tok),
             rule_match="oops")
d.start()
d.emit(1, kind="oops", severity="critical", summary="Oops with bad token file")
time.sleep(1.5)
acts = [a for a in d.status().get("actions", []) if a.get("name") == "alert-tls"]
d.stop()
log = d.logtext()
t.ok(acts and acts[0].get("active") is False and "bearer_token_file" in log and "refused" in log and
     "Oops with bad token file" not in str(rx.records()),
     "token file mode 0644: the endpoint is refused at start, nothing sent", log[-800:])
t.ok("world-readable-secret" not in log, "the token is not in the log")
rx.stop()
t.done()
