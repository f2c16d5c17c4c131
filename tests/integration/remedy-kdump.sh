#!/bin/sh
# kdump plugin against a temporary procfs/sysfs tree (values from the QEMU
# lab: crashkernel=192M, 768M RAM): state events, arming by a command
# (fork+execve, verified by re-reading kexec_crash_loaded), a failing tool,
# the reservation sanity check, and re-arming after a kernel package update.
. "$(dirname "$0")/remedy-lib.sh"
echo 1..10
P=$T/proc; Y=$T/sys
mkdir -p $P $Y/kernel
echo 201326592 >$Y/kernel/kexec_crash_size
echo 0 >$Y/kernel/kexec_crash_loaded
echo 'BOOT_IMAGE=/vmlinuz root=/dev/vda1 ro console=ttyS0 crashkernel=192M' >$P/cmdline
printf '00000000-00000fff : Reserved\n00100000-2fffffff : System RAM\n  22000000-2dffffff : Crash kernel\n' >$P/iomem
printf 'MemTotal:         786432 kB\nMemFree:  1000 kB\n' >$P/meminfo
# A stand-in for kdump-config: loads "the crash kernel" by flipping the flag.
cat >$T/fake-kdump-config <<EOS
#!/bin/sh
echo "fake-kdump-config \$*"
echo "\$*" >>$T/calls
[ "\$1" = load ] && echo 1 >$Y/kernel/kexec_crash_loaded
exit 0
EOS
printf '#!/bin/sh\necho "no memory for the crash kernel" >&2\nexit 3\n' >$T/broken-tool
chmod 755 $T/fake-kdump-config $T/broken-tool
mk() { # mk NAME "kdump keys"
	cat >$T/$1.conf <<EOC
[agent]
plugins = kdump
lock_memory = no
[kdump]
proc_root = $P
sys_root = $Y
hotplug = no
$2
[rule report]
match = *
actions = log
EOC
}
mk off "arm = off"
start off $T/off.conf
wait_for $T/off.out '"kind":"kdump_state"' 5
stop
E=$(events kdump_state $T/off.out | head -1)
if echo "$E" | grep -q '"loaded":false' && echo "$E" | grep -q '"crash_size":201326592' && echo "$E" | grep -q '"crashkernel":"192M"' &&
	echo "$E" | grep -q '"iomem_reserved":201326592'; then ok "state read: reservation from sysfs, cmdline and iomem"; else nok "state" "$E"; fi
check "arm = off: reserved but unloaded is a warning with a condition" sh -c "echo '$E' | grep -q '\"severity\":\"warning\".*\"condition\":\"kdump\",\"active\":true'"

mk cmd "arm = command
command = $T/fake-kdump-config load"
start cmd $T/cmd.conf
wait_for $T/cmd.out '"loaded":true' 10
stop
check "arm = command: the tool ran and kexec_crash_loaded = 1" [ "$(cat $Y/kernel/kexec_crash_loaded)" = 1 ]
if events kdump_state $T/cmd.out | tail -1 | grep -q '"severity":"info".*"loaded":true.*"active":false'; then ok "kdump_state on the change: armed, condition cleared"; else nok "armed event" "$(cat $T/cmd.out)"; fi
check "arming verified" grep -q "kdump armed (verified" $T/cmd.err

echo 0 >$Y/kernel/kexec_crash_loaded
mk broken "arm = command
command = $T/broken-tool"
start broken $T/broken.conf
wait_for $T/broken.err "still not loaded after arming" 10
stop
check "failing tool: error logged with its output, state stays unarmed" grep -q "arming kdump failed.*no memory for the crash kernel" $T/broken.err

echo 33554432 >$Y/kernel/kexec_crash_size
mk small "arm = off"
start small $T/small.conf
wait_for $T/small.out '"kind":"kdump_state"' 5
stop
check "32 MiB reservation flagged as too small" grep -q 'only 32 MiB reserved' $T/small.out

# kernel_update: a kernel package writes the image, then the initramfs
# (dpkg: a .dpkg-new file renamed into place); after the writes settle the
# crash kernel is re-armed once. Files that are no kernel change nothing.
echo 201326592 >$Y/kernel/kexec_crash_size
echo 0 >$Y/kernel/kexec_crash_loaded
mkdir -p $T/boot
: >$T/calls
mk upd "arm = command
command = $T/fake-kdump-config load
rearm_command = $T/fake-kdump-config reload
kernel_update = yes
boot_dir = $T/boot
kernel_update_delay = 3s"
start upd $T/upd.conf
wait_for $T/upd.err "kdump armed" 10
echo "CONFIG_X=y" >$T/boot/config-9.9.9-1-amd64
echo "map" >$T/boot/System.map-9.9.9-1-amd64
sleep 4
check "files that are no kernel or initramfs: no re-arm" [ "$(grep -c reload $T/calls)" = 0 ]
echo kernel >$T/boot/vmlinuz-9.9.9-1-amd64.dpkg-new
mv $T/boot/vmlinuz-9.9.9-1-amd64.dpkg-new $T/boot/vmlinuz-9.9.9-1-amd64
sleep 0.5
echo initramfs >$T/boot/initrd.img-9.9.9-1-amd64
wait_for $T/calls reload 15
sleep 3.5
check "kernel then initramfs written: re-armed once with rearm_command, after the writes settled" \
	[ "$(grep -c reload $T/calls)" = 1 ]
check "the log names the file and the directory" \
	grep -q "re-arming kdump (kernel update: initrd.img-9.9.9-1-amd64 in $T/boot)" $T/upd.err
stop
exit 0
