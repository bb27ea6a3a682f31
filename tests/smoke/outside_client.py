#!/usr/bin/env python3
"""Checks `rfq up` as a user would, from outside the process.

Starts the real `rfq up` binary on free ports in a fresh data directory,
submits the README's RFQ over HTTP (202, then 303, then a result with
quotes), connects Python's confluent-kafka (librdkafka 2.x) to the embedded
broker to list the topics and read region keys from rfq.requests, then stops
the pipeline with SIGINT and expects a clean exit.

Usage: outside_client.py PATH_TO_RFQ_BINARY
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


OPENER = urllib.request.build_opener(NoRedirect)


# The API key requests carry: `rfq up`'s demo key, read by wait_for_http
# from the data directory as the README's curl does (`$(cat …)`).
API_KEY = None


def request(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("content-type", "application/json")
    if API_KEY is not None:
        req.add_header("authorization", f"Bearer {API_KEY}")
    try:
        with OPENER.open(req, timeout=10) as response:
            return response.status, response.headers, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, error.headers, json.loads(error.read() or b"null")


def wait_for_http(base, process, data_dir=None, timeout=120):
    """Waits for rfq up's /health; with data_dir, then takes its demo API key."""
    global API_KEY
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"rfq up exited early with {process.returncode}")
        try:
            status, _, _ = request("GET", f"{base}/health")
            if status == 200:
                if data_dir is not None:
                    with open(os.path.join(data_dir, "demo-api-key")) as key:
                        API_KEY = key.read().strip()
                return
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.2)
    raise SystemExit("rfq up did not serve /health in time")


def check(condition, message):
    if not condition:
        raise SystemExit(f"FAILED: {message}")
    print(f"ok: {message}")


def main():
    binary = sys.argv[1]
    http_port, kafka_port = free_port(), free_port()
    base = f"http://127.0.0.1:{http_port}"
    brokers = f"127.0.0.1:{kafka_port}"
    with tempfile.TemporaryDirectory() as data_dir:
        process = subprocess.Popen(
            [binary, "up", "--http-addr", f"127.0.0.1:{http_port}",
             "--kafka-addr", brokers, "--data-dir", data_dir,
             "--schema-registry-addr", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        try:
            wait_for_http(base, process)
            rfq = {"from": {"lat": 52.52, "lon": 13.40}, "to": {"lat": 52.50, "lon": 13.45},
                   "deadline-seconds": 30}
            status, _, body = request("POST", f"{base}/rfqs", rfq)
            check(status == 401 and body["status"] == 401,
                  f"POST /rfqs without an API key answers 401 (got {status})")
            wait_for_http(base, process, data_dir)
            status, headers, body = request("POST", f"{base}/rfqs", rfq)
            check(status == 202, f"POST /rfqs answers 202 (got {status} {body})")
            location = headers["Location"]
            check(location.startswith("/rfqs/") and body["status"] == "running" and "eta" in body,
                  f"202 carries Location {location}, status running and an eta")

            deadline = time.time() + 60
            while True:
                status, headers, body = request("GET", base + location)
                if status == 303:
                    break
                check(status == 200 and body["status"] == "running", "polling answers 200 running")
                if time.time() > deadline:
                    raise SystemExit("FAILED: RFQ did not close in 60 s")
                time.sleep(0.2)
            result_location = headers["Location"]
            check(result_location == location + "/result", "303 See Other to the result")
            status, _, result = request("GET", base + result_location)
            check(status == 200 and len(result["quotes"]) > 0,
                  f"result has {len(result['quotes'])} quotes, closed by {result['closed-by']}")

            # rfq up's broker authenticates: as its operator (the settings
            # it wrote for this run in its data directory).
            operator = kafka_operator(data_dir)
            admin = AdminClient({"bootstrap.servers": brokers, **operator})
            topics = admin.list_topics(timeout=10).topics
            check(len(topics["rfq.requests"].partitions) > 1,
                  f"rfq.requests has {len(topics['rfq.requests'].partitions)} partitions")
            check("rfq.quotes" in topics, "rfq.quotes is listed")
            del admin

            consumer = Consumer({"bootstrap.servers": brokers, **operator, "group.id": "smoke-outside",
                                 "auto.offset.reset": "earliest"})
            consumer.subscribe(["rfq.requests"])
            keys = set()
            deadline = time.time() + 30
            while not keys and time.time() < deadline:
                message = consumer.poll(1.0)
                if message is not None and message.error() is None:
                    keys.add(message.key().decode())
            consumer.close()
            check(keys == {result["region"]}, f"rfq.requests is keyed by region: {keys}")
        finally:
            process.send_signal(signal.SIGINT)
            try:
                output, _ = process.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                output, _ = process.communicate()
                raise SystemExit(f"FAILED: rfq up did not stop on SIGINT\n{output}")
        check(process.returncode == 0, f"rfq up exits 0 on Ctrl-C (got {process.returncode})")
        check("RFQ pipeline stopped." in output, "rfq up reports a clean stop")
    print("smoke: every check passed")



def kafka_operator(data_dir):
    """The client settings `rfq up` wrote for its Kafka operator in data_dir
    (kafka-operator.properties, readable by its owner only): every key but
    the bootstrap servers, as librdkafka takes them."""
    path = os.path.join(data_dir, "kafka-operator.properties")
    settings = {}
    for line in open(path).read().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            settings[key.strip()] = value.strip()
    mode = os.stat(path).st_mode & 0o077
    check(mode == 0, f"{path} is readable by its owner only (mode {oct(mode)})")
    settings.pop("bootstrap.servers", None)
    return settings


def add_partner(binary, data_dir, name):
    """`rfq partners add NAME` on rfq up's store in data_dir: (Kafka password, registry password)."""
    result = subprocess.run([binary, "partners", "add", name, "--store-path",
                             os.path.join(data_dir, "results.db")],
                            text=True, capture_output=True, timeout=60)
    check(result.returncode == 0, f"rfq partners add {name} ({result.stderr.strip()[-400:]})")
    secret = lambda label: next(line.split()[-1] for line in result.stdout.splitlines()
                                if line.strip().startswith(label))
    return secret("kafka password:"), secret("registry password:")


def interrupt(process, timeout=60):
    """Ctrl-C to `process`; killed if it has not stopped within `timeout` s."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()


if __name__ == "__main__":
    main()
