"""A TCP proxy on 127.0.0.1 between a server under test and its database, that a test
cuts and restores: `refuse` closes every connection and the listening socket (a
database that is down), `blackhole` keeps accepting and reading but forwards nothing
either way (a network that swallows packets: the peer's kernel still acknowledges),
`deafen` forwards what clients send but drops what the server answers, `restore`
forwards again on the same port."""

import socket
import threading
from contextlib import suppress

__all__ = ["TcpProxy"]

_POLL = 0.05  # seconds between looks at the stop flag while accepting


class TcpProxy:
    """Forwards 127.0.0.1:`port` to `target` until `close`."""

    def __init__(self, target: tuple[str, int]) -> None:
        self._target = target
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._forwarding = True
        self._answering = True  # `deafen`
        self._closed = False
        self._listener: socket.socket | None = None
        self._accepting: threading.Thread | None = None
        self.port = 0
        self._listen()

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(_POLL)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._accepting = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._accepting.start()

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            pair = [client]
            if self._forwarding:
                try:
                    pair.append(socket.create_connection(self._target, timeout=2))
                except OSError:
                    client.close()
                    continue
                pair[1].settimeout(None)
            with self._lock:
                self._sockets += pair
            if len(pair) == 2:
                for source, sink, answers in ((pair[0], pair[1], False), (pair[1], pair[0], True)):
                    pump = threading.Thread(target=self._pump, args=(source, sink, answers))
                    pump.daemon = True
                    pump.start()
            else:  # accepted while black-holed: read and drop until closed
                threading.Thread(target=self._pump, args=(client, None), daemon=True).start()

    def _pump(
        self, source: socket.socket, sink: socket.socket | None, answers: bool = False
    ) -> None:
        try:
            while data := source.recv(65536):
                if sink is not None and self._forwarding and (self._answering or not answers):
                    sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                if end is not None:
                    with suppress(OSError):
                        end.shutdown(socket.SHUT_RDWR)

    def _drop_all(self) -> None:
        with self._lock:
            dropped, self._sockets = self._sockets, []
        for sock in dropped:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def refuse(self) -> None:
        """Close every connection and stop listening: connecting is refused."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        if self._accepting is not None:
            self._accepting.join(timeout=5)
        self._drop_all()

    def blackhole(self) -> None:
        """Forward nothing more, either way, on open connections or new ones."""
        self._forwarding = False

    def deafen(self) -> None:
        """Drop what the server sends on every connection, forward what clients send."""
        self._answering = False

    def restore(self) -> None:
        """Forward again (what was dropped meanwhile stays lost): black-holed
        connections are closed (their streams are torn), the port listens again if it
        was refusing."""
        self._answering = True
        if not self._forwarding:
            self._forwarding = True
            self._drop_all()
        if self._listener is None and not self._closed:
            self._listen()

    def close(self) -> None:
        self._closed = True
        self.refuse()
