#!/usr/bin/python3
"""A loopback RTSP server for Vigil's ingest tests (GStreamer's RTSP server, Debian packages).

Run with Debian's Python, where python3-gi lives (packages: python3-gi gir1.2-gst-rtsp-server-1.0
gstreamer1.0-plugins-{base,good,bad,ugly}):

    /usr/bin/python3 scripts/rtsp-test-server.py --port 8554 --live          # endless 320x240@30 H.264 ball
    /usr/bin/python3 scripts/rtsp-test-server.py --port 8554 --file clip.mp4  # an MP4's H.264 track, then EOF
    /usr/bin/python3 scripts/rtsp-test-server.py --port 8554 --live --auth user:secret
    /usr/bin/python3 scripts/rtsp-test-server.py --port 8554 --live --sizes 320x240,640x360  # SIGUSR1: next size

Binds 127.0.0.1 only, serves rtsp://127.0.0.1:PORT/test (TCP and UDP), shares one pipeline between clients and
prints "READY PORT" on standard output once it listens. This is the one place Python runs during tests (a peer
process, never test logic). With `--sizes`, each SIGUSR1 switches the live picture to the next size of the list
(the encoder restarts with new SPS/PPS in the running stream; clients stay connected) and prints "SIZE WxH".
"""

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

LIVE_PIPELINE = (
    "( videotestsrc is-live=true pattern=ball ! capsfilter name=size caps=video/x-raw,width={w},height={h},"
    "framerate={fps}/1 "
    "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={fps} "
    "! rtph264pay name=pay0 pt=96 config-interval=1 )"
)
FILE_PIPELINE = "( filesrc location={path} ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--live", action="store_true", help="endless test pattern (videotestsrc ball)")
    source.add_argument("--file", help="an MP4 file with an H.264 track")
    parser.add_argument("--size", default="320x240", help="live picture size WxH")
    parser.add_argument("--sizes", help="live picture sizes WxH,WxH,...: starts at the first, SIGUSR1 moves on")
    parser.add_argument("--fps", type=int, default=30, help="live frame rate")
    parser.add_argument("--auth", help="require basic authentication user:password")
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))

    factory = GstRtspServer.RTSPMediaFactory()
    sizes = [tuple(int(n) for n in size.lower().split("x")) for size in (args.sizes or args.size).split(",")]
    if args.live:
        width, height = sizes[0]
        factory.set_launch(LIVE_PIPELINE.format(w=width, h=height, fps=args.fps))
    else:
        factory.set_launch(FILE_PIPELINE.format(path=GLib.shell_quote(args.file)))
    factory.set_shared(True)

    if args.auth:
        user, _, password = args.auth.partition(":")
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_permission_for_role("user", "media.factory.access", True)
        permissions.add_permission_for_role("user", "media.factory.construct", True)
        factory.set_permissions(permissions)

    server.get_mount_points().add_factory("/test", factory)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
        return 1

    # The shared media's pipeline, once a client made the factory build it; SIGUSR1 changes its capsfilter.
    state = {"media": None, "index": 0}
    factory.connect("media-configure", lambda _factory, media: state.update(media=media))

    def next_size():
        state["index"] = (state["index"] + 1) % len(sizes)
        width, height = sizes[state["index"]]
        media = state["media"]
        if media is not None:
            capsfilter = media.get_element().get_by_name("size")
            if capsfilter is not None:
                caps = f"video/x-raw,width={width},height={height},framerate={args.fps}/1"
                capsfilter.set_property("caps", Gst.Caps.from_string(caps))
        print(f"SIZE {width}x{height}", flush=True)
        return GLib.SOURCE_CONTINUE

    loop = GLib.MainLoop()
    for signo in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signo, loop.quit)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGUSR1, next_size)
    print(f"READY {args.port}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
