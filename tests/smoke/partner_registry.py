#!/usr/bin/env python3
"""Checks `rfq up`'s schema registry with Confluent's own Python client.

Starts the real `rfq up` binary on free ports, then drives its schema
registry with confluent-kafka's SchemaRegistryClient, AvroSerializer and
AvroDeserializer (code we did not write, as a partner would):

- registering a schema returns a global id; again, the same id; lookup,
  latest version, schema by id and the subject list agree;
- a compatible evolution (an optional field with a default) is accepted as
  version 2; an incompatible one (a field without a default) is refused
  with Confluent's 409;
- a record serialized with version 2 is read with version 1 as the reader
  schema (Confluent framing: magic byte 0 and the schema id);
- after a restart of `rfq up` on the same data directory, ids, versions
  and levels are still there (the registry replays its topic);
- unknown ids and subjects are refused with Confluent's error codes;
- without credentials the registry answers 401 (`rfq up` guards it: the
  client authenticates as its operator, `rfq-operator` with the password
  given in RFQ_REGISTRY_OPERATOR_PASSWORD).

With a registry URL as second argument, the client's checks run against
that registry instead (tests/run: Apicurio Registry), without `rfq up`.

Usage: partner_registry.py PATH_TO_RFQ_BINARY [REGISTRY_URL]
"""

import copy
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

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

SCHEMAS = os.path.join(os.path.dirname(__file__), "..", "..", "avro", "schemas")
SUBJECT = "rfq.quotes-value"
# `rfq up`'s registry operator, as the environment names it for `rfq up`.
OPERATOR = ("rfq-operator", "smoke-operator-password-0123456789")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check(condition, message):
    if not condition:
        raise SystemExit(f"FAILED: {message}")
    print(f"ok: {message}")


def start(binary, data_dir, ports):
    http, kafka, registry = ports
    process = subprocess.Popen(
        [binary, "up", "--http-addr", f"127.0.0.1:{http}", "--kafka-addr", f"127.0.0.1:{kafka}",
         "--schema-registry-addr", f"127.0.0.1:{registry}", "--data-dir", data_dir],
        env={**os.environ, "RFQ_REGISTRY_OPERATOR_PASSWORD": OPERATOR[1]},
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(data_dir, "up.log"), "ab"),
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"rfq up exited early with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http}/health", timeout=2) as r:
                if r.status == 200:
                    return process
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("rfq up did not serve /health in time")


def stop(process):
    process.send_signal(signal.SIGINT)
    check(process.wait(timeout=60) == 0, "rfq up stops cleanly on SIGINT")


def evolved(schema_text, field):
    schema = json.loads(schema_text)
    schema = copy.deepcopy(schema)
    schema["fields"].append(field)
    return json.dumps(schema)


def refused(call, http_status, code):
    try:
        call()
    except SchemaRegistryError as error:
        return error.http_status_code == http_status and error.error_code == code
    return False


def client(url, auth=None):
    """Confluent's client of the registry at `url`, as `auth` (user, password)."""
    conf = {"url": url}
    if auth:
        conf["basic.auth.user.info"] = f"{auth[0]}:{auth[1]}"
    return SchemaRegistryClient(conf)


def confluent_checks(url, subject, auth=None):
    """Confluent's client against the registry at `url`, on a fresh
    `subject`; returns the ids of versions 1 and 2."""
    v1 = open(os.path.join(SCHEMAS, "quote_response.avsc")).read()
    v2 = evolved(v1, {"name": "note", "type": ["null", "string"], "default": None})
    breaking = evolved(v1, {"name": "vehicle", "type": "string"})
    registry = client(url, auth)
    first = registry.register_schema(subject, Schema(v1, "AVRO"))
    check(first >= 1, f"QuoteResponse registered under {subject} as id {first}")
    check(registry.register_schema(subject, Schema(v1, "AVRO")) == first,
          "registering it again returns the same id")
    check(registry.lookup_schema(subject, Schema(v1, "AVRO")).version == 1,
          "lookup finds version 1")
    check(subject in registry.get_subjects(), "the subject is listed")
    check(json.loads(registry.get_schema(first).schema_str)["name"] == "QuoteResponse",
          "the schema is served by its id")
    check(registry.get_compatibility() == "BACKWARD", "the global level is BACKWARD")

    check(registry.test_compatibility(subject, Schema(v2, "AVRO")),
          "an added optional field with a default is compatible")
    second = registry.register_schema(subject, Schema(v2, "AVRO"))
    latest = registry.get_latest_version(subject)
    check(second != first and latest.version == 2 and latest.schema_id == second,
          f"version 2 registered as id {second}")
    check(not registry.test_compatibility(subject, Schema(breaking, "AVRO")),
          "a field without a default is not compatible")
    check(refused(lambda: registry.register_schema(subject, Schema(breaking, "AVRO")), 409, 409),
          "registering it is refused with Confluent's 409")

    serializer = AvroSerializer(registry, v2, conf={"auto.register.schemas": False, "use.latest.version": True})
    context = SerializationContext(subject.removesuffix("-value"), MessageField.VALUE)
    quote = {
        "correlation_id": "5b0c1f7e-2d4b-4d36-9a7e-0c1d2e3f4a5b",
        "provider": "partner-1",
        "responded_at": 1_764_000_000_000,
        "outcome": {"price_minor": 1230, "currency": "EUR", "pickup_eta_seconds": 240},
        "note": "child seat on board",
    }
    framed = serializer(quote, context)
    check(framed[0] == 0 and int.from_bytes(framed[1:5], "big") == second,
          "the serializer frames the record with magic byte 0 and the id of version 2")
    reader = AvroDeserializer(registry, v1)
    read = reader(framed, context)
    check(read["provider"] == "partner-1" and "note" not in read
          and read["outcome"]["price_minor"] == 1230,
          "a version-2 record is read with version 1 as the reader schema")

    registry.set_compatibility(subject, "FULL")
    check(registry.get_compatibility(subject) == "FULL", "the subject's level is set to FULL")
    check(refused(lambda: registry.get_schema(999_999), 404, 40403), "an unknown id is 40403")
    check(refused(lambda: registry.get_versions("nobody-value"), 404, 40401),
          "an unknown subject is 40401")
    return first, second


def main():
    binary = sys.argv[1]
    if len(sys.argv) > 2:
        # Another registry (tests/run: Apicurio's Confluent API): the
        # client's checks only; its durability is its own business.
        confluent_checks(sys.argv[2], "partner-check-value")
        print(f"partner registry ({sys.argv[2]}): every check passed")
        return
    v1 = open(os.path.join(SCHEMAS, "quote_response.avsc")).read()
    ports = (free_port(), free_port(), free_port())
    url = f"http://127.0.0.1:{ports[2]}"
    with tempfile.TemporaryDirectory() as data_dir:
        process = start(binary, data_dir, ports)
        try:
            try:
                urllib.request.urlopen(f"{url}/subjects", timeout=5)
                check(False, "the registry refuses a request without credentials")
            except urllib.error.HTTPError as error:
                check(error.code == 401 and error.headers["WWW-Authenticate"].startswith("Basic"),
                      "the registry refuses a request without credentials with 401")
            first, second = confluent_checks(url, SUBJECT, OPERATOR)
        finally:
            stop(process)

        process = start(binary, data_dir, ports)
        try:
            registry = client(url, OPERATOR)
            check(registry.get_versions(SUBJECT) == [1, 2], "after a restart: both versions")
            check(registry.get_latest_version(SUBJECT).schema_id == second, "after a restart: the same ids")
            check(registry.get_compatibility(SUBJECT) == "FULL", "after a restart: the subject's level")
            third = registry.register_schema("rfq.other-value", Schema(v1, "AVRO"))
            check(third == first, "the same schema under another subject shares its id")
        finally:
            stop(process)
    print("partner registry: every check passed")


if __name__ == "__main__":
    main()
