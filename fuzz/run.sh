#!/bin/sh
# Build the kernlog libFuzzer targets with clang (ASan + UBSan) and run each
# for SECONDS/3 seconds (default 60 in total) on a corpus seeded from the
# kernel-log fixtures. Usage: fuzz/run.sh [SECONDS] [OUTDIR]
# Exit status: non-zero when a target crashes (the crash input is kept in OUTDIR).
set -eu
secs=${1:-60}
here=$(cd "$(dirname "$0")/.." && pwd)
out=${2:-${TMPDIR:-/tmp}/vigil-fuzz}
mkdir -p "$out"
command -v clang >/dev/null || { echo "fuzz: clang not installed (apt-get install clang), skipping"; exit 0; }
pc=$(pkg-config --cflags --libs libsystemd json-c inih libpcre2-8)
# the autoconf header is generated; the fuzz build needs none of its macros
: > "$out/autoconfig.h"
src="$here/agent/kernlog/line.c $here/agent/kernlog/classify.c $here/agent/kernlog/report.c $here/agent/kernlog/sig.c
     $here/agent/event.c $here/agent/config.c $here/agent/util.c"
flags="-g -O1 -std=gnu11 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -D_GNU_SOURCE
       -I$here/include -I$here/agent -I$out -DVIGIL_SOURCE_DIR=\"$here\""
for t in record line scan; do
	T=$(echo $t | tr a-z A-Z)
	# shellcheck disable=SC2086
	clang $flags -DFUZZ_$T -o "$out/fuzz-$t" "$here/fuzz/fuzz-kernlog.c" $src $pc
done
# corpus: whole fixtures for scan; single lines for line; kmsg records for record
mkdir -p "$out/corpus-scan" "$out/corpus-line" "$out/corpus-record"
cp "$here"/tests/fixtures/kmsg/*.log "$here"/tests/fixtures/kmsg/*.txt "$out/corpus-scan/" 2>/dev/null || true
# every input a fuzzer ever found failing is run again first, by every target
for t in scan line record; do cp "$here"/tests/fixtures/kmsg-fuzz/* "$out/corpus-$t/"; done
i=0
cat "$here"/tests/fixtures/kmsg/*.log "$here"/tests/fixtures/kmsg/*.txt | head -400 | while IFS= read -r l; do
	i=$((i + 1)); printf '%s' "$l" > "$out/corpus-line/l$i"
	printf '4,%d,%d,-;%s\n SUBSYSTEM=virtio\n DEVICE=+virtio:virtio0\n' "$i" "$((i * 1000))" "$l" > "$out/corpus-record/r$i"
done
per=$((secs / 3)); [ "$per" -ge 1 ] || per=1
rc=0 pass=0 fail=0
for t in record line scan; do
	echo "fuzz-$t: ${per}s"
	KL_FUZZ_SIGDIR="$here/conf/signatures" "$out/fuzz-$t" -max_total_time="$per" -max_len=65536 -timeout=10 \
		-rss_limit_mb=1024 -artifact_prefix="$out/crash-$t-" -print_final_stats=1 "$out/corpus-$t" \
		>"$out/fuzz-$t.log" 2>&1 && pass=$((pass + 1)) ||
		{ echo "fuzz-$t FAILED (see $out/fuzz-$t.log)"; tail -40 "$out/fuzz-$t.log"; rc=1; fail=$((fail + 1)); }
	grep -E "stat::number_of_executed_units|stat::peak_rss" "$out/fuzz-$t.log" | sed "s/^/  /" || true
done
echo "$pass passed, $fail failed"
exit $rc
