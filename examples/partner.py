#!/usr/bin/env python3
"""A partner provider in Python, as docs/partners.md describes one.

Goes through its door (rfq.door.NAME.*): registers one unicorn with
heartbeats on the door's heartbeats topic, reads the door's RFQs and quotes
the ones addressed to it to their answer_to topic. Only confluent-kafka's
standard tooling: Producer, Consumer, SchemaRegistryClient, AvroSerializer
and AvroDeserializer; the schemas are avro/schemas/*.avsc.

    pip install 'confluent-kafka[avro,schemaregistry]'
    rfq up --door acme &
    python examples/partner.py --partner-name acme --provider acme-py-1 --lat 53.55 --lon 9.99

A newer QuoteResponse of your own (a field added with a default) is
--quote-schema FILE, its extra fields --extra '{"note": "child seat"}'.
Ctrl-C (or SIGTERM) sends an OFFLINE heartbeat and stops.
"""
import argparse, json, os, signal, time
from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

SCHEMAS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "avro", "schemas")


def geohash(lat, lon, precision):
    """The region of a position: its geohash, bits alternating lon and lat."""
    ranges, code, index, bits, even = [[-90.0, 90.0], [-180.0, 180.0]], "", 0, 0, True
    while len(code) < precision:
        interval, value = (ranges[1], lon) if even else (ranges[0], lat)
        mid = (interval[0] + interval[1]) / 2
        index, interval[value < mid] = index * 2 + (value >= mid), mid
        even, bits = not even, bits + 1
        if bits == 5:
            code, index, bits = code + "0123456789bcdefghjkmnpqrstuvwxyz"[index], 0, 0
    return code


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--brokers", default="127.0.0.1:9092")
    p.add_argument("--registry", default="http://127.0.0.1:8081")
    p.add_argument("--partner-name", required=True, help="your partner name: your door is rfq.door.NAME.")
    p.add_argument("--provider", required=True, help="your unicorn's id: NAME-...")
    p.add_argument("--lat", type=float, required=True)
    p.add_argument("--lon", type=float, required=True)
    p.add_argument("--precision", type=int, default=5, help="the pipeline's --region-precision")
    p.add_argument("--price-minor", type=int, default=1500)
    p.add_argument("--currency", default="EUR")
    p.add_argument("--quote-schema", default=os.path.join(SCHEMAS, "quote_response.avsc"))
    p.add_argument("--extra", type=json.loads, default={})
    p.add_argument("--kafka-password", default=os.environ.get("RFQ_PARTNER_KAFKA_PASSWORD"),
                   help="your Kafka password from `rfq partners add` (user: your partner name)")
    p.add_argument("--registry-password", default=os.environ.get("RFQ_PARTNER_REGISTRY_PASSWORD"),
                   help="your registry password from `rfq partners add`")
    args = p.parse_args()
    # Who we are: SASL/SCRAM-SHA-256 to Kafka, HTTP Basic to the registry.
    kafka_auth = {} if args.kafka_password is None else {
        "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-256",
        "sasl.username": args.partner_name, "sasl.password": args.kafka_password}
    registry_auth = {} if args.registry_password is None else {
        "basic.auth.user.info": f"{args.partner_name}:{args.registry_password}"}

    door = f"rfq.door.{args.partner_name}."
    rfqs_topic, heartbeats_topic = door + "rfqs", door + "heartbeats"
    registry = SchemaRegistryClient({"url": args.registry, **registry_auth})
    beat = AvroSerializer(registry, open(os.path.join(SCHEMAS, "provider_heartbeat.avsc")).read())
    answer = AvroSerializer(registry, open(args.quote_schema).read())
    rfqs = AvroDeserializer(registry)
    value = lambda topic: SerializationContext(topic, MessageField.VALUE)
    producer = Producer({"bootstrap.servers": args.brokers, **kafka_auth})
    # A consumer group under the door's prefix (the partner's ACLs are on it).
    consumer = Consumer({"bootstrap.servers": args.brokers, "group.id": f"{door}{args.provider}",
                         "auto.offset.reset": "earliest", **kafka_auth})
    consumer.subscribe([rfqs_topic])

    def heartbeat(status):
        record = {"provider": args.provider, "adapter": "partner.py", "status": status,
                  "region": geohash(args.lat, args.lon, args.precision),
                  "position": {"lat": args.lat, "lon": args.lon},
                  "at": int(time.time() * 1000), "valid_for_ms": 30_000}
        producer.produce(heartbeats_topic, key=args.provider, value=beat(record, value(heartbeats_topic)))
        if producer.flush(10):
            print(f"heartbeat {status} not delivered yet (is Kafka reachable?)", flush=True)
        else:
            print(f"heartbeat {status} {args.provider}", flush=True)

    # Ctrl-C and SIGTERM end the loop between polls (not an exception in
    # the middle of a delivery or a poll), then OFFLINE and a clean close.
    # A second Ctrl-C stops at once (the default again).
    stopping = []

    def stop(*_):
        stopping.append(1)
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
    renew_at = 0.0
    try:
        while not stopping:
            if time.time() >= renew_at:
                heartbeat("ONLINE")
                renew_at = time.time() + 10
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            try:
                rfq = rfqs(message.value(), value(message.topic()))
            except Exception as error:  # not ours to fix: say so and go on
                print(f"RFQ not readable: {error}", flush=True)
                continue
            if args.provider not in rfq["providers"] or rfq["deadline"].timestamp() <= time.time():
                continue
            quote = {"correlation_id": rfq["correlation_id"], "provider": args.provider,
                     "responded_at": int(time.time() * 1000), **args.extra,
                     "outcome": {"price_minor": args.price_minor, "currency": args.currency,
                                 "pickup_eta_seconds": 240}}
            to = rfq["answer_to"]
            producer.produce(to, key=rfq["correlation_id"], value=answer(quote, value(to)))
            producer.flush(10)
            print(f"quoted {rfq['correlation_id']}", flush=True)
    finally:
        heartbeat("OFFLINE")
        print("closing the consumer (offsets committed, group left)", flush=True)
        consumer.close()
        print("stopped", flush=True)


if __name__ == "__main__":
    main()
