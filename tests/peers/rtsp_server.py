"""A real RTSP server standing in for Xiaomi cameras' video in the tests.

Run with the SYSTEM interpreter (Debian python3-gi + gir1.2-gst-rtsp-server-1.0), not
the project's venv:

    /usr/bin/python3 tests/peers/rtsp_server.py --port 0 \
        --mount name=cam1,color=ff0000 --mount name=cam2,color=00c000,user=u,password=p

Each mount serves a live `videotestsrc` (one pipeline per client, so a new connection
always starts from a fresh encoder) whose background is that camera's own colour, so a
decoded still can be attributed to its camera by its mean colour.

Mount options (comma separated key=value):
    name      mount path (rtsp://127.0.0.1:<port>/<name>)
    codec     h264 (default), h265, mjpeg, vp8, audio (an audio-only stream)
    audio     an audio track next to the video (a sine tone), like cameras with a
              microphone: aac (RTP mpeg4-generic), mp3 (RTP MPA), pcmu (G.711 mu-law),
              gst (GStreamer's own RTP payload, a codec FFmpeg does not know) or
              mpa-bad (an MPA track whose packets hold no MPEG audio frame)
    color     RRGGBB background colour (default 808080)
    pattern   videotestsrc pattern (default solid-color); `ball`, `snow`, `smpte`... draw
              over the colour (ball) or replace it (snow, smpte: for timing only)
    size      WxH (default --size), fps (default --fps), gop key-int-max (default --gop)
    slices    H.264 slices per picture (default 2: a keyframe spans several demuxed
              packets, the case a naive "one keyframe packet" grabber gets wrong)
    user, password   basic-auth credentials required on this mount
    damage    drop-slice: every keyframe loses its second slice (like lost UDP packets);
              cut-idr: every keyframe slice is cut after its first RTP fragment.
              P-frames are untouched, so the stream plays on (H.264 only)

Control: one command per line on stdin, one reply line ("OK ..." / "ERR ...") on stdout.
    stop NAME       remove the mount and close its clients' connections
    start NAME      serve a stopped mount again
    kick NAME       close the clients' connections but keep serving (camera reboot)
    swap A B        exchange the content of A and B, for live sessions (in place, with a
                    forced keyframe) and for new ones
    color NAME RRGGBB   change a mount's colour (live and for new sessions)
    clients NAME    reply "OK <n>" with the number of open client connections on it
    quit            stop the server (EOF on stdin does the same)
It prints "READY <port>" once it accepts connections.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
import queue
import signal
import sys
import threading
from typing import Any

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

ANONYMOUS_ROLE = "anonymous"
# Encoders checked before serving, so a missing GStreamer plugin is one clear error
# (x264enc: plugins-ugly; x265enc, voaacenc: plugins-bad; vp8enc, lamemp3enc: -good).
VIDEO_ENCODERS = {"h264": "x264enc", "h265": "x265enc", "vp8": "vp8enc"}
AUDIO_ENCODERS = {"aac": "voaacenc", "mp3": "lamemp3enc"}


@dataclass
class Mount:
    """One camera: its stream settings and its current content."""

    name: str
    codec: str = "h264"
    color: int = 0x808080
    pattern: str = "solid-color"
    width: int = 640
    height: int = 360
    fps: int = 15
    gop: int = 15
    slices: int = 2
    damage: str | None = None
    audio: str | None = None
    user: str | None = None
    password: str | None = None
    factory: Any = None
    running: bool = True
    medias: list[Any] = field(default_factory=list)
    clients: set[Any] = field(default_factory=set)

    @property
    def path(self) -> str:
        return "/" + self.name

    @property
    def role(self) -> str:
        return ANONYMOUS_ROLE if self.user is None else "user-" + self.name

    def _video_source(self) -> str:
        argb = 0xFF000000 | self.color
        if self.pattern == "solid-color":
            colours = f"pattern=solid-color foreground-color={argb}"
        else:
            # Patterns like `ball` draw the foreground over the background colour.
            contrast = 0xFF000000 | (0xFFFFFF ^ self.color)
            colours = f"pattern={self.pattern} background-color={argb} foreground-color={contrast}"
        return (
            f"videotestsrc name=src is-live=true {colours} ! "
            f"video/x-raw,format=I420,width={self.width},height={self.height},"
            f"framerate={self.fps}/1"
        )

    def launch(self) -> str:
        """Return the gst-launch description of this mount's pipeline."""
        if self.codec == "audio":
            return (
                "( audiotestsrc is-live=true wave=sine ! audio/x-raw,rate=8000,channels=1 ! "
                "mulawenc ! rtppcmupay name=pay0 pt=0 )"
            )
        src = self._video_source()
        if self.codec == "h264":
            enc = (
                f"x264enc name=enc tune=zerolatency speed-preset=ultrafast "
                f"key-int-max={self.gop} threads={self.slices} sliced-threads=true ! "
                "video/x-h264,profile=main ! "
                "rtph264pay name=pay0 pt=96 config-interval=-1 aggregate-mode=none"
            )
        elif self.codec == "h265":
            enc = (
                f"x265enc name=enc tune=zerolatency speed-preset=ultrafast "
                f"key-int-max={self.gop} ! rtph265pay name=pay0 pt=96 config-interval=-1"
            )
        elif self.codec == "mjpeg":
            enc = "jpegenc name=enc ! rtpjpegpay name=pay0 pt=26"
        elif self.codec == "vp8":
            enc = (
                f"vp8enc name=enc deadline=1 keyframe-max-dist={self.gop} ! "
                "rtpvp8pay name=pay0 pt=96"
            )
        else:
            raise ValueError(f"unknown codec {self.codec}")
        return f"( {src} ! {enc} {self._audio_track()})"

    def _audio_track(self) -> str:
        """The second stream (pay1) of a video mount with audio, or nothing."""
        if self.audio is None:
            return ""
        src = "audiotestsrc is-live=true wave=sine volume=0.2 ! audioconvert ! audioresample"
        if self.audio == "mpa-bad":
            # Zero bytes never look like an MPEG audio frame header; small buffers fit
            # one RTP packet each.
            src = "audiotestsrc is-live=true wave=silence samplesperbuffer=400"
        enc = {
            # mpeg4-generic (RFC 3640), what cameras send; FFmpeg reads it as "aac".
            "aac": "audio/x-raw,rate=16000,channels=1 ! voaacenc ! rtpmp4gpay name=pay1 pt=97",
            "mp3": "audio/x-raw,rate=44100,channels=1 ! lamemp3enc ! rtpmpapay name=pay1 pt=14",
            # Raw samples labelled MPEG audio: an MPA track without one MPEG audio frame.
            "mpa-bad": "audio/x-raw,format=S16LE,rate=44100,channels=1 ! "
            'capssetter join=false replace=true caps="audio/mpeg,mpegversion=(int)1,'
            'layer=(int)3,rate=(int)44100,channels=(int)1" ! rtpmpapay name=pay1 pt=14',
            "pcmu": "audio/x-raw,rate=8000,channels=1 ! mulawenc ! rtppcmupay name=pay1 pt=0",
            "gst": "audio/x-raw,rate=8000,channels=1 ! rtpgstpay name=pay1 pt=98",
        }[self.audio]
        return f"{src} ! {enc} "


def parse_mount(spec: str, defaults: argparse.Namespace) -> Mount:
    """Parse `name=cam1,codec=h264,color=ff0000,...`."""
    opts: dict[str, str] = {}
    for item in spec.split(","):
        key, sep, value = item.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"bad mount option {item!r}")
        opts[key.strip()] = value.strip()
    width, height = (int(v) for v in opts.pop("size", defaults.size).split("x"))
    mount = Mount(
        name=opts.pop("name"),
        codec=opts.pop("codec", "h264"),
        color=int(opts.pop("color", "808080"), 16),
        pattern=opts.pop("pattern", "solid-color"),
        width=width,
        height=height,
        fps=int(opts.pop("fps", defaults.fps)),
        gop=int(opts.pop("gop", defaults.gop)),
        slices=int(opts.pop("slices", "2")),
        damage=opts.pop("damage", None),
        audio=opts.pop("audio", None),
        user=opts.pop("user", None),
        password=opts.pop("password", None),
    )
    if opts:
        raise argparse.ArgumentTypeError(f"unknown mount options {sorted(opts)}")
    if mount.damage not in (None, "drop-slice", "cut-idr") or (
        mount.damage and mount.codec != "h264"
    ):
        raise argparse.ArgumentTypeError(f"bad damage {mount.damage!r} for {mount.codec}")
    if mount.audio not in (None, "aac", "mp3", "mpa-bad", "pcmu", "gst") or (
        mount.audio and mount.codec == "audio"
    ):
        raise argparse.ArgumentTypeError(f"bad audio {mount.audio!r} for {mount.codec}")
    return mount


def rtp_payload(packet: bytes) -> bytes:
    """Return the payload of an RTP packet (after CSRCs and header extension)."""
    offset = 12 + 4 * (packet[0] & 0x0F)
    if packet[0] & 0x10:  # header extension: 4 bytes + length words
        offset += 4 + 4 * int.from_bytes(packet[offset + 2 : offset + 4], "big")
    return packet[offset:]


class Damager:
    """Drops RTP packets of H.264 keyframe slices, deterministically."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.dropping = False  # inside a dropped fragmented NAL

    def keep(self, packet: bytes) -> bool:
        """Return False for the RTP packets this damage mode loses."""
        payload = rtp_payload(packet)
        if len(payload) < 3:
            return True
        kind = payload[0] & 0x1F
        if kind == 28:  # FU-A fragment: header byte carries the NAL type and S/E bits
            nal_type, start, end = payload[1] & 0x1F, payload[1] & 0x80, payload[1] & 0x40
            if nal_type != 5:
                return True
            if self.mode == "cut-idr":
                return bool(start)  # keep only the first piece of every keyframe slice
            if start:
                # first_mb_in_slice is ue(v): a leading 1 bit means 0, the first slice.
                self.dropping = not payload[2] & 0x80
            keep = not self.dropping
            if end:
                self.dropping = False
            return keep
        if kind == 5 and self.mode == "drop-slice":
            return bool(payload[1] & 0x80)
        return True


def has_element(name: str) -> bool:
    """Return True when this GStreamer installation has the element (x265enc is in -bad)."""
    return Gst.ElementFactory.find(name) is not None


class Server:
    """The GstRtspServer, its mounts and the stdin control channel."""

    def __init__(self, port: int, mounts: list[Mount]) -> None:
        self.mounts = {m.name: m for m in mounts}
        self.loop = GLib.MainLoop()
        self.server = GstRtspServer.RTSPServer()
        self.server.set_address("127.0.0.1")
        self.server.set_service(str(port))
        self.server.connect("client-connected", self._on_client_connected)
        self._setup_auth()
        for mount in mounts:
            self._make_factory(mount)
            self.server.get_mount_points().add_factory(mount.path, mount.factory)

    # -- setup --------------------------------------------------------------------------

    def _setup_auth(self) -> None:
        auth = GstRtspServer.RTSPAuth()
        anonymous = GstRtspServer.RTSPToken()
        anonymous.set_string("media.factory.role", ANONYMOUS_ROLE)
        # Clients without credentials get the anonymous role: open mounts accept it.
        auth.set_default_token(anonymous)
        for mount in self.mounts.values():
            if mount.user is None:
                continue
            token = GstRtspServer.RTSPToken()
            token.set_string("media.factory.role", mount.role)
            basic = GstRtspServer.RTSPAuth.make_basic(mount.user, mount.password or "")
            auth.add_basic(basic, token)
        self.server.set_auth(auth)

    def _make_factory(self, mount: Mount) -> None:
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(mount.launch())
        # One pipeline per client: a new connection always starts with a fresh encoder.
        factory.set_shared(False)
        if mount.user is None:
            # Any client, authenticated or not, may watch an open mount.
            allowed = {ANONYMOUS_ROLE} | {m.role for m in self.mounts.values()}
        else:
            allowed = {mount.role}
        for role in allowed | {ANONYMOUS_ROLE}:
            # access=false would answer 404; access without construct answers 401 with a
            # challenge, which is what makes a client send its credentials.
            construct = "true" if role in allowed else "false"
            factory.add_role_from_structure(
                Gst.Structure.from_string(
                    f"{role}, media.factory.access=(boolean)true, "
                    f"media.factory.construct=(boolean){construct}"
                )[0]
            )
        factory.connect("media-configure", self._on_media_configure, mount)
        mount.factory = factory

    def _on_media_configure(self, _factory: Any, media: Any, mount: Mount) -> None:
        mount.medias.append(media)
        media.connect("unprepared", self._on_media_unprepared, mount)
        if mount.damage:
            if mount.damage == "cut-idr":
                # A small MTU fragments the keyframe slices, so there is something to cut.
                media.get_stream(0).set_mtu(100)
            damager = Damager(mount.damage)
            pay = media.get_element().get_by_name("pay0")
            pay.get_static_pad("src").add_probe(
                Gst.PadProbeType.BUFFER | Gst.PadProbeType.BUFFER_LIST,
                self._on_rtp_buffer,
                damager,
            )

    @staticmethod
    def _on_rtp_buffer(pad: Any, info: Any, damager: Damager) -> Any:
        if info.type & Gst.PadProbeType.BUFFER_LIST:
            # The payloader pushes the fragments of a big NAL as one list.
            # The list is not writable here: push the kept packets as a new list instead.
            buffers = info.get_buffer_list()
            kept = Gst.BufferList.new()
            for index in range(buffers.length()):
                buffer = buffers.get(index)
                if damager.keep(buffer.extract_dup(0, buffer.get_size())):
                    kept.insert(-1, buffer)
            if kept.length() == buffers.length():
                return Gst.PadProbeReturn.OK
            if kept.length():
                pad.push_list(kept)  # runs this probe again: every packet is kept then
            return Gst.PadProbeReturn.DROP
        buffer = info.get_buffer()
        if damager.keep(buffer.extract_dup(0, buffer.get_size())):
            return Gst.PadProbeReturn.OK
        return Gst.PadProbeReturn.DROP

    def _on_media_unprepared(self, media: Any, mount: Mount) -> None:
        if media in mount.medias:
            mount.medias.remove(media)

    def _on_client_connected(self, _server: Any, client: Any) -> None:
        client.connect("describe-request", self._on_request)
        client.connect("setup-request", self._on_request)
        client.connect("closed", self._on_client_closed)

    def _on_request(self, client: Any, ctx: Any) -> None:
        path = ctx.uri.abspath if ctx.uri is not None else ""
        for mount in self.mounts.values():
            if path == mount.path or path.startswith(mount.path + "/"):
                mount.clients.add(client)

    def _on_client_closed(self, client: Any) -> None:
        for mount in self.mounts.values():
            mount.clients.discard(client)

    # -- control ------------------------------------------------------------------------

    def _close_clients(self, mount: Mount) -> int:
        victims = set(mount.clients)
        mount.clients.clear()

        for client in victims:
            client.close()
        return len(victims)

    def _set_colour(self, mount: Mount, color: int) -> None:
        mount.color = color
        mount.factory.set_launch(mount.launch())
        if mount.codec == "audio":
            return
        argb = 0xFF000000 | color
        prop = "foreground-color" if mount.pattern == "solid-color" else "background-color"
        for media in list(mount.medias):
            bin_ = media.get_element()
            src = bin_.get_by_name("src")
            enc = bin_.get_by_name("enc")
            if src is not None:
                src.set_property(prop, argb)
            if enc is not None:
                # The next frame becomes a keyframe, like a camera after a scene cut.
                structure = Gst.Structure.new_empty("GstForceKeyUnit")
                structure.set_value("all-headers", True)
                enc.send_event(Gst.Event.new_custom(Gst.EventType.CUSTOM_UPSTREAM, structure))

    def command(self, line: str) -> str:
        """Run one control command and return its reply line."""
        words = line.split()
        if not words:
            return "ERR empty command"
        cmd, args = words[0], words[1:]
        try:
            if cmd == "quit":
                self.loop.quit()
                return "OK bye"
            mounts = [self.mounts[a] for a in args if a in self.mounts]
            if cmd == "stop" and len(args) == 1 and mounts:
                mounts[0].running = False
                self.server.get_mount_points().remove_factory(mounts[0].path)
                return f"OK stopped {self._close_clients(mounts[0])}"
            if cmd == "start" and len(args) == 1 and mounts:
                if not mounts[0].running:
                    mounts[0].running = True
                    self.server.get_mount_points().add_factory(mounts[0].path, mounts[0].factory)
                return "OK started"
            if cmd == "kick" and len(args) == 1 and mounts:
                return f"OK kicked {self._close_clients(mounts[0])}"
            if cmd == "clients" and len(args) == 1 and mounts:
                return f"OK {len(mounts[0].clients)}"
            if cmd == "swap" and len(args) == 2 and len(mounts) == 2:
                a, b = mounts
                a_color, b_color = a.color, b.color
                self._set_colour(a, b_color)
                self._set_colour(b, a_color)
                return "OK swapped"
            if cmd == "color" and len(args) == 2 and args[0] in self.mounts:
                self._set_colour(self.mounts[args[0]], int(args[1], 16))
                return "OK color"
        except (ValueError, GLib.Error) as err:
            return f"ERR {err}"
        return f"ERR bad command {line.strip()!r}"

    def _stdin_reader(self) -> None:
        # A plain thread: GLib's stdin watch is awkward with Python's buffered stdin.
        # Commands run in the GLib loop, which owns every server object.
        replies: queue.Queue[str] = queue.Queue()

        def _run(text: str) -> bool:
            replies.put(self.command(text))
            return False

        for line in sys.stdin:
            GLib.idle_add(_run, line)
            print(replies.get(), flush=True)
            if line.strip() == "quit":
                return
        GLib.idle_add(self.loop.quit)

    def run(self) -> None:
        """Serve until `quit`, EOF on stdin, SIGTERM or SIGINT."""
        if self.server.attach(None) == 0:
            print("ERR cannot bind", flush=True)
            sys.exit(1)
        for signum in (signal.SIGTERM, signal.SIGINT):
            GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, self._quit)
        threading.Thread(target=self._stdin_reader, daemon=True).start()
        print(f"READY {self.server.get_bound_port()}", flush=True)
        self.loop.run()

    def _quit(self) -> bool:
        self.loop.quit()
        return False


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8554, help="0 picks a free port")
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--gop", type=int, default=15, help="x264 key-int-max (frames)")
    parser.add_argument("--mount", action="append", default=[], help="see module doc")
    parser.add_argument(
        "--check", action="store_true", help="print the encoders available and exit"
    )
    args = parser.parse_args(argv)
    Gst.init(None)
    if args.check:
        for element in (*VIDEO_ENCODERS.values(), "jpegenc", "mulawenc", *AUDIO_ENCODERS.values()):
            print(f"{element} {'yes' if has_element(element) else 'no'}")
        return
    mounts = [parse_mount(spec, args) for spec in args.mount]
    if not mounts:
        parser.error("at least one --mount is needed")
    for mount in mounts:
        needed = [VIDEO_ENCODERS.get(mount.codec), AUDIO_ENCODERS.get(mount.audio or "")]
        for element in needed:
            if element and not has_element(element):
                print(f"ERR {element} not available for mount {mount.name}", flush=True)
                sys.exit(2)
    Server(args.port, mounts).run()


if __name__ == "__main__":
    main()
