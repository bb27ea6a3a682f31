#!/usr/bin/env python3
"""Runs the partner kit's examples against `rfq up`, as partners would.

Starts the real `rfq up --door acme` binary on free ports, then the two
examples of examples/ as separate processes of the partner `acme`, each
registering one unicorn in Hamburg (where `rfq up`'s simulated fleet is
not) through acme's door: partner.py (confluent-kafka's AvroSerializer)
and partner.rs (rdkafka + schema_registry_converter); and the HTTP partner
example (http_partner.py, standard library only), hosted by `rfq up
--partner kit-http=URL`.

- An RFQ from Hamburg is addressed to all three and closes with their
  quotes.
- Each partner reads rfq.door.acme.rfqs (PartnerRfq: no customer) and
  answers to rfq.door.acme.answers; the door forwards to rfq.quotes.
- Schema evolution: the Python partner upgrades to its own QuoteResponse
  v2 (an optional `note` with a default), which its AvroSerializer
  registers as version 2 of rfq.door.acme.answers-value; its next quote
  is framed with v2's id and carries the note at the door, is forwarded
  in our schema, and shows in the result next to the Rust partner's v1
  quote.
- A record with a schema id the registry does not know, and a quote whose
  currency is no ISO 4217 code, written at the door, are dead-lettered
  (kind `decode`, the id or the field in the reason, the provider in a
  header when it can be read, the partner `acme`) and counted per
  partner, and the pipeline goes on.

Prints one quote's journey: the serializer's bytes at the door, the
record forwarded to rfq.quotes, the result JSON.

With a registry URL as third argument, `rfq up` and both partners use that
registry (another implementation: tests/run passes Apicurio Registry's
Confluent API) instead of the one `rfq up` serves.

Usage: partner_examples.py PATH_TO_RFQ_BINARY PATH_TO_PARTNER_EXAMPLE_BINARY [REGISTRY_URL]
"""

import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from outside_client import add_partner, check, free_port, kafka_operator, request, wait_for_http

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
HAMBURG = {"lat": 53.55, "lon": 9.99}
PARTNER = "acme"
ANSWERS = f"rfq.door.{PARTNER}.answers"


def start_partner(command, log_path):
    """Starts an example; returns once its first heartbeat is out."""
    log = open(log_path, "w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"FAILED: {command[0]} exited with {process.returncode}: "
                             f"{open(log_path).read()}")
        if "heartbeat ONLINE" in open(log_path).read():
            return process
        time.sleep(0.1)
    raise SystemExit(f"FAILED: no heartbeat from {command}")


def stop_partner(process, log_path, name):
    process.send_signal(signal.SIGINT)
    try:
        code = process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        raise SystemExit(f"FAILED: {name} still running 30 s after Ctrl-C; its log:\n"
                         f"{open(log_path).read()}")
    check(code == 0 and "heartbeat OFFLINE" in open(log_path).read(),
          f"{name} stops on Ctrl-C with an OFFLINE heartbeat (exit {code})")


def quote_both(base, providers):
    """Submits RFQs from Hamburg until one is addressed to `providers`
    (heartbeats take a moment to reach the producer); its closed result."""
    deadline = time.time() + 60
    while time.time() < deadline:
        status, headers, body = request("POST", f"{base}/rfqs", {
            "from": HAMBURG, "to": {"lat": 53.56, "lon": 10.0},
            "deadline-seconds": 20})
        check(status == 202, f"POST /rfqs answers 202 (got {status} {body})")
        if body["providers-addressed"] == len(providers):
            break
        time.sleep(0.5)
    else:
        raise SystemExit("FAILED: no RFQ was addressed to the partners within 60 s")
    location = headers["Location"]
    while time.time() < deadline + 30:
        status, headers, _ = request("GET", base + location)
        if status == 303:
            status, _, result = request("GET", base + headers["Location"])
            return result
        time.sleep(0.1)
    raise SystemExit(f"FAILED: {location} did not close")


# rfq up's Kafka operator (read from its data directory): this check reads
# what no partner may (the dead letters, the door's answers, rfq.quotes).
OPERATOR = {}


def dead_letters(brokers, values):
    """The dead letters of these record values: (kind, reason, provider) each."""
    consumer = Consumer({"bootstrap.servers": brokers, "group.id": "rfq.door.acme.kit-dlq",
                         "auto.offset.reset": "earliest", **OPERATOR})
    consumer.subscribe(["rfq.dead-letter"])
    found = {}
    deadline = time.time() + 30
    while len(found) < len(values) and time.time() < deadline:
        message = consumer.poll(1.0)
        if message is None or message.error() or message.value() not in values:
            continue
        headers = {k: v.decode() for k, v in message.headers() or []}
        found[message.value()] = (headers.get("rfq.dlq.kind"), headers.get("rfq.dlq.reason", ""),
                                  headers.get("rfq.dlq.provider"), headers.get("rfq.dlq.partner"))
    consumer.close()
    check(len(found) == len(values), f"{len(found)} of {len(values)} records dead-lettered")
    return found


def quotes_by_provider(result):
    return {q["provider"]: q for q in result["quotes"]}


def main():
    binary, rust_partner = sys.argv[1], sys.argv[2]
    http, kafka, registry_port = free_port(), free_port(), free_port()
    http_partner_port = free_port()
    base = f"http://127.0.0.1:{http}"
    # `rfq up`'s registry is guarded: the partners and this check reach it
    # as its operator (the password given in RFQ_REGISTRY_OPERATOR_PASSWORD),
    # the credentials in the URL as Confluent's clients and reqwest take them.
    operator = ("rfq-operator", "smoke-operator-password-0123456789")
    brokers, plain_url = f"127.0.0.1:{kafka}", f"http://127.0.0.1:{registry_port}"
    registry_url = f"http://{operator[0]}:{operator[1]}@127.0.0.1:{registry_port}"
    registry_flags = ["--schema-registry-addr", f"127.0.0.1:{registry_port}"]
    auth_header = {"Authorization": "Basic " + base64.b64encode(
        f"{operator[0]}:{operator[1]}".encode()).decode()}
    if len(sys.argv) > 3:
        registry_url = plain_url = sys.argv[3]
        registry_flags = ["--schema-registry-url", registry_url]
        auth_header = {}
    print(f"schema registry: {plain_url}")
    with tempfile.TemporaryDirectory() as data_dir:
        # The partner, as an operator makes it: its secrets printed once.
        kafka_password, registry_password = add_partner(binary, data_dir, PARTNER)
        # With rfq up's registry, the partners authenticate as acme; another
        # registry (Apicurio) is open.
        partner_registry = ["--registry", plain_url]
        if len(sys.argv) <= 3:
            partner_registry += ["--registry-password", registry_password]
        common = ["--brokers", brokers, "--lat", str(HAMBURG["lat"]), "--lon", str(HAMBURG["lon"]),
                  "--partner-name", PARTNER, "--kafka-password", kafka_password] + partner_registry
        python_partner = [sys.executable, os.path.join(ROOT, "examples", "partner.py")] + common
        acme = {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-256",
                "sasl.username": PARTNER, "sasl.password": kafka_password}
        http_partner = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "examples", "http_partner.py"), "--port",
             str(http_partner_port), "--providers", "1", "--lat", str(HAMBURG["lat"]),
             "--lon", str(HAMBURG["lon"])],
            stdout=open(os.path.join(data_dir, "http_partner.log"), "w"),
            stderr=subprocess.STDOUT)
        up = subprocess.Popen(
            [binary, "up", "--http-addr", f"127.0.0.1:{http}", "--kafka-addr", brokers,
             "--data-dir", data_dir, "--door", PARTNER,
             "--partner", f"kit-http=http://127.0.0.1:{http_partner_port}/"] + registry_flags,
            env={**os.environ, "RFQ_REGISTRY_OPERATOR_PASSWORD": operator[1]},
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(data_dir, "up.log"), "w"))
        partners = [http_partner]
        try:
            wait_for_http(base, up, data_dir)
            OPERATOR.update(kafka_operator(data_dir))
            registry = SchemaRegistryClient({"url": registry_url})
            # `rfq up`'s registry: the subject's own level, set at start-up.
            # Apicurio answers NONE for "no level of the subject's own"
            # (Confluent: 404), so there the level in effect is read.
            fallback = "?defaultToGlobal=true" if len(sys.argv) > 3 else ""
            with urllib.request.urlopen(urllib.request.Request(
                    f"{plain_url}/config/rfq.quotes-value{fallback}",
                    headers=auth_header)) as response:
                level = json.loads(response.read())["compatibilityLevel"]
            check(registry.get_versions("rfq.quotes-value") == [1] and level == "BACKWARD",
                  f"rfq up registered rfq.quotes-value at start-up; its level is {level}")

            py_log, rs_log = os.path.join(data_dir, "py.log"), os.path.join(data_dir, "rs.log")
            py = start_partner(python_partner + ["--provider", "acme-py-1", "--price-minor", "1500"],
                               py_log)
            partners.append(py)
            rs = start_partner([rust_partner] + common + ["--provider", "acme-rs-1",
                                                          "--price-minor", "1700"], rs_log)
            partners.append(rs)
            result = quote_both(base, ["acme-py-1", "acme-rs-1", "kit-http-car-1"])
            quotes = quotes_by_provider(result)
            check(result["closed-by"] == "all-answered"
                  and quotes.get("acme-py-1", {}).get("price") == "15.00"
                  and quotes.get("acme-rs-1", {}).get("price") == "17.00"
                  and quotes.get("kit-http-car-1", {}).get("price") == "12.50",
                  f"the three examples' quotes are in the result: {sorted(quotes)}")

            # The Python partner upgrades to its own QuoteResponse v2.
            stop_partner(py, py_log, "partner.py")
            partners.remove(py)
            v2 = json.load(open(os.path.join(ROOT, "avro", "schemas", "quote_response.avsc")))
            v2["fields"].append({"name": "note", "type": ["null", "string"], "default": None})
            v2_path = os.path.join(data_dir, "quote_response_v2.avsc")
            json.dump(v2, open(v2_path, "w"))
            py = start_partner(python_partner + ["--provider", "acme-py-1", "--price-minor", "1400",
                                                 "--quote-schema", v2_path,
                                                 "--extra", json.dumps({"note": "child seat"})],
                               py_log)
            partners.append(py)
            result = quote_both(base, ["acme-py-1", "acme-rs-1", "kit-http-car-1"])
            quotes = quotes_by_provider(result)
            check(quotes.get("acme-py-1", {}).get("price") == "14.00"
                  and quotes.get("acme-rs-1", {}).get("price") == "17.00",
                  "the v2 quote (Python) and a v1 quote (Rust) are both in the result")
            subject = f"{ANSWERS}-value"
            latest = registry.get_latest_version(subject)
            check(registry.get_versions(subject) == [1, 2]
                  and "note" in latest.schema.schema_str,
                  f"the partner's AvroSerializer registered v2 as id {latest.schema_id}")

            # The journey of that quote: at the door framed with v2's id,
            # forwarded to rfq.quotes in our schema.
            reader = AvroDeserializer(registry)

            def find(topic, wanted):
                consumer = Consumer({"bootstrap.servers": brokers,
                                     "group.id": f"rfq.door.acme.kit-check-{topic}",
                                     "auto.offset.reset": "earliest", **OPERATOR})
                consumer.subscribe([topic])
                deadline = time.time() + 30
                try:
                    while time.time() < deadline:
                        message = consumer.poll(1.0)
                        if message is None or message.error() or message.key() != result["id"].encode():
                            continue
                        value = message.value()
                        decoded = reader(value, SerializationContext(topic, MessageField.VALUE))
                        if wanted(value, decoded):
                            return value, decoded
                finally:
                    consumer.close()
                return None

            at_door = find(ANSWERS, lambda value, decoded:
                           int.from_bytes(value[1:5], "big") == latest.schema_id)
            check(at_door is not None and at_door[1]["note"] == "child seat"
                  and at_door[1]["provider"] == "acme-py-1",
                  "at the door the quote is framed with v2's id and carries the note")
            ours = registry.get_latest_version("rfq.quotes-value").schema_id
            forwarded = find("rfq.quotes", lambda value, decoded:
                             decoded.get("provider") == "acme-py-1"
                             and decoded.get("outcome", {}).get("price_minor") == 1400)
            check(forwarded is not None and int.from_bytes(forwarded[0][1:5], "big") == ours
                  and "note" not in forwarded[1],
                  "the door forwarded it to rfq.quotes in our schema (id of rfq.quotes-value)")
            print("journey of one quote:")
            print(f"  AvroSerializer wrote {len(at_door[0])} bytes: {at_door[0][:5].hex(' ')} | "
                  f"{at_door[0][5:].hex(' ')}")
            print(f"  read at the door (partner's v2): {at_door[1]}")
            print(f"  forwarded to rfq.quotes (ours): {forwarded[1]}")
            print(f"  in the result: {json.dumps(quotes['acme-py-1'])}")

            # A schema id nobody registered: dead-lettered with the reason.
            producer = Producer({"bootstrap.servers": brokers, **acme})
            unknown = bytes([0]) + (999_999).to_bytes(4, "big") + b"\x02\x04"
            producer.produce(ANSWERS, key=result["id"], value=unknown)
            # A well-framed quote whose currency is no ISO 4217 code: refused,
            # with the reason and the partner's provider id.
            bad = AvroSerializer(registry, open(os.path.join(ROOT, "avro", "schemas",
                                                              "quote_response.avsc")).read())
            euro = bad({"correlation_id": result["id"], "provider": "acme-py-1",
                        "responded_at": int(time.time() * 1000),
                        "outcome": {"price_minor": 900, "currency": "euro", "pickup_eta_seconds": 60}},
                       SerializationContext(ANSWERS, MessageField.VALUE))
            producer.produce(ANSWERS, key=result["id"], value=euro)
            producer.flush(10)
            letters = dead_letters(brokers, [unknown, euro])
            kind, reason, _, partner = letters[unknown]
            check(kind == "decode" and "schema id 999999" in reason and partner == PARTNER,
                  f"an unknown schema id is dead-lettered naming {partner}: {kind}, {reason}")
            kind, reason, provider, _ = letters[euro]
            check(kind == "decode" and "currency" in reason and provider == "acme-py-1",
                  f"an invalid quote is dead-lettered naming its provider {provider}: {reason}")
            with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
                metrics = response.read().decode()
            check('rfq_door_dead_letters_total{kind="decode",partner="acme"} 2' in metrics,
                  "both counted as rfq_door_dead_letters_total{kind=\"decode\",partner=\"acme\"}")
            result = quote_both(base, ["acme-py-1", "acme-rs-1", "kit-http-car-1"])
            check(len(result["quotes"]) == 3, "the pipeline quotes on after the dead letter")

            for process, log, name in ((py, py_log, "partner.py"), (rs, rs_log, "partner.rs")):
                stop_partner(process, log, name)
                partners.remove(process)
        finally:
            for process in partners:
                process.kill()
            up.send_signal(signal.SIGINT)
            check(up.wait(timeout=60) == 0, "rfq up stops cleanly on SIGINT")
    print("partner examples: every check passed")


if __name__ == "__main__":
    main()
