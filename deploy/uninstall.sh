#!/usr/bin/env bash
# Remove what deploy/install.sh installed: the service, its venv, the desktop entry.
# Keeps the data (/var/lib/appliance), the settings (/etc/appliance) and the appliance user
# unless --purge is given. Safe to run again.
#
#   sudo deploy/uninstall.sh [--purge] [--no-systemctl]
#
# APPLIANCE_ROOT=/some/dir works on that folder as if it were / (implies --no-systemctl).
set -euo pipefail

root="${APPLIANCE_ROOT:-/}"
purge=0 systemctl=1

die() { echo "uninstall.sh: $*" >&2; exit 1; }
say() { echo "==> $*"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --purge) purge=1 ;;
        --no-systemctl) systemctl=0 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
    shift
done

r="${root%/}"
[ "$r" = "" ] || systemctl=0
[ "$r" != "" ] || [ "$(id -u)" -eq 0 ] || die "run as root (or set APPLIANCE_ROOT to a folder)"
[ -d /run/systemd/system ] || systemctl=0
unit="$r/etc/systemd/system/appliance.service"

if [ "$systemctl" -eq 1 ]; then
    say "stopping and disabling appliance.service"
    systemctl disable --now appliance.service 2>/dev/null || true
fi

say "removing the unit, the venv and the desktop entry"
rm -f "$unit" "$unit.d/10-local.conf"
# Other drop-ins (systemctl edit) are the operator's: kept unless --purge.
[ "$purge" -eq 0 ] || rm -rf "$unit.d"
rmdir "$unit.d" 2>/dev/null || true
rm -rf "$r/opt/appliance"
rm -f "$r/usr/local/share/applications/appliance.desktop" \
    "$r/usr/local/share/icons/hicolor/scalable/apps/appliance.svg" \
    "$r/usr/local/share/icons/hicolor/256x256/apps/appliance.png"
if [ "$r" = "" ] && command -v update-desktop-database >/dev/null; then
    update-desktop-database -q /usr/local/share/applications 2>/dev/null || true
fi
if [ "$r" = "" ] && command -v gtk-update-icon-cache >/dev/null &&
    [ -d /usr/local/share/icons/hicolor ]; then
    gtk-update-icon-cache -q -t -f /usr/local/share/icons/hicolor 2>/dev/null || true
fi
link="$r/usr/local/bin/appliance"
if [ -L "$link" ] && [ "$(readlink "$link")" = /opt/appliance/venv/bin/appliance ]; then
    rm -f "$link"
fi

if [ "$systemctl" -eq 1 ]; then
    systemctl daemon-reload
    systemctl reset-failed appliance.service 2>/dev/null || true
fi

if [ "$purge" -eq 1 ]; then
    say "--purge: removing settings and data"
    rm -rf "$r/etc/appliance" "$r/var/lib/appliance" "$r/var/lib/private/appliance"
    if [ "$r" = "" ] && getent passwd appliance >/dev/null; then
        userdel appliance
    fi
else
    say "kept $r/etc/appliance and $r/var/lib/appliance (--purge removes them)"
fi
say "done"
