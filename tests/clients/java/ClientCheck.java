// Apache Kafka's own Java client against `rfq up`'s embedded broker: for each
// compression (none, gzip, snappy, lz4, zstd) a producer at the client's
// defaults, but for compression.type, writes records to TOPIC and a consumer
// at its defaults (assigned every partition, from the start) reads them back
// with their keys and values. Run by tests/smoke/outside_clients.py with
// Java's source launcher on the classpath pom.xml names.
//
// Usage: java -cp 'lib/*' ClientCheck.java BROKERS TOPIC COUNT
//
// Prints "PASSED: ..." per compression and exits 0, or prints "FAILED: ..."
// and exits 1.

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class ClientCheck {
    public static void main(String[] args) throws Exception {
        if (args.length != 3 && args.length != 5) {
            fail("usage: ClientCheck BROKERS TOPIC COUNT [SCRAM_USER SCRAM_PASSWORD]");
        }
        String brokers = args[0];
        String topic = args[1];
        int count = Integer.parseInt(args[2]);
        Properties auth = new Properties();
        if (args.length == 5) {
            auth.put("security.protocol", "SASL_PLAINTEXT");
            auth.put("sasl.mechanism", "SCRAM-SHA-256");
            auth.put("sasl.jaas.config", "org.apache.kafka.common.security.scram.ScramLoginModule required username=\""
                    + args[3] + "\" password=\"" + args[4] + "\";");
        }
        for (String compression : List.of("none", "gzip", "snappy", "lz4", "zstd")) {
            check(brokers, topic, count, compression, auth);
        }
    }

    static void check(String brokers, String topic, int count, String compression, Properties auth) throws Exception {
        String marker = "java-" + compression + "-" + System.nanoTime();
        Map<String, String> want = new HashMap<>();
        Properties producerProps = new Properties();
        producerProps.putAll(auth);
        producerProps.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
        producerProps.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, compression);
        producerProps.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        producerProps.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(producerProps)) {
            for (int i = 0; i < count; i++) {
                String key = marker + "-" + i;
                String value = "value " + i + " of " + marker + " " + "x".repeat(100);
                want.put(key, value);
                producer.send(new ProducerRecord<>(topic, key, value)).get();
            }
        }
        Properties consumerProps = new Properties();
        consumerProps.putAll(auth);
        consumerProps.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
        consumerProps.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        consumerProps.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(consumerProps)) {
            List<TopicPartition> partitions = new ArrayList<>();
            for (PartitionInfo info : consumer.partitionsFor(topic)) {
                partitions.add(new TopicPartition(topic, info.partition()));
            }
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            long giveUp = System.currentTimeMillis() + 60_000;
            while (!want.isEmpty()) {
                if (System.currentTimeMillis() > giveUp) {
                    fail(compression + ": read back " + (count - want.size()) + " of " + count + " records within 60 s");
                }
                for (ConsumerRecord<String, String> record : consumer.poll(Duration.ofMillis(500))) {
                    String value = want.remove(record.key());
                    if (value != null && !value.equals(record.value())) {
                        fail(compression + ": record " + record.key() + " came back as " + record.value());
                    }
                }
            }
        } catch (Exception error) {
            fail(compression + ": " + error);
        }
        System.out.println("PASSED: Java client " + compression + ": " + count + " records written to " + topic + " and read back");
    }

    static void fail(String message) {
        System.out.println("FAILED: Java client: " + message);
        System.exit(1);
    }
}
