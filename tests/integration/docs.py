#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Documentation cannot drift from the code: every configuration key the
agent and its plugins accept (vigild --list-keys) is documented in
README.md, and the generated plugin key tables are current."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vigiltest import PLUGINS, SOURCE, VIGILD, Tap, run  # noqa: E402

tap = Tap(2)
readme = open(os.path.join(SOURCE, "README.md")).read()
out = run([VIGILD, "--list-keys", "-c", "/dev/null", "--conf-dir", "", "--plugin-dir", PLUGINS]).stdout
missing = []
for line in out.splitlines():
    sec, key = line.split("\t")[:2]
    shown = key.replace("*", "PATH") if sec in ("agent", "rule NAME") else key
    if f"| {shown} |" not in readme:
        missing.append(f"[{sec}] {key}")
tap.ok(out and not missing, "every configuration key is documented in README.md", "\n".join(missing))
r = run([sys.executable, os.path.join(SOURCE, "scripts", "gen-keys.py"), "--check"])
tap.ok(r.returncode == 0, "README.md plugin key tables match the plugins (scripts/gen-keys.py)", r.stderr)
tap.done()
