#!/bin/sh
# vigil QEMU lab: build the guest initramfs (a newc cpio archive).
#
#   tests/vm/mkinitramfs.sh -o OUT.cpio [--kver KVER] [--cache DIR]
#        [--vigil-root DIR]                    # a `make install DESTDIR=DIR` tree
#        [--vigild F] [--vigilctl F] [--plugins DIR] [--config F]
#        [--confd DIR] [--signatures DIR]      # or the pieces one by one
#        [--gzip]
#
# The same options can be given as environment variables VIGIL_LAB_VIGIL_ROOT,
# VIGIL_LAB_VIGILD, VIGIL_LAB_VIGILCTL, VIGIL_LAB_PLUGINS, VIGIL_LAB_CONFIG,
# VIGIL_LAB_CONFD, VIGIL_LAB_SIGNATURES.
#
# Contents: busybox-static (init = busybox init with tests/vm/guest/inittab),
# the kernel modules the lab needs plus their dependencies (resolved from the
# kernel's modules.dep, then depmod'ed inside the image so busybox modprobe
# works), the vigil_testmod test module, dmsetup, kexec (when setup.sh fetched
# it), and -- when given -- vigild, vigilctl, the plugins, the configuration
# and every shared library ldd reports for them, in /lib/x86_64-linux-gnu.
#
# Guest layout for vigil:
#   /usr/sbin/vigild /usr/sbin/vigilctl
#   /usr/lib/vigil/plugins/*.so       (root-owned, 0755 dir, 0644 files)
#   /etc/vigil/vigil.conf, /etc/vigil/conf.d/*.conf
#   /usr/share/vigil/signatures/      (if given)
#   /etc/vigil/lab/*.conf             per-scenario drop-ins (tests/vm/guest/conf/)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cache=${VIGIL_LAB_CACHE:-$here/cache}
out=""; kver=""; gz=0
vroot=${VIGIL_LAB_VIGIL_ROOT:-}
vigild=${VIGIL_LAB_VIGILD:-}; vigilctl=${VIGIL_LAB_VIGILCTL:-}
plugins=${VIGIL_LAB_PLUGINS:-}; config=${VIGIL_LAB_CONFIG:-}
confd=${VIGIL_LAB_CONFD:-}; sigs=${VIGIL_LAB_SIGNATURES:-}
config_explicit=0; [ -n "$config" ] && config_explicit=1

die() { printf 'mkinitramfs: error: %s\n' "$*" >&2; exit 1; }
while [ $# -gt 0 ]; do
    case $1 in
        -o) out=$2; shift ;;
        --kver) kver=$2; shift ;;
        --cache) cache=$2; shift ;;
        --vigil-root) vroot=$2; shift ;;
        --vigild) vigild=$2; shift ;;
        --vigilctl) vigilctl=$2; shift ;;
        --plugins) plugins=$2; shift ;;
        --config) config=$2; config_explicit=1; shift ;;
        --confd) confd=$2; config_explicit=1; shift ;;
        --signatures) sigs=$2; shift ;;
        --gzip) gz=1 ;;
        *) die "unknown argument $1" ;;
    esac
    shift
done
[ -n "$out" ] || die "usage: $0 -o OUT.cpio [options]"
case $out in /*) ;; *) out=$PWD/$out ;; esac
[ -n "$kver" ] || kver=$(cat "$cache/KVER" 2>/dev/null) || die "no KVER: run setup.sh"
kroot=$cache/kernel-$kver
kmods=$kroot/lib/modules/$kver
[ -f "$kmods/modules.dep" ] || die "no $kmods/modules.dep: run setup.sh"

# pieces of a DESTDIR install tree (prefix /usr/local or /usr)
if [ -n "$vroot" ]; then
    first() { for f in "$@"; do [ -e "$f" ] && { echo "$f"; return 0; }; done; return 0; }
    [ -n "$vigild" ] || vigild=$(first "$vroot"/usr/local/sbin/vigild "$vroot"/usr/sbin/vigild "$vroot"/sbin/vigild)
    [ -n "$vigilctl" ] || vigilctl=$(first "$vroot"/usr/local/sbin/vigilctl "$vroot"/usr/sbin/vigilctl "$vroot"/usr/local/bin/vigilctl "$vroot"/usr/bin/vigilctl)
    [ -n "$plugins" ] || plugins=$(first "$vroot"/usr/local/lib/vigil/plugins "$vroot"/usr/lib/vigil/plugins "$vroot"/usr/local/lib64/vigil/plugins "$vroot"/usr/lib/x86_64-linux-gnu/vigil/plugins)
    [ -n "$config" ] || config=$(first "$vroot"/usr/local/etc/vigil/vigil.conf "$vroot"/etc/vigil/vigil.conf)
    [ -n "$confd" ] || confd=$(first "$vroot"/usr/local/etc/vigil/conf.d "$vroot"/etc/vigil/conf.d)
    [ -n "$sigs" ] || sigs=$(first "$vroot"/usr/local/share/vigil/signatures "$vroot"/usr/share/vigil/signatures)
    [ -n "$vigild" ] || die "no vigild under $vroot"
fi

stage=$(mktemp -d "${TMPDIR:-/tmp}/vigil-initramfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT
cd "$stage"
mkdir -p bin sbin usr/bin usr/sbin lib/x86_64-linux-gnu lib64 etc/lab root \
         proc sys dev run tmp mnt var/lib var/log var/crash "lib/modules/$kver"
chmod 1777 tmp

# busybox and its applets (busybox-static: no libraries needed)
cp /bin/busybox bin/busybox
for a in $(bin/busybox --list-full); do
    [ -e "$a" ] || ln -s /bin/busybox "$a"
done
ln -sf /bin/busybox init

# shared libraries of a binary, into /lib/x86_64-linux-gnu (the loader where
# ldd says); LD_LIBRARY_PATH lets ldd resolve libs unpacked into the cache
copy_libs() {
    ldd "$1" 2>/dev/null | while read -r a b c _; do
        case $a in
            linux-vdso*) ;;
            /*) [ -e "$a" ] && mkdir -p ".$(dirname "$a")" && cp -L "$a" ".$a" ;;
            *)  if [ "$b" = "=>" ] && [ -e "$c" ]; then
                    [ -e "lib/x86_64-linux-gnu/$a" ] || cp -L "$c" "lib/x86_64-linux-gnu/$a"
                elif [ "$b" = "=>" ]; then
                    echo "mkinitramfs: warning: $1 needs $a (not found)" >&2
                fi ;;
        esac
    done
}
add_bin() {  # add_bin SRC DEST
    mkdir -p ".$(dirname "$2")"
    cp -L "$1" ".$2"
    chmod 0755 ".$2"
    copy_libs "$1"
}

add_bin "$(command -v dmsetup)" /usr/sbin/dmsetup
if [ -x "$cache/kexec/root/sbin/kexec" ]; then
    LD_LIBRARY_PATH=$cache/kexec/root/usr/lib/x86_64-linux-gnu:$cache/kexec/root/lib/x86_64-linux-gnu
    export LD_LIBRARY_PATH
    add_bin "$cache/kexec/root/sbin/kexec" /usr/sbin/kexec
    [ -x "$cache/kexec/root/sbin/vmcore-dmesg" ] && add_bin "$cache/kexec/root/sbin/vmcore-dmesg" /usr/sbin/vmcore-dmesg
    unset LD_LIBRARY_PATH
fi

# kernel modules: the lab's list plus everything modules.dep says they need
# (order matters: busybox modprobe loads them in this order; ext4 needs
# crc32c_generic loaded first)
want="virtio_pci virtio_blk virtio_net virtio_console dm-mod brd loop \
      crc32c_generic ext4 pvpanic-mmio pvpanic-pci"
for m in $want; do
    line=$(grep -E "/$m\.ko(\.xz|\.zst|\.gz)?:" "$kmods/modules.dep" || true)
    [ -n "$line" ] || { echo "mkinitramfs: warning: module $m not found" >&2; continue; }
    for f in $(echo "$line" | tr -d ':'); do
        mkdir -p "lib/modules/$kver/$(dirname "$f")"
        cp "$kmods/$f" "lib/modules/$kver/$f"
    done
done
for f in modules.builtin modules.builtin.modinfo modules.order; do
    [ -f "$kmods/$f" ] && cp "$kmods/$f" "lib/modules/$kver/"
done
tm=$cache/kmod-$kver/vigil_testmod.ko
if [ -f "$tm" ]; then
    mkdir -p "lib/modules/$kver/extra"
    cp "$tm" "lib/modules/$kver/extra/"
else
    echo "mkinitramfs: warning: no $tm (run setup.sh)" >&2
fi
depmod -b "$stage" "$kver"
echo "$want vigil_testmod" > etc/lab/modules

# the kernel itself, for kdump (kexec -p /boot/vmlinuz --initrd=/boot/initrd)
mkdir -p boot
cp "$kroot/boot/vmlinuz-$kver" boot/vmlinuz

# guest scripts
cp "$here/guest/inittab" etc/inittab
for f in rc.sysinit lab-shell vigil-start vdevs waitfor kdump-init; do
    cp "$here/guest/$f" "etc/lab/$f"
    chmod 0755 "etc/lab/$f"
done
echo "root:x:0:0:root:/root:/bin/sh" > etc/passwd
echo "root:x:0:" > etc/group
printf 'vigil-lab\n' > etc/hostname

# the kdump crash kernel's initrd: this image so far (no vigil, no kernel)
if [ -x usr/sbin/kexec ]; then
    find . -path ./boot -prune -o -print | LC_ALL=C sort \
        | cpio -o -H newc -R 0:0 --quiet | gzip -1 > "$stage.crash"
    mv "$stage.crash" boot/initrd
fi

# vigil, if given
if [ -n "$vigild" ]; then
    [ -x "$vigild" ] || die "vigild $vigild not executable"
    add_bin "$vigild" /usr/sbin/vigild
    [ -n "$vigilctl" ] && [ -x "$vigilctl" ] && add_bin "$vigilctl" /usr/sbin/vigilctl
    mkdir -p usr/lib/vigil/plugins etc/vigil/conf.d etc/vigil/lab var/lib/vigil
    if [ -n "$plugins" ]; then
        for p in "$plugins"/*.so; do
            [ -e "$p" ] || continue
            cp -L "$p" usr/lib/vigil/plugins/
            chmod 0644 "usr/lib/vigil/plugins/$(basename "$p")"
            copy_libs "$p"
        done
    fi
    # configuration: --config/--confd when given explicitly, else the lab's
    # own (tests/vm/guest/conf/vigil.conf); a DESTDIR tree's shipped config
    # is not used (its rules name actions the lab does not want)
    if [ -n "$config" ] && [ "$config_explicit" = 1 ]; then cp "$config" etc/vigil/vigil.conf
    else cp "$here/guest/conf/vigil.conf" etc/vigil/vigil.conf; fi
    if [ -n "$confd" ] && [ -d "$confd" ] && [ "$config_explicit" = 1 ]; then
        for c in "$confd"/*.conf; do [ -e "$c" ] && cp "$c" etc/vigil/conf.d/; done
    fi
    # the lab's own drop-ins: base (always) + per scenario (chosen by init
    # from the kernel command line: lab.conf=NAME[,NAME]).  A drop-in whose
    # "# requires: p1 p2" line names a plugin not in the image is left out
    # (vigild refuses sections of unknown plugins).
    for c in "$here"/guest/conf/*.conf; do
        [ "$(basename "$c")" = vigil.conf ] && continue
        req=$(sed -n 's/^# requires: *//p' "$c" | head -n1)
        ok=1
        for r in $req; do
            ls usr/lib/vigil/plugins/ 2>/dev/null | grep -Eq "^(vigil[-_]|lib)?$r\.so$" || ok=0
        done
        if [ "$ok" = 1 ]; then cp "$c" etc/vigil/lab/
        else echo "mkinitramfs: note: lab drop-in $(basename "$c") left out (needs plugins: $req)" >&2; fi
    done
    ls usr/lib/vigil/plugins/ 2>/dev/null | sed 's/\.so$//' > etc/lab/vigil-plugins
    if [ -n "$sigs" ] && [ -d "$sigs" ]; then
        mkdir -p usr/share/vigil
        cp -r "$sigs" usr/share/vigil/signatures
    fi
    chmod -R go-w etc/vigil usr/lib/vigil
    echo "$vigild" > etc/lab/vigil-source
fi
# the guest's ld.so cache is not needed: everything is in the default path

chmod -R go-w etc bin sbin usr lib lib64
# cpio -R 0:0: every file root-owned (vigild refuses non-root-owned plugins)
tmp=$out.tmp.$$
if [ "$gz" = 1 ]; then
    find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -1 > "$tmp"
else
    find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet > "$tmp"
fi
mv "$tmp" "$out"
echo "mkinitramfs: wrote $out ($(du -h "$out" | cut -f1))" >&2
