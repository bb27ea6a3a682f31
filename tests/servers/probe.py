#!/usr/bin/env python3
"""Tiny, dependency-free helpers for tests/servers/servers.sh.

  probe.py ports N          print N distinct free loopback TCP ports (one line)
  probe.py kafka HOST PORT  exit 0 when the broker answers a Metadata request
                            (v4) listing itself as a live broker
  probe.py cql HOST PORT    exit 0 when the node answers a CQL query
                            (STARTUP, then SELECT data_center FROM system.local)
                            and print the data centre it reports
  probe.py leader HOST PORT TOPIC PARTITION
                            print the node id leading that partition (Metadata)
  probe.py in-sync HOST PORT REPLICAS
                            exit 0 when every partition of every topic has a
                            leader and REPLICAS in-sync replicas (Metadata)
  probe.py controller HOST CONTROLLER_PORT
                            print the node id of the active KRaft controller
                            (DescribeQuorum, asked of a controller listener)

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

    def uvarint(self):
        shift = value = 0
        while True:
            byte = self.take(1)[0]
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7

    def tagged(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())


# --- Kafka -----------------------------------------------------------------

def kafka_request(host, port, api_key, version, body, flexible=False):
    """Sends one request (header v1, or v2 for a flexible version) and
    returns a Reader on the response body (after its header)."""
    client_id = b"rfq-servers-probe"
    header = struct.pack(">hhih", api_key, version, 7, len(client_id)) + client_id
    if flexible:
        header += b"\x00"  # no tagged fields
    request = header + body
    with socket.create_connection((host, port), timeout=TIMEOUT) as s:
        s.settimeout(TIMEOUT)
        s.sendall(struct.pack(">i", len(request)) + request)
        size = struct.unpack(">i", recv_exact(s, 4))[0]
        r = Reader(recv_exact(s, size))
    if r.i32() != 7:
        raise ValueError("wrong correlation id")
    if flexible:
        r.tagged()
    return r


def kafka_metadata(host, port, topics=None):
    """Metadata v4 (Kafka 4 dropped v0-v3; v4 is the oldest non-flexible one
    left): (brokers, cluster id, controller, {topic: {partition: (leader,
    replicas, isr)}}). All topics when `topics` is None; no auto-create."""
    if topics is None:
        body = struct.pack(">i", -1)
    else:
        body = struct.pack(">i", len(topics))
        for name in topics:
            body += struct.pack(">h", len(name)) + name.encode()
    r = kafka_request(host, port, 3, 4, body + struct.pack(">b", 0))
    r.i32()  # throttle_time_ms
    brokers = []
    for _ in range(r.i32()):
        node_id, bhost, bport, _rack = r.i32(), r.string16(), r.i32(), r.string16()
        brokers.append((node_id, bhost, bport))
    cluster_id = r.string16()
    controller = r.i32()
    found = {}
    for _ in range(r.i32()):
        error, name, _internal = r.i16(), r.string16(), r.i8()
        partitions = {}
        for _ in range(r.i32()):
            _perror, index, leader = r.i16(), r.i32(), r.i32()
            replicas = [r.i32() for _ in range(r.i32())]
            isr = [r.i32() for _ in range(r.i32())]
            partitions[index] = (leader, replicas, isr)
        if error == 0:
            found[name] = partitions
    return brokers, cluster_id, controller, found


def kafka_probe(host, port):
    brokers, cluster_id, controller, _ = kafka_metadata(host, port, [])
    if not any(b[2] == port for b in brokers):
        raise ValueError(f"no live broker on port {port} yet (brokers={brokers})")
    return f"cluster {cluster_id}, controller {controller}, brokers {brokers}"


def kafka_leader(host, port, topic, partition):
    _, _, _, topics = kafka_metadata(host, port, [topic])
    leader = topics.get(topic, {}).get(partition, (-1,))[0]
    if leader < 0:
        raise ValueError(f"{topic} partition {partition} has no leader")
    return str(leader)


def kafka_in_sync(host, port, replicas):
    _, _, _, topics = kafka_metadata(host, port)
    short = [f"{name}-{index} (leader {leader}, isr {isr})"
             for name, partitions in sorted(topics.items())
             for index, (leader, _replicas, isr) in sorted(partitions.items())
             if leader < 0 or len(isr) < replicas]
    if short:
        raise ValueError(f"{len(short)} partitions not fully in sync, e.g. {short[:3]}")
    return f"{sum(len(p) for p in topics.values())} partitions in sync"


def kraft_controller(host, port):
    """The active controller: DescribeQuorum v0 (flexible) for
    __cluster_metadata-0, asked of a controller listener (KIP-919)."""
    topic = b"__cluster_metadata"
    body = uvarint(2) + uvarint(len(topic) + 1) + topic  # one topic
    body += uvarint(2) + struct.pack(">i", 0) + b"\x00"  # one partition, no tags
    body += b"\x00" + b"\x00"  # topic's tags, request's tags
    r = kafka_request(host, port, 55, 0, body, flexible=True)
    error = r.i16()
    if error:
        raise ValueError(f"DescribeQuorum error {error}")
    if r.uvarint() - 1 < 1:
        raise ValueError("DescribeQuorum: no topic in the answer")
    r.take(r.uvarint() - 1)  # topic name
    if r.uvarint() - 1 < 1:
        raise ValueError("DescribeQuorum: no partition in the answer")
    _index, perror, leader = r.i32(), r.i16(), r.i32()
    if perror or leader < 0:
        raise ValueError(f"no active controller (error {perror}, leader {leader})")
    return str(leader)


def uvarint(n):
    out = b""
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out += bytes([byte | 0x80])
        else:
            return out + bytes([byte])


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
        elif argv[1] == "leader":
            print(kafka_leader(argv[2], int(argv[3]), argv[4], int(argv[5])))
        elif argv[1] == "in-sync":
            print(kafka_in_sync(argv[2], int(argv[3]), int(argv[4])))
        elif argv[1] == "controller":
            print(kraft_controller(argv[2], int(argv[3])))
        else:
            raise SystemExit(__doc__)
    except (OSError, EOFError, ValueError, IndexError, struct.error) as e:
        print(f"{argv[1]} probe: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
