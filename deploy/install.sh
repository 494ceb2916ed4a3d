#!/usr/bin/env bash
# Install the appliance as a systemd service: user, venv in /opt/appliance/venv, unit, settings
# file, desktop entry. Safe to run again: that upgrades the package and restarts the service,
# and never touches /etc/appliance/appliance.env or the data in /var/lib/appliance.
#
#   sudo deploy/install.sh [options] [WHEEL_OR_SOURCE_DIR]
#
# Installs the source tree this script lives in unless a wheel (or another source folder) is
# given. pip honours its usual environment (PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, PIP_NO_DEPS ...).
#
#   --no-start      install and enable, but do not (re)start the service now
#   --no-systemctl  do not call systemctl at all (images, chroots, tests)
#   --no-pip        create the venv but install nothing into it (tests)
#   --extras LIST   pip extras to add, e.g. tensorrt,jetson,systemd
#   --python PATH   interpreter for the venv (default /usr/bin/python3: on a Jetson, the one
#                   JetPack's TensorRT and OpenCV are built for)
#
# APPLIANCE_ROOT=/some/dir installs into that folder as if it were / (implies --no-systemctl,
# and skips creating the user and changing groups, which belong to the running system).
set -euo pipefail

root="${APPLIANCE_ROOT:-/}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source_dir="$(dirname "$here")"
python="/usr/bin/python3"
[ -x "$python" ] || python="$(command -v python3)"
start=1 systemctl=1 pip=1 extras="" package=""

die() { echo "install.sh: $*" >&2; exit 1; }
say() { echo "==> $*"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --no-start) start=0 ;;
        --no-systemctl) systemctl=0 ;;
        --no-pip) pip=0 ;;
        --extras) extras="${2:?--extras needs a list}"; shift ;;
        --python) python="${2:?--python needs a path}"; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) die "unknown option $1 (see --help)" ;;
        *) package="$1" ;;
    esac
    shift
done

# Every path below is inside $root; "$r" is $root without its trailing slash ("" for /).
r="${root%/}"
[ "$r" = "" ] || systemctl=0
venv="$r/opt/appliance/venv"
unit_dir="$r/etc/systemd/system"
dropin_dir="$unit_dir/appliance.service.d"

[ "$r" != "" ] || [ "$(id -u)" -eq 0 ] || die "run as root (or set APPLIANCE_ROOT to a folder)"
if [ -z "$package" ]; then
    [ -f "$source_dir/pyproject.toml" ] || die "no pyproject.toml in $source_dir: give a wheel"
    package="$source_dir"
fi
[ "$extras" = "" ] || package="${package}[$extras]"

group_exists() {
    if [ "$r" = "" ]; then getent group "$1" >/dev/null; else grep -q "^$1:" "$r/etc/group" 2>/dev/null; fi
}
device_groups() {
    # video: /dev/video*, and on a Jetson /dev/nvhost-* and /dev/nvmap; render: /dev/dri/renderD*;
    # jtop: jetson-stats' socket (its group exists once jetson-stats is installed).
    local group
    for group in video render jtop; do
        if group_exists "$group"; then echo "$group"; fi
    done
}
is_jetson() { [ -f "$r/etc/nv_tegra_release" ]; }

create_user() {
    if [ "$r" != "" ]; then
        say "APPLIANCE_ROOT set: not creating the appliance user"
        return
    fi
    if ! getent passwd appliance >/dev/null; then
        say "creating system user appliance"
        useradd --system --user-group --home-dir /var/lib/appliance --no-create-home \
            --shell /usr/sbin/nologin --comment "Edge inference appliance" appliance
    fi
    local group
    for group in $(device_groups); do usermod -a -G "$group" appliance; done
}

create_venv() {
    # On a Jetson, TensorRT's Python bindings and the GStreamer-enabled OpenCV (CSI cameras) are
    # system packages: the venv must see them. Elsewhere a plain venv with pip's OpenCV.
    local flags=()
    is_jetson && flags+=(--system-site-packages)
    [ "$pip" -eq 1 ] || flags+=(--without-pip)
    say "venv $venv ${flags[*]}"
    mkdir -p "$(dirname "$venv")"
    "$python" -m venv "${flags[@]}" "$venv"
}

pip_install() {
    [ "$pip" -eq 1 ] || { say "--no-pip: not installing $package"; return; }
    say "pip install $package"
    if ! is_jetson; then
        "$venv/bin/pip" install --quiet --upgrade "$package"
        return
    fi
    # JetPack 6's OpenCV and TensorRT are built against NumPy 1.x: a NumPy 2 in the venv would
    # shadow the system one and make `import cv2` fail. Kept for later `pip install`s too.
    echo "numpy<2" >"$venv/constraints.txt"
    PIP_CONSTRAINT="$venv/constraints.txt" "$venv/bin/pip" install --quiet --upgrade "$package"
    if "$python" -c "import cv2" 2>/dev/null; then
        # The project depends on opencv-python-headless (no GStreamer): remove it so that
        # JetPack's OpenCV, which has GStreamer for CSI cameras, is the one imported.
        "$venv/bin/pip" uninstall --quiet --yes opencv-python-headless opencv-python \
            opencv-contrib-python opencv-contrib-python-headless 2>/dev/null || true
    else
        echo "WARNING: no system OpenCV, keeping pip's (no GStreamer, so no CSI cameras):" \
            "apt-get install nvidia-opencv, then run this again" >&2
    fi
    check_opencv
}

check_opencv() {
    local found
    found="$("$venv/bin/python" -c "import cv2; print(cv2.__file__)")" ||
        die "the venv cannot import cv2 (see above); the service would not start"
    say "OpenCV: $found"
    "$venv/bin/python" -c 'import cv2, re, sys; sys.exit(not re.search(r"GStreamer:\s+YES", cv2.getBuildInformation()))' ||
        echo "WARNING: this OpenCV has no GStreamer: CSI cameras (csi://) will not open" >&2
}

install_files() {
    say "unit $unit_dir/appliance.service"
    install -D -m 0644 "$here/appliance.service" "$unit_dir/appliance.service"
    write_dropin

    # The settings file is the operator's: written once, never overwritten.
    if [ -e "$r/etc/appliance/appliance.env" ]; then
        say "keeping $r/etc/appliance/appliance.env"
    else
        say "settings $r/etc/appliance/appliance.env"
        install -D -m 0600 "$here/appliance.env" "$r/etc/appliance/appliance.env"
    fi

    # `appliance doctor` and friends on the PATH; never replace someone else's file.
    local link="$r/usr/local/bin/appliance"
    if [ ! -e "$link" ] || [ -L "$link" ]; then
        mkdir -p "$(dirname "$link")"
        ln -sfn /opt/appliance/venv/bin/appliance "$link"
    fi

    install_desktop_entry
}

write_dropin() {
    # Generated for this machine: supplementary groups that exist (a missing one fails the
    # unit), and the Jetson GPU/camera device nodes present (DeviceAllow= takes no globs).
    local groups node
    groups="$(device_groups | tr '\n' ' ')"
    mkdir -p "$dropin_dir"
    {
        echo "# Written by deploy/install.sh for this machine; rewritten on every install."
        echo "# Local changes belong in another file: systemctl edit appliance"
        echo "[Service]"
        [ -z "$groups" ] || echo "SupplementaryGroups=${groups% }"
        for node in "$r"/dev/nvmap "$r"/dev/nvhost-* "$r"/dev/nvgpu/*/* "$r"/dev/host1x-fence \
            "$r"/dev/nvsciipc; do
            if [ -e "$node" ]; then echo "DeviceAllow=${node#"$r"} rw"; fi
        done
    } >"$dropin_dir/10-local.conf.new"
    mv "$dropin_dir/10-local.conf.new" "$dropin_dir/10-local.conf"
    chmod 0644 "$dropin_dir/10-local.conf"
}

install_desktop_entry() {
    if [ ! -f "$here/appliance.desktop" ]; then
        say "no deploy/appliance.desktop: skipping the desktop entry"
        return
    fi
    # /usr/local/share: what a package manager does not own; desktops search it
    # (XDG_DATA_DIRS defaults to /usr/local/share:/usr/share).
    say "desktop entry $r/usr/local/share/applications/appliance.desktop"
    install -D -m 0644 "$here/appliance.desktop" "$r/usr/local/share/applications/appliance.desktop"
    local icon
    for icon in "$here"/appliance.svg "$here"/appliance.png; do
        [ -f "$icon" ] || continue
        local size=256x256
        [ "${icon##*.}" = png ] || size=scalable
        install -D -m 0644 "$icon" "$r/usr/local/share/icons/hicolor/$size/apps/${icon##*/}"
    done
    refresh_desktop_caches
}

refresh_desktop_caches() {
    # Menus and docks pick up a new entry and icon at once where these caches exist. Only on
    # the running system: a folder root (image, test) gets them when it boots.
    [ "$r" = "" ] || return 0
    if command -v update-desktop-database >/dev/null; then
        update-desktop-database -q /usr/local/share/applications || true
    fi
    if command -v gtk-update-icon-cache >/dev/null && [ -d /usr/local/share/icons/hicolor ]; then
        gtk-update-icon-cache -q -t -f /usr/local/share/icons/hicolor || true
    fi
}

start_service() {
    if [ "$systemctl" -eq 0 ] || [ ! -d /run/systemd/system ]; then
        say "not calling systemctl; later: systemctl daemon-reload && systemctl enable --now appliance"
        return
    fi
    systemctl daemon-reload
    systemctl enable appliance.service
    if [ "$start" -eq 1 ]; then
        # restart, not `enable --now`: a second install must run the code it just installed.
        say "restarting appliance.service"
        systemctl restart appliance.service
    fi
}

create_user
create_venv
pip_install
install_files
start_service
say "done. Check the machine with: appliance doctor"
