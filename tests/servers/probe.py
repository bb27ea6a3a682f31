#!/usr/bin/env python3
"""Tiny, dependency-free helpers for tests/servers/servers.sh.

  probe.py ports N          print N distinct free loopback TCP ports (one line)
  probe.py kafka HOST PORT  exit 0 when the broker answers a Metadata request
                            (v4) listing itself as a live broker
  probe.py cql HOST PORT    exit 0 when the node answers a CQL query
                            (STARTUP, then SELECT data_center FROM system.local)
                            and print the data centre it reports

Any failure (refused, timeout, error frame, not ready yet) exits 1 with a reason
on stderr, so the caller can poll.
"""
import socket
import struct
import sys

TIMEOUT = 3.0


def free_ports(n):
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed by the server")
        buf += chunk
    return buf


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n):
        if self.pos + n > len(self.data):
            raise ValueError("short response")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def i8(self):
        return struct.unpack(">b", self.take(1))[0]

    def i16(self):
        return struct.unpack(">h", self.take(2))[0]

    def i32(self):
        return struct.unpack(">i", self.take(4))[0]

    def string16(self):
        n = self.i16()
        return None if n < 0 else self.take(n).decode()


# --- Kafka -----------------------------------------------------------------

def kafka_probe(host, port):
    client_id = b"rfq-servers-probe"
    # Request header v1 + Metadata v4 body: topics = null (all), no auto-create.
    # (Kafka 4 dropped Metadata v0-v3; v4 is the oldest non-flexible one left.)
    body = struct.pack(">hhih", 3, 4, 7, len(client_id)) + client_id
    body += struct.pack(">ib", -1, 0)
    with socket.create_connection((host, port), timeout=TIMEOUT) as s:
        s.settimeout(TIMEOUT)
        s.sendall(struct.pack(">i", len(body)) + body)
        size = struct.unpack(">i", recv_exact(s, 4))[0]
        r = Reader(recv_exact(s, size))
    if r.i32() != 7:
        raise ValueError("wrong correlation id")
    r.i32()  # throttle_time_ms
    brokers = []
    for _ in range(r.i32()):
        node_id, bhost, bport, _rack = r.i32(), r.string16(), r.i32(), r.string16()
        brokers.append((node_id, bhost, bport))
    cluster_id = r.string16()
    controller = r.i32()
    if not any(b[2] == port for b in brokers):
        raise ValueError(f"no live broker on port {port} yet (brokers={brokers})")
    return f"cluster {cluster_id}, controller {controller}, brokers {brokers}"


# --- CQL (native protocol v4) ------------------------------------------------

def cql_frame(stream, opcode, body):
    return struct.pack(">BBhBi", 0x04, 0, stream, opcode, len(body)) + body


def cql_read(sock):
    version, _flags, stream, opcode, length = struct.unpack(">BBhBi", recv_exact(sock, 9))
    body = recv_exact(sock, length) if length else b""
    if opcode == 0x00:  # ERROR
        r = Reader(body)
        code = r.i32()
        raise ValueError(f"CQL error 0x{code:04x}: {r.string16()}")
    return opcode, Reader(body)


def cql_probe(host, port):
    with socket.create_connection((host, port), timeout=TIMEOUT) as s:
        s.settimeout(TIMEOUT)
        k, v = b"CQL_VERSION", b"3.0.0"
        startup = struct.pack(">hh", 1, len(k)) + k + struct.pack(">h", len(v)) + v
        s.sendall(cql_frame(1, 0x01, startup))
        opcode, _ = cql_read(s)
        if opcode != 0x02:  # READY (0x03 would be AUTHENTICATE)
            raise ValueError(f"unexpected opcode 0x{opcode:02x} after STARTUP")
        q = b"SELECT data_center FROM system.local"
        s.sendall(cql_frame(2, 0x07, struct.pack(">i", len(q)) + q + struct.pack(">hB", 0x0001, 0)))
        opcode, r = cql_read(s)
    if opcode != 0x08 or r.i32() != 2:  # RESULT / Rows
        raise ValueError("unexpected reply to the query")
    flags, ncols = r.i32(), r.i32()
    if flags & 0x0004:  # has_more_pages: paging state
        r.take(r.i32())
    if flags & 0x0001:  # global table spec
        r.string16(), r.string16()
    for _ in range(ncols):
        if not flags & 0x0001:
            r.string16(), r.string16()
        r.string16()
        r.i16()  # type id (varchar, no parameters)
    if r.i32() < 1:
        raise ValueError("system.local is empty")
    n = r.i32()
    return r.take(n).decode() if n >= 0 else ""


def main(argv):
    try:
        if argv[1] == "ports":
            print(" ".join(map(str, free_ports(int(argv[2])))))
        elif argv[1] == "kafka":
            print(kafka_probe(argv[2], int(argv[3])))
        elif argv[1] == "cql":
            print(cql_probe(argv[2], int(argv[3])))
        else:
            raise SystemExit(__doc__)
    except (OSError, EOFError, ValueError, struct.error) as e:
        print(f"{argv[1]} probe: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
