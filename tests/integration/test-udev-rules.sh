#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# udev/70-jeton.rules checked by the real udev of this Debian release:
# `udevadm test` from the udev package (unpacked, never installed: that
# would start udevd), against USB devices that umockdev builds from the
# description below, in a private mount namespace where /sys is umockdev's
# tree, /run is empty and the only rules are udev's own and ours.
#
# A CCID reader, an ePass2003 and an eToken with a vendor-specific
# interface must be tagged "systemd" and "jeton" and want jetond.service;
# a USB mouse and a Feitian FIDO key must not. udevadm test exits 0 even on
# rule syntax errors, so its messages about our file are checked too, and
# a broken copy of the file proves that check sees them.
#
# The udev .deb (same version as the installed libudev1) is downloaded
# once with `apt-get download` into $BUILDDIR/cache. Needs root.
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
builddir=${BUILDDIR:-build}
case $builddir in /*) ;; *) builddir=$top/$builddir ;; esac

if [ "$(id -u)" -ne 0 ]; then
        echo "test-udev-rules: needs root (a private mount namespace)" >&2
        exit 1
fi

# ---- udevadm, from the udev package matching libudev1 --------------------------
version=$(dpkg-query -W -f='${Version}' libudev1)
cache=$builddir/cache/udev-$version
deb=$(find "$cache" -name 'udev_*.deb' 2>/dev/null | head -n 1)
if [ -z "$deb" ]; then
        # Into a fresh directory first: an interrupted download never
        # looks like a package. apt's sandbox user cannot write to our tree.
        rm -rf "$cache.part"
        mkdir -p "$cache.part"
        download() {
                (cd "$cache.part" && apt-get download -q -o APT::Sandbox::User=root "udev=$version") >&2
        }
        download || { apt-get update -q >&2 && download; }
        mkdir -p "$cache"
        mv "$cache.part"/udev_*.deb "$cache/"
        rmdir "$cache.part"
        deb=$(find "$cache" -name 'udev_*.deb' | head -n 1)
fi
[ -n "$deb" ] || { echo "no udev package in $cache" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dpkg-deb -x "$deb" "$tmp/udev"
udevadm=$(find "$tmp/udev" -path '*bin/udevadm' -type f | head -n 1)
[ -x "$udevadm" ] || { echo "no udevadm in $deb" >&2; exit 1; }

# udev's own rules (50-udev-default.rules runs the usb_id builtin that sets
# ID_USB_INTERFACES) and ours.
mkdir "$tmp/rules" "$tmp/rules-broken"
cp "$tmp"/udev/*lib/udev/rules.d/*.rules "$tmp/rules/"
cp "$top/udev/70-jeton.rules" "$tmp/rules/"
cp "$tmp"/udev/*lib/udev/rules.d/*.rules "$tmp/rules-broken/"
# A typo udev ignores with no more than a message: a swapped operator.
sed 's/TAG+="systemd"/TAG=+"systemd"/' "$top/udev/70-jeton.rules" >"$tmp/rules-broken/70-jeton.rules"
cmp -s "$top/udev/70-jeton.rules" "$tmp/rules-broken/70-jeton.rules" && { echo "sed changed nothing" >&2; exit 1; }

# ---- the devices, in umockdev's record format -----------------------------------
# Descriptors: device (18 bytes), configuration (9), then each interface
# (9; its class is the 6th byte) with its HID (9) and endpoint (7)
# descriptors, as the kernel's sysfs "descriptors" file has them; usb_id
# reads the interface classes from there. Blanks between descriptors are
# for reading only.
usb=/devices/pci0000:00/0000:00:14.0/usb1
cat >"$tmp/devices.umockdev" <<EOF
P: $usb/1-1
E: DEVTYPE=usb_device
E: DRIVER=usb
E: PRODUCT=4e6/5116/100
E: TYPE=0/0/0
E: BUSNUM=001
E: DEVNUM=002
E: SUBSYSTEM=usb
A: idVendor=04e6
A: idProduct=5116
A: bcdDevice=0100
A: bDeviceClass=00
A: manufacturer=SCM Microsystems Inc.
A: product=SCR3310 USB Smart Card Reader
A: serial=21120844201234
H: descriptors=1201000200000008E6041651000101020301 090227000101008032 09040000030B000000 07058103080018 07050202400000 07058302400000

P: $usb/1-2
E: DEVTYPE=usb_device
E: DRIVER=usb
E: PRODUCT=96e/807/100
E: TYPE=0/0/0
E: BUSNUM=001
E: DEVNUM=003
E: SUBSYSTEM=usb
A: idVendor=096e
A: idProduct=0807
A: bcdDevice=0100
A: bDeviceClass=00
A: manufacturer=FS
A: product=ePass2003
A: serial=2A3B4C5D6E7F0011
H: descriptors=12010002000000406E090708000101020301 090227000101008032 09040000030B000000 07058103080018 07050202400000 07058302400000

P: $usb/1-3
E: DEVTYPE=usb_device
E: DRIVER=usb
E: PRODUCT=529/620/100
E: TYPE=0/0/0
E: BUSNUM=001
E: DEVNUM=004
E: SUBSYSTEM=usb
A: idVendor=0529
A: idProduct=0620
A: bcdDevice=0100
A: bDeviceClass=00
A: manufacturer=SafeNet
A: product=Token JC
H: descriptors=120100020000000829052006000101020001 090220000101008032 0904000002FF000000 07058102400000 07050202400000

P: $usb/1-4
E: DEVTYPE=usb_device
E: DRIVER=usb
E: PRODUCT=46d/c077/7200
E: TYPE=0/0/0
E: BUSNUM=001
E: DEVNUM=005
E: SUBSYSTEM=usb
A: idVendor=046d
A: idProduct=c077
A: bcdDevice=7200
A: bDeviceClass=00
A: manufacturer=Logitech
A: product=USB Optical Mouse
H: descriptors=12010002000000086D0477C0007201020001 09022200010100A032 090400000103010200 092111010001223400 0705810304000A

P: $usb/1-5
E: DEVTYPE=usb_device
E: DRIVER=usb
E: PRODUCT=96e/850/100
E: TYPE=0/0/0
E: BUSNUM=001
E: DEVNUM=006
E: SUBSYSTEM=usb
A: idVendor=096e
A: idProduct=0850
A: bcdDevice=0100
A: bDeviceClass=00
A: manufacturer=FS
A: product=ePass FIDO
H: descriptors=12011002000000406E095008000101020001 090229000101008032 090400000203000000 092111010001222200 07058103400001 07050203400001
EOF
sed -i '/^H:/{s/ //g;s/^H:/H: /}' "$tmp/devices.umockdev"

# ---- udevadm test in the private namespace ----------------------------------------
# $1: rules directory, $2: output directory, then device paths.
cat >"$tmp/run-udevadm" <<'EOF'
#!/bin/sh
set -eu
rules=$1 out=$2 udevadm=$3
shift 3
mount -t tmpfs tmpfs /run
mkdir -p /run/udev/rules.d
cp "$rules"/*.rules /run/udev/rules.d/
# Only the rules above: hide every other rules directory udev reads.
for d in /etc/udev/rules.d /usr/local/lib/udev/rules.d /usr/lib/udev/rules.d /lib/udev/rules.d; do
        if [ -d "$d" ]; then mount -t tmpfs tmpfs "$d"; fi
done
mount --bind "$UMOCKDEV_DIR/sys" /sys
for dev in "$@"; do
        name=$(basename "$dev")
        # /sys is umockdev's tree, not sysfs: tell sd-device to accept it.
        SYSTEMD_DEVICE_VERIFY_SYSFS=0 "$udevadm" test --action=add "/sys$dev" \
                >"$out/$name.out" 2>"$out/$name.err" || echo "udevadm exit $?" >>"$out/$name.err"
done
EOF
chmod +x "$tmp/run-udevadm"

run_udevadm() {
        mkdir -p "$2"
        # umockdev-run builds the tree and exports UMOCKDEV_DIR; udevadm
        # itself runs without its preload library, on the bind mount.
        umockdev-run --device "$tmp/devices.umockdev" -- \
                env -u LD_PRELOAD unshare -m --propagation private \
                "$tmp/run-udevadm" "$1" "$2" "$udevadm" \
                "$usb/1-1" "$usb/1-2" "$usb/1-3" "$usb/1-4" "$usb/1-5"
}

run_udevadm "$tmp/rules" "$tmp/out"
run_udevadm "$tmp/rules-broken" "$tmp/out-broken"

# ---- verdicts --------------------------------------------------------------------------
failed=0
fail() {
        echo "FAIL: $*"
        failed=1
}

prop() {        # prop DEVICE NAME: the property's value in udevadm's result
        sed -n "s/^$2=//p" "$tmp/out/$1.out"
}

# Messages about our file other than "reading it".
complaints() {
        grep -h '70-jeton\.rules' "$1"/*.err | grep -v 'Reading rules file' || true
}

for dev in 1-1 1-2 1-3 1-4 1-5; do
        [ -s "$tmp/out/$dev.out" ] || fail "$dev: udevadm test printed nothing: $(cat "$tmp/out/$dev.err")"
        grep -q 'Reading rules file: /run/udev/rules.d/70-jeton.rules' "$tmp/out/$dev.err" ||
                fail "$dev: udevadm did not read 70-jeton.rules"
done

# usb_id saw the interfaces: the negative cases are not negative by accident.
[ "$(prop 1-1 ID_USB_INTERFACES)" = ":0b0000:" ] || fail "reader: ID_USB_INTERFACES=$(prop 1-1 ID_USB_INTERFACES)"
[ "$(prop 1-3 ID_USB_INTERFACES)" = ":ff0000:" ] || fail "eToken: ID_USB_INTERFACES=$(prop 1-3 ID_USB_INTERFACES)"
[ "$(prop 1-4 ID_USB_INTERFACES)" = ":030102:" ] || fail "mouse: ID_USB_INTERFACES=$(prop 1-4 ID_USB_INTERFACES)"
[ "$(prop 1-5 ID_USB_INTERFACES)" = ":030000:" ] || fail "FIDO key: ID_USB_INTERFACES=$(prop 1-5 ID_USB_INTERFACES)"

tagged() {      # tagged DEVICE WHAT
        case "$(prop "$1" TAGS)" in *:systemd:*) ;; *) fail "$2: TAGS=$(prop "$1" TAGS), no systemd" ;; esac
        case "$(prop "$1" TAGS)" in *:jeton:*) ;; *) fail "$2: TAGS=$(prop "$1" TAGS), no jeton" ;; esac
        case " $(prop "$1" SYSTEMD_WANTS) " in
        *" jetond.service "*) ;;
        *) fail "$2: SYSTEMD_WANTS=$(prop "$1" SYSTEMD_WANTS)" ;;
        esac
}

untouched() {   # untouched DEVICE WHAT
        case "$(prop "$1" TAGS)" in *:jeton:*|*:systemd:*) fail "$2: tagged: TAGS=$(prop "$1" TAGS)" ;; esac
        case "$(prop "$1" SYSTEMD_WANTS)" in *jetond*) fail "$2: SYSTEMD_WANTS=$(prop "$1" SYSTEMD_WANTS)" ;; esac
}

tagged 1-1 "CCID reader"
tagged 1-2 "ePass2003"
tagged 1-3 "eToken (vendor-specific interface)"
untouched 1-4 "USB mouse"
untouched 1-5 "FIDO key"

# No permission, program or sysfs write from us: no MODE, GROUP, OWNER,
# RUN, and no ATTR{}= (an assignment writes the attribute; == matches).
grep -E '^[^#]*(MODE|GROUP|OWNER|RUN)' "$top/udev/70-jeton.rules" && fail "70-jeton.rules sets a mode, group, owner or RUN"
grep -E '^[^#]*ATTRS?\{[^}]*\}(=|\+=|:=)"' "$top/udev/70-jeton.rules" && fail "70-jeton.rules writes a sysfs attribute"

c=$(complaints "$tmp/out")
[ -z "$c" ] || fail "udevadm complains about 70-jeton.rules: $c"
grep -h 'Invalid' "$tmp"/out/*.err | grep -v "Failed to run builtin 'hwdb" && fail "udevadm says Invalid"
c=$(complaints "$tmp/out-broken")
case $c in
*70-jeton.rules:*) ;;
*) fail "a broken 70-jeton.rules went unnoticed: the complaint check sees nothing" ;;
esac

if [ "$failed" -ne 0 ]; then
        echo "--- udevadm test, CCID reader:"
        cat "$tmp/out/1-1.out" "$tmp/out/1-1.err"
        exit 1
fi
echo "ok: readers and tokens tagged for systemd and jetond, the rest left alone (udev $version)"
