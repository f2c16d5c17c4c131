#!/bin/sh
# vigil QEMU lab: idempotent host set-up (Debian 12, root, apt-get works).
#
#  * installs QEMU, busybox-static, cpio, dmsetup, the compiler and the
#    linux-headers package of the kernel the lab boots;
#  * resolves KVER from the linux-image-amd64 metapackage at run time
#    (Debian's ABI number moves and old debs disappear), downloads that
#    linux-image deb into tests/vm/cache/ and unpacks it there with
#    dpkg-deb -x (it is NOT installed as the host kernel);
#  * builds the test kernel module tests/vm/kmod against those headers.
#
# Everything lands under tests/vm/cache/ (git-ignored).  A second run with
# everything in place only checks and prints the summary.
#
# Usage: tests/vm/setup.sh [--no-apt]     (VIGIL_LAB_CACHE overrides the cache dir)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cache=${VIGIL_LAB_CACHE:-$here/cache}
do_apt=1
[ "${1:-}" = "--no-apt" ] && do_apt=0

log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (apt-get, module build)"
mkdir -p "$cache"
# the chatty output of apt/dpkg/make goes to a log, shown when a step fails
slog=$cache/setup.log
: > "$slog"
logged() {
    "$@" >>"$slog" 2>&1 && return 0
    tail -n 40 "$slog" >&2
    die "failed: $* (full log: $slog)"
}
export DEBIAN_FRONTEND=noninteractive

missing() {  # print the packages of "$@" that are not installed
    for p in "$@"; do
        st=$(dpkg-query -W -f '${Status}' "$p" 2>/dev/null || true)
        case $st in *" installed") ;; *) printf '%s ' "$p" ;; esac
    done
}

apt_updated=0
apt_install() {
    need=$(missing "$@")
    [ -n "$need" ] || return 0
    [ "$do_apt" = 1 ] || die "missing packages (run without --no-apt): $need"
    if [ "$apt_updated" = 0 ]; then
        log "apt-get update"
        logged apt-get update -qq
        apt_updated=1
    fi
    log "apt-get install $need"
    # shellcheck disable=SC2086
    logged apt-get install -y -qq --no-install-recommends $need
}

# 1. host tools (qemu-system-common, pulled in by qemu-system-x86, carries
#    qemu-storage-daemon for the vhost-user-blk scenario)
apt_install qemu-system-x86 qemu-utils busybox-static cpio gzip dmsetup \
    e2fsprogs gcc make kmod libc6-dev python3 ca-certificates

# 2. the kernel: resolve KVER from the metapackage's dependency
if [ -n "${VIGIL_LAB_KVER:-}" ]; then
    kver=$VIGIL_LAB_KVER
else
    kver=$(apt-cache depends linux-image-amd64 2>/dev/null \
        | sed -n 's/^ *Depends: linux-image-\([0-9][^ ]*-amd64\)$/\1/p' | head -n1)
    if [ -z "$kver" ] && [ -s "$cache/KVER" ]; then
        kver=$(cat "$cache/KVER")
        log "apt metadata has no linux-image-amd64; using cached KVER $kver"
    fi
    [ -n "$kver" ] || die "cannot resolve KVER from linux-image-amd64 (apt-get update?)"
fi
log "kernel $kver"

apt_install "linux-headers-$kver"
[ -f "/usr/src/linux-headers-$kver/Makefile" ] || die "linux-headers-$kver not usable"

kdir=$cache/kernel-$kver
if [ ! -f "$kdir/boot/vmlinuz-$kver" ] || [ ! -f "$kdir/lib/modules/$kver/modules.dep" ]; then
    deb=$(ls "$cache"/linux-image-"$kver"_*.deb 2>/dev/null | head -n1 || true)
    if [ -z "$deb" ]; then
        [ "$do_apt" = 1 ] || die "no cached linux-image-$kver deb"
        log "apt-get download linux-image-$kver"
        (cd "$cache" && apt-get download -qq "linux-image-$kver" >>"$slog" 2>&1) \
            || { logged apt-get update -qq; (cd "$cache" && logged apt-get download -qq "linux-image-$kver"); }
        deb=$(ls "$cache"/linux-image-"$kver"_*.deb | head -n1)
    fi
    log "unpacking $(basename "$deb")"
    rm -rf "$kdir.tmp"
    mkdir -p "$kdir.tmp"
    dpkg-deb -x "$deb" "$kdir.tmp"
    [ -f "$kdir.tmp/boot/vmlinuz-$kver" ] || die "no vmlinuz in $deb"
    # modules.dep is not shipped in the deb (the postinst runs depmod)
    depmod -b "$kdir.tmp" "$kver"
    rm -rf "$kdir"
    mv "$kdir.tmp" "$kdir"
fi

# 3. the test kernel module, built out of tree in the cache (the source
#    tree stays clean)
kbuild=$cache/kmod-$kver
if [ ! -f "$kbuild/vigil_testmod.ko" ] \
   || [ "$here/kmod/vigil_testmod.c" -nt "$kbuild/vigil_testmod.ko" ] \
   || [ "$here/kmod/Makefile" -nt "$kbuild/vigil_testmod.ko" ]; then
    log "building kmod against linux-headers-$kver"
    rm -rf "$kbuild"
    mkdir -p "$kbuild"
    cp "$here/kmod/vigil_testmod.c" "$here/kmod/Makefile" "$kbuild/"
    logged make -s -C "$kbuild" KVER="$kver" KDIR="/usr/src/linux-headers-$kver"
    [ -f "$kbuild/vigil_testmod.ko" ] || die "kmod build produced no .ko"
fi

echo "$kver" > "$cache/KVER.tmp" && mv "$cache/KVER.tmp" "$cache/KVER"

# 4. optional: kexec-tools for the kdump scenario.  kexec-tools' binary
#    needs libxenctrl & co (Debian links it with Xen support); we unpack the
#    debs with dpkg-deb -x into the cache instead of installing them, the
#    initramfs builder copies the binary and ldd's libraries from there.
kx=$cache/kexec
if [ ! -x "$kx/root/sbin/kexec" ] && [ "${VIGIL_LAB_NO_KEXEC:-0}" != 1 ] && [ "$do_apt" = 1 ]; then
    log "fetching kexec-tools (+ Xen libs) for the kdump scenario"
    rm -rf "$kx"; mkdir -p "$kx/debs" "$kx/root"
    pkgs=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
            --no-breaks --no-replaces --no-enhances kexec-tools 2>/dev/null \
           | sed -n 's/^\([a-z0-9][^ <>]*\)$/\1/p' | sort -u \
           | grep -E '^(kexec-tools|libxen|libyajl|libxenmisc|liblzma5|zlib1g)' || true)
    if (cd "$kx/debs" && apt-get download -qq $pkgs >>"$slog" 2>&1); then
        for d in "$kx"/debs/*.deb; do dpkg-deb -x "$d" "$kx/root"; done
    else
        log "warning: kexec-tools download failed; kdump scenario will be skipped"
    fi
fi

log "ready: kernel $kdir/boot/vmlinuz-$kver, module $kbuild/vigil_testmod.ko"
