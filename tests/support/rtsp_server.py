"""A real RTSP server for tests: GStreamer's RTSP server through Debian's python3-gi.

    /usr/bin/python3 tests/support/rtsp_server.py PORT [MOUNT]

Serves a live H.264 test pattern at rtsp://127.0.0.1:PORT/MOUNT (default "test") and prints
"ready" once listening. Runs until killed. Needs the Debian packages
gir1.2-gst-rtsp-server-1.0, python3-gi and gstreamer1.0-plugins-ugly (installed by .ci/run).
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

PIPELINE = (
    "( videotestsrc is-live=true pattern=ball ! video/x-raw,width=640,height=360,framerate=15/1 "
    "! videoconvert ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 "
    "! rtph264pay name=pay0 pt=96 config-interval=1 )"
)


def main() -> None:
    port = sys.argv[1]
    mount = sys.argv[2] if len(sys.argv) > 2 else "test"
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(PIPELINE)
    factory.set_shared(True)
    server.get_mount_points().add_factory(f"/{mount}", factory)
    if server.attach(None) == 0:
        raise SystemExit(f"cannot listen on 127.0.0.1:{port}")
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
