"""raw_peer.py - a hostile TCP peer for the attack suite.

    with RawPeer(behaviour) as peer:      # peer.port on 127.0.0.1
        ...

Well-behaved test servers (http.server, grpcio, redis-server) cannot hang
halfway through an answer, lie about its framing or close in the middle
of it: a peer that misbehaves on purpose has to own its socket. RawPeer
accepts connections on a free loopback port and hands each one, in its
own thread, to `behaviour(conn, peer)`, a function that reads what it
wants and writes whatever bytes the attack needs. The behaviours used by
more than one target (hang, drip, flood, read an HTTP request) live here;
tests/attacks/rate_limit and tests/attacks/lambda_signer import this file
too (they add this folder to sys.path).

Every wait is bounded and stop() ends every behaviour: loops check
peer.stopping, sockets are shut down, so no case can hang on its peer.
"""

import socket
import threading
import time

IO_TIMEOUT = 10.0        # the longest any behaviour blocks on one read


class RawPeer:
    """A TCP server on 127.0.0.1 whose connections run `behaviour`."""

    def __init__(self, behaviour):
        self.behaviour = behaviour
        self.stopping = threading.Event()
        # Set by a test when the attack is over: behaviours then answer
        # properly, so the test can see the gateway recover.
        self.recovered = threading.Event()
        self.received = []          # bytes read by read_* helpers, per conn
        self.connections = 0
        self._lock = threading.Lock()
        self._conns = []
        self._threads = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept_loop,
                                          daemon=True)

    def _accept_loop(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(IO_TIMEOUT)
            with self._lock:
                self.connections += 1
                self._conns.append(conn)
                self.received.append(b"")
                index = len(self.received) - 1
            t = threading.Thread(target=self._serve, args=(conn, index),
                                 daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, conn, index):
        try:
            self.behaviour(Conn(conn, self, index), self)
        except (OSError, EOFError):
            pass  # the other side went away: that is the point of most cases
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def record(self, index, data):
        with self._lock:
            self.received[index] += data

    def start(self):
        self._acceptor.start()
        return self

    def stop(self):
        self.stopping.set()
        self._listener.close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._acceptor.join(2)
        for t in self._threads:
            t.join(2)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class Conn:
    """One accepted connection, with the reads the behaviours need."""

    def __init__(self, sock, peer, index):
        self.sock = sock
        self.peer = peer
        self.index = index
        self.buffer = b""

    def recv_some(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.peer.record(self.index, data)
        return data

    def read_until(self, marker):
        """Everything up to and including `marker` (the rest is kept)."""
        while marker not in self.buffer:
            self.buffer += self.recv_some()
        head, _, rest = self.buffer.partition(marker)
        self.buffer = rest
        return head + marker

    def read_exactly(self, n):
        while len(self.buffer) < n:
            self.buffer += self.recv_some()
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def read_http_request(self):
        """One HTTP/1.1 request (head and Content-Length body), or None
        when the client closed first."""
        try:
            head = self.read_until(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            return head + self.read_exactly(length)
        except (EOFError, OSError):
            return None

    def send(self, data):
        self.sock.sendall(data)

    def hang(self):
        """Keep the connection open and say nothing until stop()."""
        self.peer.stopping.wait(IO_TIMEOUT)

    def drip(self, data, interval=0.05):
        """Send `data` one byte at a time, `interval` apart."""
        for i in range(len(data)):
            if self.peer.stopping.is_set():
                return
            self.sock.sendall(data[i:i + 1])
            time.sleep(interval)

    def flood(self, chunk, limit=256 << 20):
        """Send `chunk` again and again (at most `limit` bytes) until the
        other side stops reading or closes."""
        sent = 0
        self.sock.settimeout(2.0)
        while sent < limit and not self.peer.stopping.is_set():
            try:
                self.sock.sendall(chunk)
            except socket.timeout:
                return  # the reader stopped reading: it bounded itself
            sent += len(chunk)


def peak_rss_kib(pid):
    """The most resident memory process `pid` has used (VmHWM), in KiB:
    what a flood case compares before and after, to prove the gateway
    bounded what it buffered rather than the peer's patience."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM for pid %d" % pid)
