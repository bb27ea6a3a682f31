#!/usr/bin/env python3
"""A rogue partner against `rfq up`, as issue 27 measured it before doors.

Starts the real `rfq up`, adds two partners with `rfq partners add`:
`honest`, running examples/partner.py with one unicorn in Hamburg, and
`rogue`, a partner with valid credentials and bad intentions. Then 20 RFQs
from Hamburg, and for each the rogue, knowing the RFQ's id (the worst
case: it cannot read it anywhere), tries what a rogue partner did before:

- read `rfq.requests` (every customer's trips) and the honest partner's
  door: records read must be 0, refused by the broker;
- decline in the honest partner's name, to `rfq.quotes` directly (refused
  by the broker) and through its own door (dead-lettered as
  `impersonation`): the honest quote must stand in every result.

Prints the figures: RFQs read that were not the rogue's, competitor answers
overridden (before doors: 19-20 of 20 read, every targeted competitor
overridden).

Usage: rogue_partner.py PATH_TO_RFQ_BINARY
"""

import os
import subprocess
import sys
import tempfile
import time
import urllib.request

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from outside_client import add_partner, check, free_port, interrupt, request, wait_for_http

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
HAMBURG = {"lat": 53.55, "lon": 9.99}
RFQS = 20


def sasl(user, password):
    return {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-256",
            "sasl.username": user, "sasl.password": password}


def records_read(brokers, auth, topic):
    """Records the rogue reads from every partition of `topic` within 5 s (0 when refused)."""
    consumer = Consumer({"bootstrap.servers": brokers, "group.id": "rfq.door.rogue.spy",
                         "enable.auto.commit": False, **auth})
    read = 0
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if metadata is None or metadata.error is not None:
            print(f"  {topic}: {metadata.error if metadata else 'not listed'}")
            return 0
        consumer.assign([TopicPartition(topic, p, 0) for p in metadata.partitions])
        deadline = time.time() + 5
        while time.time() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                read += 1
            elif message is not None:
                print(f"  {topic}: {message.error()}")
                break
    except KafkaException as error:
        print(f"  {topic}: {error}")
    finally:
        consumer.close()
    return read


def main():
    binary = sys.argv[1]
    http, kafka, registry_port = free_port(), free_port(), free_port()
    base, brokers = f"http://127.0.0.1:{http}", f"127.0.0.1:{kafka}"
    registry_url = f"http://127.0.0.1:{registry_port}"
    with tempfile.TemporaryDirectory() as data_dir:
        honest_kafka, honest_registry = add_partner(binary, data_dir, "honest")
        rogue_kafka, rogue_registry = add_partner(binary, data_dir, "rogue")
        up = subprocess.Popen(
            [binary, "up", "--http-addr", f"127.0.0.1:{http}", "--kafka-addr", brokers,
             "--data-dir", data_dir, "--schema-registry-addr", f"127.0.0.1:{registry_port}"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(data_dir, "up.log"), "w"))
        honest = None
        try:
            wait_for_http(base, up, data_dir)
            log = os.path.join(data_dir, "honest.log")
            honest = subprocess.Popen(
                [sys.executable, os.path.join(ROOT, "examples", "partner.py"), "--brokers", brokers,
                 "--registry", registry_url, "--registry-password", honest_registry,
                 "--kafka-password", honest_kafka, "--partner-name", "honest",
                 "--provider", "honest-car-1", "--lat", str(HAMBURG["lat"]),
                 "--lon", str(HAMBURG["lon"])],
                stdout=open(log, "w"), stderr=subprocess.STDOUT)
            rogue = sasl("rogue", rogue_kafka)
            registry = SchemaRegistryClient({"url": registry_url,
                                             "basic.auth.user.info": f"rogue:{rogue_registry}"})
            schema = open(os.path.join(ROOT, "avro", "schemas", "quote_response.avsc")).read()
            decline = AvroSerializer(registry, schema)
            producer = Producer({"bootstrap.servers": brokers, "message.timeout.ms": 10000, **rogue})
            refused = []

            def delivered(error, _message):
                if error is not None:
                    refused.append(error.name())

            ids, deadline = [], time.time() + 90
            while len(ids) < RFQS and time.time() < deadline:
                status, headers, body = request("POST", f"{base}/rfqs", {
                    "from": HAMBURG, "to": {"lat": 53.56, "lon": 10.0}, "deadline-seconds": 10})
                check(status == 202, f"POST /rfqs answers 202 (got {status})")
                if body["providers-addressed"] != 1:
                    time.sleep(0.5)  # the honest unicorn's heartbeat is on its way
                    continue
                ids.append((body["id"], headers["Location"]))
                for topic in ["rfq.quotes", "rfq.door.rogue.answers"]:
                    record = {"correlation_id": body["id"], "provider": "honest-car-1",
                              "responded_at": int(time.time() * 1000),
                              "outcome": {"reason": "rogue says no"}}
                    value = decline(record, SerializationContext("rfq.door.rogue.answers",
                                                                 MessageField.VALUE))
                    try:
                        producer.produce(topic, key=body["id"], value=value, on_delivery=delivered)
                    except KafkaException as error:  # refused at once: the topic's metadata says so
                        refused.append(error.args[0].name())
                producer.poll(0)
            producer.flush(30)
            check(len(ids) == RFQS, f"{len(ids)} RFQs addressed to the honest unicorn")

            read = records_read(brokers, rogue, "rfq.requests")
            read_door = records_read(brokers, rogue, "rfq.door.honest.rfqs")
            overridden = 0
            for rfq_id, location in ids:
                while True:
                    status, headers, _ = request("GET", base + location)
                    if status == 303:
                        break
                    time.sleep(0.2)
                _, _, result = request("GET", base + headers["Location"])
                quoted = any(q["provider"] == "honest-car-1" for q in result["quotes"])
                declined = any(d["provider"] == "honest-car-1" for d in result["declines"])
                overridden += int(declined or not quoted)
            with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
                metrics = response.read().decode()
            impersonations = next((line.split()[-1] for line in metrics.splitlines()
                                   if line.startswith("rfq_door_dead_letters_total")
                                   and 'kind="impersonation"' in line
                                   and 'partner="rogue"' in line), "0")
            print(f"rogue partner: RFQs read from rfq.requests: {read}; from the honest door: "
                  f"{read_door}; direct writes refused: {refused.count('TOPIC_AUTHORIZATION_FAILED')}"
                  f" of {RFQS}; door answers dead-lettered as impersonation: {impersonations}; "
                  f"competitor answers overridden: {overridden} of {RFQS}")
            check(read == 0 and read_door == 0, "the rogue reads no RFQ that is not addressed to it")
            check(refused.count("TOPIC_AUTHORIZATION_FAILED") == RFQS,
                  "every write to rfq.quotes is refused by the broker")
            check(float(impersonations) == RFQS, "every answer in another's name is dead-lettered")
            check(overridden == 0, "the honest quote stands in every result")
        finally:
            if honest is not None:
                interrupt(honest, 30)
            interrupt(up)
    print("smoke: rogue partner passed")


if __name__ == "__main__":
    main()
