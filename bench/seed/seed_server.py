#!/usr/bin/env python3
"""The seed recipe: Python + gst-rtsp-server serving frames a program makes.

This is how a Python program publishes its frames over RTSP without
framecast, written the way the GStreamer documentation and examples say:
a shared RTSPMediaFactory whose do_create_element builds a new pipeline per
media from a launch string,

    appsrc is-live=true format=time caps=video/x-raw,format=BGR,... !
    videoconvert ! video/x-raw,format=I420 !
    x264enc speed-preset=ultrafast tune=zerolatency ... ! rtph264pay name=pay0

and frames pushed from appsrc's need-data signal with pts = n x duration.
framecast's benchmark harness (bench/harness) runs it beside framecast on the
same frames and with the same x264 settings (bitrate, GOP, VBV of half a
second, no scene-cut IDRs).

Frames come from the harness's ring file (pre-drawn bgr24, loaded once);
each is stamped with its number and the send time just before it is pushed.
With --fps N the need-data handler waits for each frame's deadline, as a
program reading a camera waits for the next picture; with --fps 0 it pushes
the next frame at once and turns gst-rtsp-server's rate control off, so
that the viewers' sinks do not hold frames until their pts (maximum
throughput). --idr-on-play asks x264enc for
a key frame when a viewer starts playing, as framecast does.

Prints "PORT n" on stdout once it listens on 127.0.0.1, then serves until
SIGTERM or SIGINT, and prints "STATS pushed=N" before it exits.
"""

import argparse
import os
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import GLib, Gst, GstRtspServer, GstVideo  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import benchframes  # noqa: E402


class Factory(GstRtspServer.RTSPMediaFactory):
    """A shared factory: one pipeline serves every viewer of the path."""

    def __init__(self, args, ring):
        super().__init__()
        self.args = args
        self.ring = ring
        self.pushed = 0
        self.launch = (
            "appsrc name=source is-live=true block=true format=time "
            "caps=video/x-raw,format=BGR,width={w},height={h},framerate={fps}/1 "
            "! videoconvert ! video/x-raw,format=I420 "
            "! x264enc name=enc speed-preset=ultrafast tune=zerolatency bitrate={kbps} "
            "vbv-buf-capacity=500 key-int-max={gop} option-string=scenecut=0 "
            "! rtph264pay name=pay0 pt=96 config-interval=1"
        ).format(w=args.width, h=args.height, fps=args.nominal_fps, kbps=args.bitrate, gop=args.gop)
        self.set_shared(True)
        # The signal, not a do_configure override: the default configure
        # is what makes each media shared (an override that does not chain
        # up gives every viewer a pipeline and an encoder of its own).
        self.connect("media-configure", Factory._configure)

    def do_create_element(self, url):
        return Gst.parse_launch(self.launch)

    def _configure(self, media):
        pipeline = media.get_element()
        src = pipeline.get_by_name("source")
        state = {"n": 0, "pacer": benchframes.Pacer(self.args.fps)}
        duration = Gst.SECOND // self.args.nominal_fps
        ring = self.ring

        def need_data(appsrc, length):
            n = state["n"]
            state["pacer"].wait(n)
            frame = ring[n % len(ring)]
            benchframes.stamp(frame, n)
            buf = Gst.Buffer.new_wrapped(frame.tobytes())
            buf.pts = n * duration
            buf.duration = duration
            state["n"] = n + 1
            self.pushed += 1
            appsrc.emit("push-buffer", buf)

        src.connect("need-data", need_data)
        media.enc = pipeline.get_by_name("enc")


def no_rate_control(medias):
    for media in medias:
        for i in range(media.n_streams()):
            media.get_stream(i).set_rate_control(False)
    return False


def force_idr(factory_media):
    enc = getattr(factory_media, "enc", None)
    if enc is not None:
        event = GstVideo.video_event_new_upstream_force_key_unit(Gst.CLOCK_TIME_NONE, True, 0)
        enc.get_static_pad("src").send_event(event)
    return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ring", required=True, help="the harness's ring file of bgr24 frames")
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--fps", type=float, default=30, help="frames pushed per second; 0: as fast as taken")
    ap.add_argument("--nominal-fps", type=int, default=30, help="the caps' frame rate (rate control, pts)")
    ap.add_argument("--bitrate", type=int, default=1935, help="kbit/s")
    ap.add_argument("--gop", type=int, default=60)
    ap.add_argument("--path", default="/seed")
    ap.add_argument("--port", default="0", help="RTSP port on 127.0.0.1; 0 picks one")
    ap.add_argument("--idr-on-play", action="store_true", help="force an IDR when a viewer starts playing")
    args = ap.parse_args()
    args.width, args.height = (int(v) for v in args.size.split("x"))

    Gst.init(None)
    ring = benchframes.load_ring(args.ring, args.width, args.height)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(args.port)
    server.set_backlog(1024)
    factory = Factory(args, ring)
    server.get_mount_points().add_factory(args.path, factory)
    medias = []

    def on_media(factory, media):
        medias.append(media)
        media.connect("unprepared", lambda m: medias.remove(m) if m in medias else None)

    factory.connect("media-configure", on_media)

    def on_play(client, ctx):
        if args.fps == 0:
            # Throughput: with rate control on (gst-rtsp-server turns it on
            # again at every PLAY) the sinks it adds for the viewers hold
            # each frame until its pts (n x duration at the nominal rate) on
            # the clock. Off, frames go out as soon as they are encoded;
            # nothing else in the pipeline changes.
            GLib.idle_add(no_rate_control, medias)
        if args.idr_on_play:
            # After PLAY is answered the client is among the sinks' targets;
            # a key frame asked for a few ms later reaches it.
            for media in medias:
                GLib.timeout_add(5, force_idr, media)

    server.connect("client-connected", lambda server, client: client.connect("play-request", on_play))

    server.attach(None)
    print("PORT %d" % server.get_bound_port(), flush=True)

    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, sig, loop.quit)
    loop.run()
    print("STATS pushed=%d" % factory.pushed, flush=True)


if __name__ == "__main__":
    main()
