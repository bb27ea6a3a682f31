#!/usr/bin/env python3
"""Standard Kafka clients against `rfq up`'s embedded broker, at their defaults.

Starts the real `rfq up` binary on free ports in a fresh data directory, then
each client produces records to the dead-letter topic and reads them back
with their keys and values:
- Python's confluent-kafka (librdkafka), once per compression: none, gzip,
  snappy, lz4, zstd;
- franz-go (tests/clients/go, built with the Go toolchain; defaults: snappy,
  no version cap);
- Apache Kafka's own Java client (tests/clients/java, kafka-clients from
  Maven Central, cached), every compression;
- kcat (Debian's).
Each authenticates as rfq up's operator (SASL/SCRAM-SHA-256, the settings
rfq up writes to kafka-operator.properties in its data directory); a
client without credentials must get nothing. Then an RFQ must still close
with quotes. Each client prints PASSED, or
SKIPPED with the reason when its tool is missing (an error with
RFQ_REQUIRE_SERVERS=1, as CI sets).

Usage: outside_clients.py PATH_TO_RFQ_BINARY
"""

import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

from confluent_kafka import Consumer, Producer, TopicPartition

from outside_client import check, free_port, interrupt, kafka_operator, request, wait_for_http

ROOT = pathlib.Path(__file__).resolve().parents[2]
TOPIC = "rfq.dead-letter"
COUNT = 20
REQUIRED = os.environ.get("RFQ_REQUIRE_SERVERS") == "1"


def skipped(client, reason):
    if REQUIRED:
        raise SystemExit(f"FAILED: {client} required (RFQ_REQUIRE_SERVERS=1) but unavailable: {reason}")
    print(f"SKIPPED: {client}: {reason}")


# rfq up's operator settings (read from its data directory at start).
AUTH = {}


def no_credentials_no_access(brokers):
    consumer = Consumer({"bootstrap.servers": brokers, "group.id": "smoke-anonymous",
                         "socket.timeout.ms": 3000})
    try:
        consumer.list_topics(timeout=5)
        raise SystemExit("FAILED: a client without credentials listed rfq up's topics")
    except Exception as error:  # KafkaException: timed out / transport failure
        if isinstance(error, SystemExit):
            raise
    finally:
        consumer.close()
    print("PASSED: a client without credentials gets nothing from rfq up's broker")


def read_back(brokers, want, label):
    """Reads every partition of TOPIC from the start until each key of want is seen with its value."""
    consumer = Consumer({"bootstrap.servers": brokers, "group.id": f"smoke-{label}",
                         "enable.auto.commit": False, **AUTH})
    partitions = consumer.list_topics(TOPIC, timeout=10).topics[TOPIC].partitions
    consumer.assign([TopicPartition(TOPIC, p, 0) for p in partitions])
    want = dict(want)
    changed = []
    deadline = time.time() + 60
    while want and time.time() < deadline:
        message = consumer.poll(1.0)
        if message is None:
            continue
        if message.error() is not None:
            raise SystemExit(f"FAILED: {label}: reading back: {message.error()}")
        key = message.key().decode() if message.key() else None
        if key in want and want.pop(key) != message.value().decode():
            changed.append(key)
    consumer.close()
    check(not want and not changed,
          f"{label}: every record read back as written ({len(want)} missing, {len(changed)} changed)")


def confluent_kafka_clients(brokers):
    for compression in ["none", "gzip", "snappy", "lz4", "zstd"]:
        label = f"confluent-kafka {compression}"
        producer = Producer({"bootstrap.servers": brokers, "compression.type": compression, **AUTH})
        marker = f"py-{compression}-{time.time_ns()}"
        want = {f"{marker}-{i}": f"value {i} of {marker} " + "x" * 200 for i in range(COUNT)}
        failures = []
        for key, value in want.items():
            producer.produce(TOPIC, key=key, value=value,
                             on_delivery=lambda err, _msg: failures.append(err) if err else None)
        check(producer.flush(30) == 0 and not failures, f"{label}: every record acknowledged {failures}")
        read_back(brokers, want, label)
        print(f"PASSED: {label}: {COUNT} records written and read back")


def franz_go(brokers, work):
    if shutil.which("go") is None:
        return skipped("franz-go", "the Go toolchain is not installed (apt-get install golang-go)")
    binary = os.path.join(work, "franzcheck")
    subprocess.run(["go", "build", "-o", binary, "."], cwd=ROOT / "tests/clients/go", check=True)
    run_client([binary, brokers, TOPIC, str(COUNT), AUTH["sasl.username"], AUTH["sasl.password"]],
               "franz-go")


def java_client(brokers):
    pom = ROOT / "tests/clients/java/pom.xml"
    if shutil.which("java") is None:
        return skipped("the Java client", "java is not installed (apt-get install openjdk-17-jre-headless)")
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()[:12]
    cache = pathlib.Path(os.environ.get("RFQ_CLIENTS_CACHE", pathlib.Path.home() / ".cache/rfq-test-clients"))
    lib = cache / f"java-{digest}" / "lib"
    if not (lib.parent / ".complete").exists():
        if shutil.which("mvn") is None:
            return skipped("the Java client", "mvn is not installed (needed once, to fetch kafka-clients)")
        shutil.rmtree(lib.parent, ignore_errors=True)
        lib.parent.mkdir(parents=True)
        fetched = subprocess.run(["mvn", "-B", "-q", "-Dstyle.color=never", "-f", str(pom),
                                  "dependency:copy-dependencies", "-DincludeScope=runtime",
                                  f"-DoutputDirectory={lib}"], text=True, capture_output=True)
        if fetched.returncode != 0:
            raise SystemExit(f"FAILED: Maven could not fetch the Java client:\n{fetched.stdout[-4000:]}")
        (lib.parent / ".complete").touch()
    run_client(["java", "-cp", f"{lib}/*", str(ROOT / "tests/clients/java/ClientCheck.java"),
                brokers, TOPIC, str(COUNT), AUTH["sasl.username"], AUTH["sasl.password"]],
               "the Java client")


def kcat(brokers):
    if shutil.which("kcat") is None:
        return skipped("kcat", "kcat is not installed (apt-get install kcat)")
    marker = f"kcat-{time.time_ns()}"
    want = {f"{marker}-{i}": f"value {i} of {marker}" for i in range(COUNT)}
    lines = "".join(f"{k}:{v}\n" for k, v in want.items())
    # PLAIN: Debian's kcat links librdkafka 2.0.2, whose SCRAM client sends
    # its nonce twice (Apache Kafka 4.1.2 refuses it too); rfq up checks
    # PLAIN against the same credential.
    plain = {**AUTH, "sasl.mechanism": "PLAIN"}
    auth = [arg for key, value in plain.items() for arg in ("-X", f"{key}={value}")]
    produced = subprocess.run(["kcat", "-b", brokers, *auth, "-t", TOPIC, "-P", "-K:"], input=lines,
                              text=True, capture_output=True, timeout=60)
    check(produced.returncode == 0, f"kcat produces (exit {produced.returncode}: {produced.stderr.strip()})")
    consumed = subprocess.run(["kcat", "-b", brokers, *auth, "-t", TOPIC, "-C", "-o", "beginning", "-e",
                               "-f", "%k:%s\\n"], text=True, capture_output=True, timeout=60)
    check(consumed.returncode == 0, f"kcat consumes (exit {consumed.returncode}: {consumed.stderr.strip()})")
    seen = dict(line.split(":", 1) for line in consumed.stdout.splitlines() if line.startswith(marker))
    check(seen == want, f"kcat read back {len(seen)} of {len(want)} records as written")
    print(f"PASSED: kcat: {COUNT} records written and read back")


def run_client(command, client):
    result = subprocess.run(command, text=True, capture_output=True, timeout=300)
    sys.stdout.write(result.stdout)
    if result.returncode != 0:
        sys.stdout.write(result.stderr[-4000:])
        raise SystemExit(f"FAILED: {client} exited {result.returncode}")


def rfq_closes(base):
    rfq = {"from": {"lat": 52.52, "lon": 13.40}, "to": {"lat": 52.50, "lon": 13.45},
           "deadline-seconds": 10}
    status, headers, body = request("POST", f"{base}/rfqs", rfq)
    check(status == 202, f"POST /rfqs answers 202 (got {status} {body})")
    deadline = time.time() + 30
    while True:
        status, _, body = request("GET", base + headers["Location"])
        if status == 303:
            break
        if time.time() > deadline:
            raise SystemExit("FAILED: the RFQ did not close within 30 s")
        time.sleep(0.2)
    print("PASSED: an RFQ still closes after every client's records")


def main():
    binary = sys.argv[1]
    http_port, kafka_port = free_port(), free_port()
    base = f"http://127.0.0.1:{http_port}"
    brokers = f"127.0.0.1:{kafka_port}"
    with tempfile.TemporaryDirectory() as data_dir:
        log = open(os.path.join(data_dir, "rfq-up.log"), "w")
        process = subprocess.Popen(
            [binary, "up", "--http-addr", f"127.0.0.1:{http_port}", "--kafka-addr", brokers,
             "--data-dir", data_dir, "--schema-registry-addr", "127.0.0.1:0"],
            stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_http(base, process, data_dir)
            AUTH.update(kafka_operator(data_dir))
            no_credentials_no_access(brokers)
            confluent_kafka_clients(brokers)
            franz_go(brokers, data_dir)
            java_client(brokers)
            kcat(brokers)
            rfq_closes(base)
        except BaseException:
            log.flush()
            sys.stdout.write("rfq up's log, last lines:\n" + "".join(open(log.name).readlines()[-40:]))
            raise
        finally:
            interrupt(process)
    print("smoke: outside clients passed")


if __name__ == "__main__":
    main()
