"""A private nginx (Debian's package) in front of the gateway, with nothing but
`proxy_pass` configured: the console must work behind nginx's defaults (proxy buffering
on, HTTP/1.0 to the upstream)."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from tests.peers.gateway import free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

CONF = """worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 512; }}
http {{
  access_log {dir}/access.log;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  server {{
    listen 127.0.0.1:{port};
    location / {{ proxy_pass http://127.0.0.1:{upstream}; }}
  }}
}}
"""


def available() -> str | None:
    if not Path(NGINX).exists():
        return "nginx is not installed (scripts/install-peers installs it)"
    return None


class Nginx:
    def __init__(self, directory: Path, upstream: int) -> None:
        self.dir = directory
        self.port = free_port()
        self.upstream = upstream
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        conf = self.dir / "nginx.conf"
        conf.write_text(CONF.format(dir=self.dir, port=self.port, upstream=self.upstream))
        self.proc = subprocess.Popen(
            [NGINX, "-c", str(conf), "-p", str(self.dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        import socket

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nginx did not start: {(self.dir / 'error.log').read_text()}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None
