// Command franzcheck produces records with franz-go at its default settings
// (snappy compression, no version cap, idempotent producer) and reads them
// back with a franz-go consumer at its defaults. tests/smoke/outside_clients.py
// runs it against `rfq up`'s embedded broker.
//
// Usage: franzcheck BROKERS TOPIC COUNT [SCRAM_USER SCRAM_PASSWORD]
//
// With a user and password it authenticates with SASL/SCRAM-SHA-256 (as
// `rfq up` requires).
//
// It prints "PASSED: ..." and exits 0 when every record it wrote was read
// back with its key and value; otherwise it prints the reason and exits 1.
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

func main() {
	if len(os.Args) != 4 && len(os.Args) != 6 {
		fail("usage: franzcheck BROKERS TOPIC COUNT [SCRAM_USER SCRAM_PASSWORD]")
	}
	options := []kgo.Opt{kgo.SeedBrokers(os.Args[1])}
	if len(os.Args) == 6 {
		auth := scram.Auth{User: os.Args[4], Pass: os.Args[5]}
		options = append(options, kgo.SASL(auth.AsSha256Mechanism()))
	}
	topic := os.Args[2]
	count, err := strconv.Atoi(os.Args[3])
	if err != nil || count <= 0 {
		fail("COUNT must be a positive number, got %q", os.Args[3])
	}
	marker := fmt.Sprintf("franz-go-%d", time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	producer, err := kgo.NewClient(options...)
	if err != nil {
		fail("creating the producer: %v", err)
	}
	want := map[string]string{}
	for i := 0; i < count; i++ {
		key := fmt.Sprintf("%s-%d", marker, i)
		value := fmt.Sprintf("value %d of %s", i, marker)
		want[key] = value
		producer.Produce(ctx, &kgo.Record{Topic: topic, Key: []byte(key), Value: []byte(value)}, func(_ *kgo.Record, err error) {
			if err != nil {
				fail("producing: %v", err)
			}
		})
	}
	if err := producer.Flush(ctx); err != nil {
		fail("flushing: %v", err)
	}
	producer.Close()

	consumer, err := kgo.NewClient(append(options, kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		fail("creating the consumer: %v", err)
	}
	defer consumer.Close()
	for len(want) > 0 {
		fetches := consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			fail("read back %d of %d records within 60 s", count-len(want), count)
		}
		fetches.EachError(func(t string, p int32, err error) {
			fail("fetching %s[%d]: %v", t, p, err)
		})
		fetches.EachRecord(func(r *kgo.Record) {
			if value, ok := want[string(r.Key)]; ok {
				if value != string(r.Value) {
					fail("record %s came back as %q, written as %q", r.Key, r.Value, value)
				}
				delete(want, string(r.Key))
			}
		})
	}
	fmt.Printf("PASSED: franz-go wrote %d records to %s at its defaults and read them back\n", count, topic)
}

func fail(format string, args ...any) {
	fmt.Printf("FAILED: franz-go: "+format+"\n", args...)
	os.Exit(1)
}
