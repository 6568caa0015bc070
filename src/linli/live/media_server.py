"""The media server's configuration: nginx with the RTMP module (Debian: `nginx-light` and
`libnginx-mod-rtmp`), run by an unprivileged user as a foreground process with its own prefix
directory, no system service and no root paths (docs/live.md "Video").

- `live` (RTMP ingest, what OBS publishes to): `on_publish` asks Linli whether the stream key
  opens a session and renames the stream `room-<id>`; `on_publish_done` pauses the room. The
  renamed stream is pushed to `show` on the loopback: nginx-rtmp's HLS module names its files
  after the name the publisher used (the key), so HLS is made in the second application, which
  sees only the room's name.
- `show` (loopback publishers only, nobody plays RTMP): HLS with 1 s fragments into `hls/`,
  and every connection recorded to `recordings/room-<id>-<unix time>.flv`; `on_record_done`
  (with the deployment's callback secret in its URL) makes it the room's replay.
- HTTP: `/hls/` served from `hls/` with `Access-Control-Allow-Origin: *` (the room page
  plays it from another origin: Linli's page allows it in its Content-Security-Policy).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEBIAN_RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")
LOOPBACK = "127.0.0.1"
LISTEN_ADDRESSES = ("127.0.0.1", "0.0.0.0")  # noqa: S104 (0.0.0.0: OBS on another machine)
SUBDIRECTORIES = ("hls", "recordings", "logs", "temp")
FRAGMENT_SECONDS = 1
PLAYLIST_SECONDS = 10


@dataclass(frozen=True)
class MediaServer:
    directory: Path  # absolute: the prefix; hls/, recordings/, logs/, temp/ below it
    linli_url: str  # where nginx reaches Linli's callbacks, e.g. http://127.0.0.1:8000
    callback_secret: str
    rtmp_port: int = 1935
    http_port: int = 8080
    listen: str = LOOPBACK
    module: Path = DEBIAN_RTMP_MODULE
    user: str | None = None  # only when nginx is started as root: its workers' user

    def __post_init__(self) -> None:
        if not self.directory.is_absolute():
            raise ValueError("the media directory must be an absolute path")
        if self.listen not in LISTEN_ADDRESSES:
            raise ValueError(f"listen on one of {', '.join(LISTEN_ADDRESSES)}")
        for port in (self.rtmp_port, self.http_port):
            if not 1 <= port <= 65535:
                raise ValueError(f"no such port: {port}")
        if not self.linli_url.startswith(("http://", "https://")):
            raise ValueError("Linli's URL must be http:// or https://")
        if not self.callback_secret.isalnum():
            raise ValueError("the callback secret must be letters and digits")
        for value in (str(self.directory), self.linli_url, str(self.module), self.user or ""):
            if any(c in value for c in ";{}\"'#\n\r\t ") or not value.isascii():
                raise ValueError(f"unsafe in an nginx configuration: {value!r}")

    @property
    def rtmp_url(self) -> str:
        """Where OBS publishes (LINLI_MEDIA_RTMP_URL, on this machine)."""
        return f"rtmp://{LOOPBACK}:{self.rtmp_port}/live"

    @property
    def hls_url(self) -> str:
        """Where browsers fetch the playlists (LINLI_MEDIA_HLS_URL, on this machine)."""
        return f"http://{LOOPBACK}:{self.http_port}/hls"

    def command(self, nginx: str = "nginx") -> list[str]:
        """The foreground nginx that serves this configuration."""
        d = self.directory
        return [nginx, "-p", f"{d}/", "-c", str(d / "nginx.conf"), "-e", str(d / "logs/error.log")]

    def write(self) -> Path:
        """The directories and `nginx.conf` (readable by its owner only: it holds the
        callback secret); returns the configuration's path."""
        for name in SUBDIRECTORIES:
            (self.directory / name).mkdir(parents=True, exist_ok=True)
        path = self.directory / "nginx.conf"
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
        path.write_text(nginx_config(self))
        return path


def nginx_config(server: MediaServer) -> str:
    d = server.directory
    callbacks = f"{server.linli_url.rstrip('/')}/api/v1/live/media"
    user = (
        f"# Started as root: the workers keep this user, who owns {d}.\nuser {server.user};\n"
        if server.user
        else ""
    )
    temp = "\n".join(
        f"  {kind}_temp_path {d}/temp/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""# Linli's media server, written by `linli media-config` (docs/live.md, "Video").
# Run in the foreground: {" ".join(server.command())}
load_module {server.module};
daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/logs/error.log warn;
{user}
events {{
  worker_connections 1024;
}}

rtmp {{
  server {{
    listen {server.listen}:{server.rtmp_port};
    chunk_size 4096;
    notify_method post;

    # What OBS publishes to: rtmp://<host>:{server.rtmp_port}/live with the session's stream key.
    application live {{
      live on;
      deny play all;
      on_publish {callbacks}/on_publish;
      on_publish_done {callbacks}/on_publish_done;
      # Renamed room-<id> by on_publish; HLS and recordings are made from the renamed stream.
      push rtmp://{LOOPBACK}:{server.rtmp_port}/show;
    }}

    application show {{
      live on;
      allow publish {LOOPBACK};
      deny publish all;
      deny play all;
      hls on;
      hls_path {d}/hls;
      hls_fragment {FRAGMENT_SECONDS}s;
      hls_playlist_length {PLAYLIST_SECONDS}s;
      record all;
      record_path {d}/recordings;
      record_unique on;
      on_record_done {callbacks}/on_record_done?secret={server.callback_secret};
    }}
  }}
}}

http {{
  access_log off;
{temp}
  server {{
    listen {server.listen}:{server.http_port};
    location /hls/ {{
      alias {d}/hls/;
      types {{
        application/vnd.apple.mpegurl m3u8;
        video/mp2t ts;
      }}
      add_header Cache-Control no-cache;
      add_header Access-Control-Allow-Origin *;
    }}
    location / {{
      return 404;
    }}
  }}
}}
"""
