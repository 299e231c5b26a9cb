#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# `make install DESTDIR=... PREFIX=/usr` puts exactly the expected files in
# Debian's places, with sane modes and @SBINDIR@ substituted, and each
# installed file passes the checker of the program that will read it:
# systemd-analyze for the unit, dbus-daemon for the bus policy and the
# activation file, xmllint with polkit's DTD for the actions, groff and man
# for the man pages. (The rules file: test-udev-rules.sh; the policy's
# effect on real calls: test-jetonctl.)
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
# As make knows it (relative to the top), and as a path from here.
make_builddir=${BUILDDIR:-build}
case $make_builddir in /*) builddir=$make_builddir ;; *) builddir=$top/$make_builddir ;; esac

tmp=$(mktemp -d)
dbus_pid=
cleanup() {
        [ -n "$dbus_pid" ] && kill "$dbus_pid" 2>/dev/null
        rm -rf "$tmp"
}
trap cleanup EXIT
dest=$tmp/root

failed=0
fail() {
        echo "FAIL: $*"
        failed=1
}

# The caller's make flags (BUILDDIR, SANITIZE under check-asan) carry over
# through MAKEFLAGS.
if ! make -C "$top" --no-print-directory BUILDDIR="$make_builddir" install DESTDIR="$dest" PREFIX=/usr \
        >"$tmp/make.log" 2>&1; then
        cat "$tmp/make.log"
        echo "FAIL: make install"
        exit 1
fi

# ---- what lands where --------------------------------------------------------------
expected="/usr/bin/jetonctl 755
/usr/lib/systemd/system/jetond.service 644
/usr/lib/udev/rules.d/70-jeton.rules 644
/usr/share/dbus-1/system-services/org.jeton.Jeton1.service 644
/usr/share/dbus-1/system.d/org.jeton.Jeton1.conf 644
/usr/share/man/man1/jetonctl.1 644
/usr/share/polkit-1/actions/org.jeton.Jeton1.policy 644"
if [ -x "$builddir/jetond" ]; then
        expected="$expected
/usr/sbin/jetond 755"
        [ -f "$top/daemon/jetond.8" ] && expected="$expected
/usr/share/man/man8/jetond.8 644"
fi
expected=$(printf '%s\n' "$expected" | sort)
# Exactly these in the directories they go to; other components' files
# (profiles, ...) get the general checks below.
mine='^/usr/(bin|sbin|share/man|lib/systemd|lib/udev|share/dbus-1|share/polkit-1)/'
got=$(cd "$dest" && find . ! -type d -printf '/%P %m\n' | grep -E "$mine" | sort)
[ "$got" = "$expected" ] || fail "installed files differ from the expected set:
$(printf '%s\n' "$expected" >"$tmp/expected"; printf '%s\n' "$got" | diff "$tmp/expected" - || true)"
bad=$(cd "$dest" && find . ! -type d -printf '/%P\n' | grep -v -E '^/usr/|^/etc/') || true
[ -z "$bad" ] || fail "installed outside /usr and /etc with PREFIX=/usr: $bad"
bad=$(cd "$dest" && find . -type f ! -perm 0644 ! -perm 0755 -printf '/%P %m\n')
[ -z "$bad" ] || fail "files neither 0644 nor 0755: $bad"

# Directories: 0755, none world-writable, nothing setuid/setgid anywhere.
bad=$(find "$dest" -type d ! -perm 0755 -printf '/%P %m\n')
[ -z "$bad" ] || fail "directories not 0755: $bad"
bad=$(find "$dest" \( -perm -0002 -o -perm -4000 -o -perm -2000 \) -printf '/%P %m\n')
[ -z "$bad" ] || fail "world-writable, setuid or setgid: $bad"

# Installed as shipped, but for the unit's @SBINDIR@.
for f in udev/70-jeton.rules:/usr/lib/udev/rules.d/70-jeton.rules \
        systemd/org.jeton.Jeton1.service:/usr/share/dbus-1/system-services/org.jeton.Jeton1.service \
        systemd/org.jeton.Jeton1.conf:/usr/share/dbus-1/system.d/org.jeton.Jeton1.conf \
        systemd/org.jeton.Jeton1.policy:/usr/share/polkit-1/actions/org.jeton.Jeton1.policy \
        tools/jetonctl.1:/usr/share/man/man1/jetonctl.1; do
        cmp -s "$top/${f%%:*}" "$dest${f#*:}" || fail "${f#*:} differs from ${f%%:*}"
done
unit=$dest/usr/lib/systemd/system/jetond.service
grep -qx 'ExecStart=/usr/sbin/jetond' "$unit" || fail "ExecStart is not /usr/sbin/jetond: $(grep ExecStart "$unit")"
if grep -rIn '@[A-Z_]*@' "$dest"; then
        fail "a @PLACEHOLDER@ is left"
fi
"$dest/usr/bin/jetonctl" --version | grep -q '^jetonctl ' || fail "the installed jetonctl does not run"

# ---- the unit, as systemd reads it ---------------------------------------------------
if command -v systemd-analyze >/dev/null 2>&1; then
        # verify checks that ExecStart= exists: point it at the installed copy.
        mkdir "$tmp/unit"
        sed "s|^ExecStart=/usr/sbin/jetond|ExecStart=$dest/usr/sbin/jetond|" "$unit" >"$tmp/unit/jetond.service"
        if [ ! -x "$dest/usr/sbin/jetond" ]; then
                sed -i "s|^ExecStart=.*|ExecStart=$dest/usr/bin/jetonctl|" "$tmp/unit/jetond.service"
        fi
        if ! systemd-analyze verify --man=no "$tmp/unit/jetond.service" >"$tmp/verify.log" 2>&1; then
                fail "systemd-analyze verify: $(cat "$tmp/verify.log")"
        fi
        # The hardening stays: systemd's own exposure score (0 best, 10 worst).
        exposure=$(systemd-analyze security --offline=yes "$tmp/unit/jetond.service" 2>/dev/null |
                sed -n 's/.*Overall exposure level for jetond.service: \([0-9.]*\).*/\1/p')
        echo "jetond.service exposure level: ${exposure:-unknown}"
        if [ -n "$exposure" ] && ! awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }'; then
                fail "jetond.service exposure $exposure > 2.0: hardening was lost"
        fi
else
        echo "note: no systemd-analyze here, the unit is not verified"
fi
for key in Type=dbus BusName=org.jeton.Jeton1 ProtectSystem=strict NoNewPrivileges=yes CapabilityBoundingSet= \
        'RestrictAddressFamilies=AF_UNIX AF_NETLINK' UMask=0077 StateDirectory=jeton; do
        grep -qx "$key" "$unit" || fail "jetond.service lacks $key"
done

# ---- bus policy and activation file, as dbus-daemon reads them ----------------------
cat >"$tmp/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$tmp/bus.socket</listen>
  <auth>EXTERNAL</auth>
  <servicedir>$dest/usr/share/dbus-1/system-services</servicedir>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
  </policy>
  <include>$dest/usr/share/dbus-1/system.d/org.jeton.Jeton1.conf</include>
</busconfig>
EOF
dbus-daemon --config-file="$tmp/bus.conf" --fork --print-address=3 --print-pid=4 \
        3>"$tmp/bus.address" 4>"$tmp/bus.pid" 2>"$tmp/bus.log" || fail "dbus-daemon refuses the policy: $(cat "$tmp/bus.log")"
dbus_pid=$(cat "$tmp/bus.pid" 2>/dev/null || true)
if [ -n "$dbus_pid" ]; then
        grep -i -E 'error|warn|fail' "$tmp/bus.log" && fail "dbus-daemon complains about the policy"
        names=$(dbus-send --bus="$(head -n 1 "$tmp/bus.address")" --print-reply --dest=org.freedesktop.DBus \
                /org/freedesktop/DBus org.freedesktop.DBus.ListActivatableNames)
        case $names in
        *'"org.jeton.Jeton1"'*) ;;
        *) fail "dbus-daemon does not list org.jeton.Jeton1 as activatable: $names" ;;
        esac
fi

# ---- polkit actions -----------------------------------------------------------------------
policy=$dest/usr/share/polkit-1/actions/org.jeton.Jeton1.policy
dtd=/usr/share/polkit-1/policyconfig-1.dtd
if [ -f "$dtd" ]; then
        xmllint --noout --dtdvalid "$dtd" "$policy" 2>"$tmp/xmllint.log" || fail "polkit policy: $(cat "$tmp/xmllint.log")"
else
        echo "note: no $dtd (polkitd), checking well-formedness only"
        xmllint --noout "$policy" 2>"$tmp/xmllint.log" || fail "polkit policy: $(cat "$tmp/xmllint.log")"
fi
actions=$(xmllint --xpath '//action/@id' "$policy" | tr ' ' '\n' | sed -n 's/^id="\(.*\)"$/\1/p' | sort | tr '\n' ' ')
[ "$actions" = "org.jeton.Jeton1.initialize org.jeton.Jeton1.install org.jeton.Jeton1.manage-orders org.jeton.Jeton1.provision " ] ||
        fail "polkit actions: $actions"
[ "$(xmllint --xpath 'count(//action/defaults/allow_active[text()="auth_admin_keep"])' "$policy")" = 4 ] ||
        fail "an action does not default to auth_admin_keep for active sessions"
[ "$(xmllint --xpath 'count(//action/defaults/*[self::allow_any or self::allow_inactive][text()="no"])' "$policy")" = 8 ] ||
        fail "an action allows inactive or remote sessions"

# ---- man pages ---------------------------------------------------------------------------
for page in "$dest"/usr/share/man/man*/*; do
        warnings=$(groff -ww -man -z "$page" 2>&1)
        [ -z "$warnings" ] || fail "groff warns about $page: $warnings"
        MANWIDTH=80 man -l "$page" >"$tmp/man.txt" 2>"$tmp/man.err" || fail "man -l $page: $(cat "$tmp/man.err")"
        grep -q '^EXIT STATUS\|^NAME' "$tmp/man.txt" || fail "man -l $page renders no sections"
done
# Every command and option that jetonctl --help lists is in its page.
MANWIDTH=200 man -l "$dest/usr/share/man/man1/jetonctl.1" >"$tmp/jetonctl.txt" 2>/dev/null
words=$("$dest/usr/bin/jetonctl" --help | sed -n 's/^ \{2,5\}\(-h \)\{0,1\}\(--[a-z-]*\|[a-z]\{1,\}\) .*/\2/p')
[ -n "$words" ] || fail "found no command or option in jetonctl --help"
for word in $words; do
        grep -q -F -- "$word" "$tmp/jetonctl.txt" || fail "jetonctl.1 does not document $word"
done

[ "$failed" -eq 0 ] || exit 1
echo "ok: make install lands $(echo "$expected" | wc -l) files, each accepted by its reader"
