"""A TCP relay the tests can break: between the gateway and Asterisk's AMI port.

The link faults of the telephony scenarios are network faults, which neither Asterisk nor
the gateway can be asked to produce: a connection reset mid-stream (`cut`), a port that
refuses connections for a while (`refuse` / `allow`), and a half-open link where the
socket stays up but nothing flows any more (`freeze` / `thaw`). Everything else is the
real Asterisk talking through it byte for byte.
"""

from __future__ import annotations

import select
import socket
import struct
import threading

RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST


class TcpCut:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port: int = self._listener.getsockname()[1]
        self.host = "127.0.0.1"
        self.refusing = False
        self.frozen = False
        self.accepted = 0
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._stop = False
        threading.Thread(target=self._accept, daemon=True, name="tcpcut").start()

    # -- faults ------------------------------------------------------------------------

    def cut(self) -> None:
        """Reset every connection now (RST, as a broken link or a firewall would)."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for a, b in pairs:
            for s in (a, b):
                try:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET)
                    s.close()
                except OSError:
                    pass

    def refuse(self) -> None:
        """Cut, and refuse new connections until `allow`."""
        self.refusing = True
        self.cut()

    def allow(self) -> None:
        self.refusing = False

    def freeze(self) -> None:
        """Half-open: connections stay up, nothing flows either way until `thaw`."""
        self.frozen = True

    def thaw(self) -> None:
        self.frozen = False

    def close(self) -> None:
        self._stop = True
        self.cut()
        self._listener.close()

    # -- relay -------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.refusing:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            self.accepted += 1
            with self._lock:
                self._pairs.append((client, upstream))
            threading.Thread(
                target=self._pump, args=(client, upstream), daemon=True, name="tcpcut-pump"
            ).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        try:
            while not self._stop:
                if self.frozen:
                    select.select([], [], [], 0.05)
                    continue
                readable, _, _ = select.select([a, b], [], [], 0.05)
                for s in readable:
                    data = s.recv(65536)
                    if not data:
                        raise OSError("closed")
                    peers[s].sendall(data)
        except (OSError, ValueError):
            pass
        finally:
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass
            with self._lock:
                if (a, b) in self._pairs:
                    self._pairs.remove((a, b))
