# shellcheck shell=bash
# Real Apache Kafka (KRaft) and Apache Cassandra servers for the test suite,
# from Maven Central only (see README.md next to this file).
#
# Meant to be sourced by tests/run (set -euo pipefail is fine):
#
#   . tests/servers/servers.sh
#   if servers_available; then
#       trap stop_servers EXIT
#       servers_fetch          # once: jars into the cache (Maven), else a no-op
#       start_kafka            # exports RFQ_TEST_KAFKA_BROKERS=127.0.0.1:<port>
#       start_cassandra        # exports SCYLLA_URI=127.0.0.1:<port>, RFQ_TEST_CASSANDRA_DC
#   else
#       echo "real servers: SKIPPED ($SERVERS_SKIP_REASON)"
#   fi
#
# Knobs (environment):
#   RFQ_SERVERS_CACHE        cache root (default $HOME/.cache/rfq-test-servers)
#   RFQ_SERVERS_KEEP=1       keep each server's temp dir (config, data, logs) after stop
#   RFQ_KAFKA_HEAP           Kafka max heap (default 384m)
#   RFQ_CASSANDRA_HEAP       Cassandra max heap (default 768m)
#   RFQ_KAFKA_JAVA_OPTS      extra JVM options for Kafka (appended; word-split)
#   RFQ_CASSANDRA_JAVA_OPTS  extra JVM options for Cassandra (appended; word-split)
#   RFQ_KAFKA_TIMEOUT        seconds to wait for Kafka (default 120)
#   RFQ_CASSANDRA_TIMEOUT    seconds to wait for Cassandra (default 180)

_SERVERS_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SERVERS_SKIP_REASON=${SERVERS_SKIP_REASON:-}
RFQ_SERVERS_LIB=${RFQ_SERVERS_LIB:-}
_SERVERS_KAFKA_PID=${_SERVERS_KAFKA_PID:-}
_SERVERS_KAFKA_DIR=${_SERVERS_KAFKA_DIR:-}
_SERVERS_KAFKA_WATCHDOG=${_SERVERS_KAFKA_WATCHDOG:-}
_SERVERS_CASSANDRA_PID=${_SERVERS_CASSANDRA_PID:-}
_SERVERS_CASSANDRA_DIR=${_SERVERS_CASSANDRA_DIR:-}
_SERVERS_CASSANDRA_WATCHDOG=${_SERVERS_CASSANDRA_WATCHDOG:-}

_servers_log() { echo "servers: $*"; }

# A property of tests/servers/pom.xml, e.g. kafka.version.
_servers_pom_prop() {
    sed -n "s:.*<$1>\(.*\)</$1>.*:\1:p" "$_SERVERS_HERE/pom.xml" | head -n 1
}

# The cache directory for the current pom.xml: <root>/kafka-X_cassandra-Y_<hash>.
_servers_cache_dir() {
    local hash
    hash=$(sha256sum "$_SERVERS_HERE/pom.xml" | cut -c 1-12)
    echo "${RFQ_SERVERS_CACHE:-$HOME/.cache/rfq-test-servers}/kafka-$(_servers_pom_prop kafka.version)_cassandra-$(_servers_pom_prop cassandra.version)_$hash"
}

# Why servers needing Java NEED+ (run by JAVA) cannot run here, with their
# Maven cache in CACHE (fetched once): empty when they can.
# Usage: _servers_missing JAVA NEED CACHE WHAT
_servers_missing() {
    local java=$1 need=$2 cache=$3 what=$4 v major
    if ! command -v "$java" >/dev/null 2>&1; then
        echo "$java not found ($what needs Java $need+)"
        return 0
    fi
    v=$("$java" -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n 1)
    case $v in
        1.*) major=${v#1.}; major=${major%%.*} ;;
        *) major=${v%%[.+-]*} ;;
    esac
    if ! [[ $major =~ ^[0-9]+$ ]] || [ "$major" -lt "$need" ]; then
        echo "java ${v:-of unknown version} found, Java $need+ needed by $what"
    elif ! command -v python3 >/dev/null 2>&1; then
        echo "python3 not found (used to pick ports and probe $what)"
    elif [ ! -f "$cache/.complete" ] && ! command -v mvn >/dev/null 2>&1; then
        echo "mvn not found (needed once, to fetch $what from Maven Central)"
    fi
}

# Moves a fetched cache TMP (complete) to DIR atomically; if a concurrent run
# got there first, keeps its copy. Usage: _servers_install_cache TMP DIR
_servers_install_cache() {
    touch "$1/.complete"
    if [ -f "$2/.complete" ]; then
        rm -rf "$1"
    else
        rm -rf "$2"
        mv -T "$1" "$2" 2>/dev/null || rm -rf "$1"
    fi
}

# Returns non-zero, with SERVERS_SKIP_REASON set, when the servers cannot run here.
servers_available() {
    SERVERS_SKIP_REASON=$(_servers_missing java 17 "$(_servers_cache_dir)" "Kafka 4.1 and Cassandra 5.0")
    [ -z "$SERVERS_SKIP_REASON" ]
}

# Copies each server's runtime classpath from Maven Central into the cache,
# once per pom.xml content; sets RFQ_SERVERS_LIB to the cache directory.
servers_fetch() {
    local dir tmp p
    dir=$(_servers_cache_dir)
    if [ -f "$dir/.complete" ]; then
        _servers_log "Kafka $(_servers_pom_prop kafka.version) and Cassandra $(_servers_pom_prop cassandra.version) cached in $dir"
        RFQ_SERVERS_LIB=$dir
        return 0
    fi
    _servers_log "fetching Kafka $(_servers_pom_prop kafka.version) and Cassandra $(_servers_pom_prop cassandra.version) from Maven Central into $dir"
    mkdir -p "$(dirname "$dir")"
    tmp="$dir.tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    cp "$_SERVERS_HERE/pom.xml" "$tmp/pom.xml"
    for p in kafka cassandra; do
        if ! mvn -B -q -Dstyle.color=never -f "$tmp/pom.xml" -P "$p" \
            dependency:copy-dependencies -DincludeScope=runtime \
            -DoutputDirectory="$tmp/lib-$p" >"$tmp/mvn-$p.log" 2>&1; then
            echo "servers: Maven failed to fetch $p; last lines:" >&2
            tail -n 40 "$tmp/mvn-$p.log" >&2
            rm -rf "$tmp"
            return 1
        fi
    done
    rm -rf "$tmp/target"
    _servers_install_cache "$tmp" "$dir"
    RFQ_SERVERS_LIB=$dir
}

# On SIGTERM/SIGHUP (and SIGINT) a non-interactive bash dies without running
# its EXIT trap unless the signal is trapped: make those exit normally, so the
# caller's `trap stop_servers EXIT` runs. Traps the caller set are kept.
_servers_install_traps() {
    local sig code
    for sig in INT:130 TERM:143 HUP:129; do
        code=${sig#*:}
        sig=${sig%:*}
        if [ -z "$(trap -p "$sig")" ]; then
            # shellcheck disable=SC2064
            trap "exit $code" "$sig"
        fi
    done
}

# If the calling shell dies without running its EXIT trap (SIGKILL), kill the
# server and remove its dir anyway. Usage: _servers_watchdog PID DIR; sets
# _SERVERS_LAST_WATCHDOG to the watchdog's pid.
_servers_watchdog() {
    local parent=$$ pid=$1 dir=$2
    (
        set +e
        while kill -0 "$parent" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do
            sleep 2
        done
        if kill -0 "$parent" 2>/dev/null; then
            exit 0 # the server died on its own: the caller's stop_servers cleans up
        fi
        kill -TERM "$pid" 2>/dev/null
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
        kill -KILL "$pid" 2>/dev/null
        [ -n "${RFQ_SERVERS_KEEP:-}" ] || rm -rf "$dir"
    ) </dev/null >/dev/null 2>&1 &
    _SERVERS_LAST_WATCHDOG=$!
}

# Polls CHECK... every half second until it succeeds (prints its output), the
# process dies or TIMEOUT seconds pass (prints the log tail, returns 1).
# Usage: _servers_wait NAME PID TIMEOUT PORT LOG CHECK...
_servers_wait() {
    local name=$1 pid=$2 timeout=$3 port=$4 log=$5 start=$SECONDS out=""
    shift 5
    while :; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "servers: $name exited during startup; last lines of $log:" >&2
            tail -n 60 "$log" >&2 || true
            return 1
        fi
        # Only probe once the port accepts connections (cheap: no fork of python).
        if (: <>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            if out=$("$@" 2>&1); then
                printf '%s\n' "$out"
                return 0
            fi
        fi
        if [ $((SECONDS - start)) -ge "$timeout" ]; then
            echo "servers: $name not ready after ${timeout}s${out:+ ($out)}; last lines of $log:" >&2
            tail -n 60 "$log" >&2 || true
            return 1
        fi
        sleep 0.5
    done
}

# Fetches the jars unless servers_fetch already ran in this shell.
_servers_need_lib() {
    if [ -z "$RFQ_SERVERS_LIB" ] || [ ! -f "$RFQ_SERVERS_LIB/.complete" ]; then
        servers_fetch
    fi
}

# Writes a KRaft node's server.properties and log4j2.properties into DIR
# (data and logs there too): combined broker + controller NODE_ID of the
# quorum VOTERS (id@host:port,...), listening on PORT (clients) and CPORT
# (controllers). REPLICAS is the cluster's size: the internal topics' and
# the default replication factor (min ISR 2 when there is more than one).
# Usage: _servers_kafka_config DIR NODE_ID VOTERS PORT CPORT REPLICAS [SASL_PORT]
# With SASL_PORT, a second listener there takes SASL/SCRAM-SHA-256 and the
# StandardAuthorizer holds its clients to their ACLs (partners, as
# `rfq partners add` grants them); the PLAINTEXT listener's clients (our
# components and the tests, as User:ANONYMOUS) are super users.
_servers_kafka_config() {
    local dir=$1 id=$2 voters=$3 port=$4 cport=$5 rf=$6 sport=${7:-} isr=1
    local listeners="PLAINTEXT://127.0.0.1:$port" map="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
    if [ "$rf" -gt 1 ]; then isr=2; fi
    if [ -n "$sport" ]; then
        listeners="$listeners,SASL_PLAINTEXT://127.0.0.1:$sport"
        map="$map,SASL_PLAINTEXT:SASL_PLAINTEXT"
    fi
    mkdir -p "$dir/data" "$dir/logs"
    echo "$port" >"$dir/port"
    echo "$cport" >"$dir/cport"
    cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$voters
listeners=$listeners,CONTROLLER://127.0.0.1:$cport
advertised.listeners=$listeners
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$map
log.dirs=$dir/data

# Internal topics: replicated on every node, and as many partitions as nodes
# (the defaults are 50 each, slow to create on the first group join).
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=$rf
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$isr
share.coordinator.state.topic.num.partitions=1
default.replication.factor=$rf
min.insync.replicas=$isr

# Topics are created explicitly, like in production.
auto.create.topics.enable=false
num.partitions=1

# Groups: no join delay; session timeouts down to 6 s (Kafka's default floor).
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=6000

# Small machine: few threads.
num.io.threads=2
num.network.threads=2
num.recovery.threads.per.data.dir=1
num.replica.fetchers=1
background.threads=2
log.cleaner.threads=1
EOF
    if [ -n "$sport" ]; then
        cat >>"$dir/server.properties" <<EOF

# Partners: SASL/SCRAM-SHA-256 on a listener of their own, held to their ACLs.
sasl.enabled.mechanisms=SCRAM-SHA-256
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS
allow.everyone.if.no.acl.found=false
EOF
    fi
    cat >"$dir/log4j2.properties" <<EOF
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = $dir/logs/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.kafkalog.name = org.apache.kafka.storage.internals.log
logger.kafkalog.level = WARN
EOF
}

# A Kafka Uuid: 16 random bytes, URL-safe base64 without padding, not starting with '-'.
_servers_kafka_cluster_id() {
    python3 -c 'import base64, os
while True:
    s = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
    if not s.startswith("-"): print(s); break'
}

# Sets _SERVERS_KAFKA_JVM to the JVM options of the Kafka node configured in DIR.
_servers_kafka_jvm() {
    _SERVERS_KAFKA_JVM=(-Djava.awt.headless=true -XX:+UseSerialGC -XX:TieredStopAtLevel=1
        "-Dlog4j2.configurationFile=$1/log4j2.properties" "-Dkafka.logs.dir=$1/logs"
        -cp "$RFQ_SERVERS_LIB/lib-kafka/*")
}

# Formats the storage of the node configured in DIR for cluster CLUSTER_ID.
# Usage: _servers_kafka_format DIR CLUSTER_ID
_servers_kafka_format() {
    _servers_kafka_jvm "$1"
    if ! java -Xmx128m "${_SERVERS_KAFKA_JVM[@]}" kafka.tools.StorageTool format -t "$2" \
        -c "$1/server.properties" >"$1/logs/format.out" 2>&1; then
        echo "servers: formatting Kafka's storage failed:" >&2
        cat "$1/logs/format.out" >&2
        return 1
    fi
}

# Starts the Kafka node configured in DIR in the background with max heap
# HEAP; its pid goes to DIR/pid and _SERVERS_LAST_PID. Every descriptor is
# redirected, so the caller may be a short-lived shell that the JVM outlives.
# Usage: _servers_kafka_launch DIR HEAP
_servers_kafka_launch() {
    _servers_kafka_jvm "$1"
    # shellcheck disable=SC2086
    java -Xms64m "-Xmx$2" -XX:+ExitOnOutOfMemoryError "${_SERVERS_KAFKA_JVM[@]}" \
        ${RFQ_KAFKA_JAVA_OPTS:-} kafka.Kafka "$1/server.properties" >>"$1/logs/stdout.log" 2>&1 </dev/null &
    _SERVERS_LAST_PID=$!
    echo "$_SERVERS_LAST_PID" >"$1/pid"
}

# Starts a single-node Kafka (combined broker + controller, KRaft) on a free
# loopback port; exports RFQ_TEST_KAFKA_BROKERS=127.0.0.1:<port>.
start_kafka() {
    if [ -n "$_SERVERS_KAFKA_PID" ]; then
        _servers_log "Kafka already running at ${RFQ_TEST_KAFKA_BROKERS:-?}"
        return 0
    fi
    local dir ports port cport start=$SECONDS
    _servers_need_lib
    _servers_install_traps
    dir=$(mktemp -d "${TMPDIR:-/tmp}/rfq-kafka.XXXXXX")
    _SERVERS_KAFKA_DIR=$dir
    local sport
    read -r port cport sport <<<"$(python3 "$_SERVERS_HERE/probe.py" ports 3)"
    _servers_kafka_config "$dir" 1 "1@127.0.0.1:$cport" "$port" "$cport" 1 "$sport"
    if ! _servers_kafka_format "$dir" "$(_servers_kafka_cluster_id)"; then
        _servers_stop kafka
        return 1
    fi
    _servers_kafka_launch "$dir" "${RFQ_KAFKA_HEAP:-384m}"
    _SERVERS_KAFKA_PID=$_SERVERS_LAST_PID
    _servers_watchdog "$_SERVERS_KAFKA_PID" "$dir"
    _SERVERS_KAFKA_WATCHDOG=$_SERVERS_LAST_WATCHDOG
    if ! _servers_wait Kafka "$_SERVERS_KAFKA_PID" "${RFQ_KAFKA_TIMEOUT:-120}" "$port" \
        "$dir/logs/server.log" python3 "$_SERVERS_HERE/probe.py" kafka 127.0.0.1 "$port" >/dev/null; then
        [ -f "$dir/logs/stdout.log" ] && tail -n 20 "$dir/logs/stdout.log" >&2
        _servers_stop kafka
        return 1
    fi
    export RFQ_TEST_KAFKA_BROKERS="127.0.0.1:$port"
    export RFQ_TEST_KAFKA_SASL_BROKERS="127.0.0.1:$sport"
    _servers_log "Kafka $(_servers_pom_prop kafka.version) ready at $RFQ_TEST_KAFKA_BROKERS in $((SECONDS - start))s (pid $_SERVERS_KAFKA_PID, dir $dir)"
}

# Stops the single-node Kafka (e.g. to free its memory for the cluster).
stop_kafka() {
    _servers_stop kafka
}

# Starts a single-node Cassandra on free loopback ports; exports
# SCYLLA_URI=127.0.0.1:<native port> and RFQ_TEST_CASSANDRA_DC (the data
# centre the node reports: datacenter1 with SimpleSnitch).
start_cassandra() {
    if [ -n "$_SERVERS_CASSANDRA_PID" ]; then
        _servers_log "Cassandra already running at ${SCYLLA_URI:-?}"
        return 0
    fi
    local lib dir ports port sport jamm dc start=$SECONDS
    _servers_need_lib
    lib=$RFQ_SERVERS_LIB/lib-cassandra
    jamm=$(find "$lib" -maxdepth 1 -name 'jamm-*.jar' | head -n 1)
    if [ -z "$jamm" ]; then
        echo "servers: no jamm jar in $lib (Cassandra needs it as a java agent)" >&2
        return 1
    fi
    _servers_install_traps
    dir=$(mktemp -d "${TMPDIR:-/tmp}/rfq-cassandra.XXXXXX")
    _SERVERS_CASSANDRA_DIR=$dir
    ports=$(python3 "$_SERVERS_HERE/probe.py" ports 2)
    port=${ports%% *}
    sport=${ports##* }
    mkdir -p "$dir/data" "$dir/logs" "$dir/triggers"
    cat >"$dir/cassandra.yaml" <<EOF
cluster_name: rfq-test
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "127.0.0.1:$sport"
listen_address: 127.0.0.1
rpc_address: 127.0.0.1
storage_port: $sport
native_transport_port: $port
start_native_transport: true
num_tokens: 1
auto_bootstrap: false
commitlog_sync: periodic
commitlog_sync_period: 10000ms
# A fresh node: full 5.0 formats (TTL expiries up to 2106, not only 2038).
storage_compatibility_mode: NONE
# Tests drop and truncate a lot: no snapshots, no hints (one node).
auto_snapshot: false
hinted_handoff_enabled: false
# Small machine: fewer threads and smaller caches.
concurrent_compactors: 1
memtable_flush_writers: 1
concurrent_reads: 8
concurrent_writes: 8
concurrent_counter_writes: 8
file_cache_size: 64MiB
EOF
    cat >"$dir/logback.xml" <<EOF
<configuration>
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>$dir/logs/system.log</file>
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %logger{0} - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE"/></root>
</configuration>
EOF
    # JVM flags: the JPMS list of apache/cassandra's conf/jvm17-server.options
    # (cassandra-5.0), a few of conf/jvm-server.options, the jamm agent.
    local jvm=(
        -Xms256m "-Xmx${RFQ_CASSANDRA_HEAP:-768m}" -Xss256k
        -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError
        -XX:+PerfDisableSharedMem -Djava.net.preferIPv4Stack=true
        -ea -da:net.openhft...
        "-javaagent:$jamm"
        -Djdk.attach.allowAttachSelf=true
        --add-exports java.base/jdk.internal.misc=ALL-UNNAMED
        --add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED
        --add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED
        --add-exports java.rmi/sun.rmi.server=ALL-UNNAMED
        --add-exports java.sql/java.sql=ALL-UNNAMED
        --add-exports java.base/java.lang.ref=ALL-UNNAMED
        --add-exports jdk.unsupported/sun.misc=ALL-UNNAMED
        --add-exports jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED
        --add-exports jdk.attach/sun.tools.attach=ALL-UNNAMED
        --add-exports java.management/com.sun.jmx.remote.security=ALL-UNNAMED
        --add-opens java.base/java.lang.module=ALL-UNNAMED
        --add-opens java.base/jdk.internal.loader=ALL-UNNAMED
        --add-opens java.base/jdk.internal.ref=ALL-UNNAMED
        --add-opens java.base/jdk.internal.reflect=ALL-UNNAMED
        --add-opens java.base/jdk.internal.math=ALL-UNNAMED
        --add-opens java.base/jdk.internal.module=ALL-UNNAMED
        --add-opens java.base/jdk.internal.util.jar=ALL-UNNAMED
        --add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED
        --add-opens java.base/sun.nio.ch=ALL-UNNAMED
        --add-opens java.base/java.io=ALL-UNNAMED
        --add-opens java.base/java.lang.reflect=ALL-UNNAMED
        --add-opens jdk.compiler/com.sun.tools.javac=ALL-UNNAMED
        --add-opens java.base/java.lang=ALL-UNNAMED
        --add-opens java.base/java.util=ALL-UNNAMED
        --add-opens java.base/java.nio=ALL-UNNAMED
        -Dio.netty.tryReflectionSetAccessible=true
        -Dio.netty.allocator.useCacheForAllThreads=true
        -Dio.netty.allocator.maxOrder=11
        # Faster start of a lone node.
        -Dcassandra.skip_wait_for_gossip_to_settle=0
        -Dcassandra.ring_delay_ms=1000
        -Dcassandra.load_ring_state=false
        -Dcassandra.superuser_setup_delay_ms=0
        -Dcassandra.shutdown_announce_in_ms=0
        -Dcassandra.available_processors=2
        "-Dcassandra.config=file://$dir/cassandra.yaml"
        "-Dcassandra.storagedir=$dir/data"
        "-Dcassandra.logdir=$dir/logs"
        "-Dcassandra.triggers_dir=$dir/triggers"
        "-Dlogback.configurationFile=$dir/logback.xml"
        -Dcassandra-foreground=yes
        -cp "$lib/*"
    )
    # shellcheck disable=SC2086
    java "${jvm[@]}" ${RFQ_CASSANDRA_JAVA_OPTS:-} org.apache.cassandra.service.CassandraDaemon \
        >"$dir/logs/stdout.log" 2>&1 </dev/null &
    _SERVERS_CASSANDRA_PID=$!
    _servers_watchdog "$_SERVERS_CASSANDRA_PID" "$dir"
    _SERVERS_CASSANDRA_WATCHDOG=$_SERVERS_LAST_WATCHDOG
    if ! dc=$(_servers_wait Cassandra "$_SERVERS_CASSANDRA_PID" "${RFQ_CASSANDRA_TIMEOUT:-180}" "$port" \
        "$dir/logs/system.log" python3 "$_SERVERS_HERE/probe.py" cql 127.0.0.1 "$port"); then
        [ -f "$dir/logs/stdout.log" ] && tail -n 20 "$dir/logs/stdout.log" >&2
        _servers_stop cassandra
        return 1
    fi
    export SCYLLA_URI="127.0.0.1:$port"
    export RFQ_TEST_CASSANDRA_DC="$dc"
    _servers_log "Cassandra $(_servers_pom_prop cassandra.version) ready at $SCYLLA_URI (data centre $dc) in $((SECONDS - start))s (pid $_SERVERS_CASSANDRA_PID, dir $dir)"
}

# Stops the processes PID...: SIGCONT (a frozen one acts on nothing else),
# SIGTERM, and SIGKILL to those still there after TENTHS tenths of a second.
# Usage: _servers_terminate TENTHS PID...
_servers_terminate() {
    local tenths=$1 pid pids alive
    shift
    pids="$*"
    for pid in $pids; do
        kill -CONT "$pid" 2>/dev/null || true
        kill -TERM "$pid" 2>/dev/null || true
    done
    for _ in $(seq "$tenths"); do
        alive=""
        for pid in $pids; do
            if kill -0 "$pid" 2>/dev/null; then alive="$alive $pid"; fi
        done
        pids=$alive
        [ -n "$pids" ] || break
        sleep 0.1
    done
    for pid in $pids; do
        kill -KILL "$pid" 2>/dev/null || true
    done
}

# Stops the named servers (kafka, cassandra): SIGTERM, SIGKILL after 5 s,
# then removes their temp dirs. Never fails.
_servers_stop() {
    local name pid dir watchdog pids=""
    for name in "$@"; do
        case $name in
            kafka) pid=$_SERVERS_KAFKA_PID watchdog=$_SERVERS_KAFKA_WATCHDOG ;;
            cassandra) pid=$_SERVERS_CASSANDRA_PID watchdog=$_SERVERS_CASSANDRA_WATCHDOG ;;
        esac
        if [ -n "$watchdog" ]; then
            kill -KILL "$watchdog" 2>/dev/null || true
            wait "$watchdog" 2>/dev/null || true
        fi
        if [ -n "$pid" ]; then pids="$pids $pid"; fi
    done
    # shellcheck disable=SC2086
    _servers_terminate 50 $pids
    for name in "$@"; do
        case $name in
            kafka) pid=$_SERVERS_KAFKA_PID dir=$_SERVERS_KAFKA_DIR ;;
            cassandra) pid=$_SERVERS_CASSANDRA_PID dir=$_SERVERS_CASSANDRA_DIR ;;
        esac
        if [ -n "$pid" ]; then wait "$pid" 2>/dev/null || true; fi
        if [ -n "$dir" ] && [ -z "${RFQ_SERVERS_KEEP:-}" ]; then rm -rf "$dir" || true; fi
        case $name in
            kafka) _SERVERS_KAFKA_PID="" _SERVERS_KAFKA_DIR="" _SERVERS_KAFKA_WATCHDOG="" ;;
            cassandra) _SERVERS_CASSANDRA_PID="" _SERVERS_CASSANDRA_DIR="" _SERVERS_CASSANDRA_WATCHDOG="" ;;
        esac
    done
    return 0
}

# Stops both servers and removes their temp dirs; safe to call twice, and
# from an EXIT trap (keeps the exit status).
stop_servers() {
    _servers_stop kafka cassandra || true
}

# --- A Kafka cluster (KRaft) and the faults it suffers -----------------------
#
# start_kafka_cluster starts RFQ_KAFKA_CLUSTER_NODES (3) combined broker +
# controller nodes, one static quorum, node i's config, data, logs, pid and
# ports in $RFQ_TEST_KAFKA_CLUSTER_DIR/node<i>. The node functions read that
# directory only, so a test injecting faults runs them as a command:
#
#   bash tests/servers/servers.sh kafka_node_kill 2     # kill -9 node 2
#   bash tests/servers/servers.sh kafka_node_start 2    # start it again, wait until it serves
#   bash tests/servers/servers.sh kafka_node_freeze 3   # SIGSTOP (kafka_node_thaw: SIGCONT)
#   bash tests/servers/servers.sh kafka_cluster_leader rfq.quotes 0   # node leading that partition
#   bash tests/servers/servers.sh kafka_cluster_controller            # node of the active controller
#   bash tests/servers/servers.sh kafka_cluster_wait_in_sync          # until no partition is under-replicated

# The directory of node N (after start_kafka_cluster, here or in a parent shell).
_servers_node_dir() {
    local dir=${RFQ_TEST_KAFKA_CLUSTER_DIR:-}/node$1
    if [ -z "${RFQ_TEST_KAFKA_CLUSTER_DIR:-}" ] || [ ! -f "$dir/server.properties" ]; then
        echo "servers: no Kafka cluster node $1 (RFQ_TEST_KAFKA_CLUSTER_DIR=${RFQ_TEST_KAFKA_CLUSTER_DIR:-unset})" >&2
        return 1
    fi
    echo "$dir"
}

# The node numbers of the cluster, one a line.
_servers_nodes() {
    local f
    for f in "${RFQ_TEST_KAFKA_CLUSTER_DIR:?no Kafka cluster}"/node*/server.properties; do
        f=${f%/server.properties}
        echo "${f##*/node}"
    done
}

# Prints the pid of node N's JVM if it runs (stopped counts; a zombie or a
# reused pid does not); returns 1 otherwise.
kafka_node_pid() {
    local dir pid state
    dir=$(_servers_node_dir "$1") || return 1
    pid=$(cat "$dir/pid" 2>/dev/null) || return 1
    state=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d ' ' -f 1) || return 1
    if [ -z "$state" ] || [ "$state" = Z ] || [ "$state" = X ] ||
        ! tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF "$dir/server.properties"; then
        return 1
    fi
    echo "$pid"
}

# kill -9 node N and waits until it is gone.
kafka_node_kill() {
    local pid
    pid=$(kafka_node_pid "$1") || { echo "servers: node $1 is not running" >&2; return 1; }
    kill -KILL "$pid"
    for _ in $(seq 100); do
        kafka_node_pid "$1" >/dev/null || { _servers_log "node $1 killed (pid $pid)"; return 0; }
        sleep 0.1
    done
    echo "servers: node $1 (pid $pid) still there 10 s after SIGKILL" >&2
    return 1
}

# Freezes node N (SIGSTOP): it neither answers nor heartbeats, its sockets stay open.
kafka_node_freeze() {
    local pid
    pid=$(kafka_node_pid "$1") || { echo "servers: node $1 is not running" >&2; return 1; }
    kill -STOP "$pid"
    _servers_log "node $1 frozen (pid $pid)"
}

# Resumes a frozen node N (SIGCONT).
kafka_node_thaw() {
    local pid
    pid=$(kafka_node_pid "$1") || { echo "servers: node $1 is not running" >&2; return 1; }
    kill -CONT "$pid"
    _servers_log "node $1 resumed (pid $pid)"
}

# Starts node N again (same config, same data: an unclean restart after a
# kill) and waits until it is a live broker again.
kafka_node_start() {
    local dir start=$SECONDS
    dir=$(_servers_node_dir "$1") || return 1
    if kafka_node_pid "$1" >/dev/null; then
        echo "servers: node $1 is already running" >&2
        return 1
    fi
    _servers_need_lib >/dev/null
    _servers_kafka_launch "$dir" "${RFQ_KAFKA_CLUSTER_HEAP:-256m}"
    if ! _servers_wait "Kafka node $1" "$_SERVERS_LAST_PID" "${RFQ_KAFKA_TIMEOUT:-120}" "$(cat "$dir/port")" \
        "$dir/logs/server.log" python3 "$_SERVERS_HERE/probe.py" kafka 127.0.0.1 "$(cat "$dir/port")" >/dev/null; then
        return 1
    fi
    _servers_log "node $1 serving again in $((SECONDS - start))s (pid $_SERVERS_LAST_PID)"
}

# Asks the running nodes in turn: probe.py WHAT HOST <port file>'s port ARGS...
_servers_ask_cluster() {
    local what=$1 portfile=$2 node dir out
    shift 2
    for node in $(_servers_nodes); do
        dir=$(_servers_node_dir "$node")
        # A frozen node would only time out.
        [ "$(sed 's/^.*) //' "/proc/$(cat "$dir/pid")/stat" 2>/dev/null | cut -d ' ' -f 1)" = T ] && continue
        kafka_node_pid "$node" >/dev/null || continue
        if out=$(python3 "$_SERVERS_HERE/probe.py" "$what" 127.0.0.1 "$(cat "$dir/$portfile")" "$@" 2>&1); then
            echo "$out"
            return 0
        fi
    done
    echo "servers: no node answered $what: ${out:-none running}" >&2
    return 1
}

# Prints the node id leading partition PARTITION of TOPIC.
kafka_cluster_leader() {
    _servers_ask_cluster leader port "$1" "$2"
}

# Prints the node id of the active KRaft controller.
kafka_cluster_controller() {
    _servers_ask_cluster controller cport
}

# Waits (at most TIMEOUT seconds, default 120) until every partition of every
# topic has a leader and all the cluster's nodes in sync.
kafka_cluster_wait_in_sync() {
    local timeout=${1:-120} start=$SECONDS nodes out
    nodes=$(_servers_nodes | wc -l)
    until out=$(_servers_ask_cluster in-sync port "$nodes" 2>&1); do
        if [ $((SECONDS - start)) -ge "$timeout" ]; then
            echo "servers: the cluster is not in sync after ${timeout}s: $out" >&2
            return 1
        fi
        sleep 0.5
    done
    _servers_log "cluster in sync ($out) after $((SECONDS - start))s"
}

# If the calling shell dies without running its EXIT trap (SIGKILL), kill
# every node of the cluster in DIR (restarted ones too: their pids are read
# from DIR) and remove it. Sets _SERVERS_CLUSTER_WATCHDOG.
_servers_cluster_watchdog() {
    local parent=$$ dir=$1
    (
        set +e
        while kill -0 "$parent" 2>/dev/null && [ -d "$dir" ]; do
            sleep 2
        done
        kill -0 "$parent" 2>/dev/null && exit 0 # stopped by stop_kafka_cluster
        for f in "$dir"/node*/pid; do
            kill -KILL "$(cat "$f")"
        done
        [ -n "${RFQ_SERVERS_KEEP:-}" ] || rm -rf "$dir"
    ) </dev/null >/dev/null 2>&1 &
    _SERVERS_CLUSTER_WATCHDOG=$!
}

_SERVERS_CLUSTER_WATCHDOG=${_SERVERS_CLUSTER_WATCHDOG:-}

# Starts a Kafka cluster on free loopback ports: RFQ_KAFKA_CLUSTER_NODES (3)
# combined broker + controller nodes with max heap RFQ_KAFKA_CLUSTER_HEAP
# (256m) each, replication factor 3 and min ISR 2 for the internal topics;
# waits until every node serves. Exports RFQ_TEST_KAFKA_CLUSTER_BROKERS (the
# bootstrap list) and RFQ_TEST_KAFKA_CLUSTER_DIR (read by the node functions).
start_kafka_cluster() {
    if [ -n "${RFQ_TEST_KAFKA_CLUSTER_DIR:-}" ] && [ -d "$RFQ_TEST_KAFKA_CLUSTER_DIR" ]; then
        _servers_log "Kafka cluster already running at ${RFQ_TEST_KAFKA_CLUSTER_BROKERS:-?}"
        return 0
    fi
    local n=${RFQ_KAFKA_CLUSTER_NODES:-3} dir ports voters="" brokers="" i cluster_id formats=() start=$SECONDS
    _servers_need_lib
    _servers_install_traps
    dir=$(mktemp -d "${TMPDIR:-/tmp}/rfq-kafka-cluster.XXXXXX")
    export RFQ_TEST_KAFKA_CLUSTER_DIR=$dir
    read -ra ports <<<"$(python3 "$_SERVERS_HERE/probe.py" ports $((2 * n)))"
    for i in $(seq "$n"); do
        voters="$voters${voters:+,}$i@127.0.0.1:${ports[2 * i - 1]}"
        brokers="$brokers${brokers:+,}127.0.0.1:${ports[2 * i - 2]}"
    done
    cluster_id=$(_servers_kafka_cluster_id)
    for i in $(seq "$n"); do
        _servers_kafka_config "$dir/node$i" "$i" "$voters" "${ports[2 * i - 2]}" "${ports[2 * i - 1]}" "$n"
        _servers_kafka_format "$dir/node$i" "$cluster_id" &
        formats+=($!)
    done
    for i in "${formats[@]}"; do
        if ! wait "$i"; then
            stop_kafka_cluster
            return 1
        fi
    done
    # Each from a subshell, so the JVM is no child of this shell: a node
    # killed by a test is no job that this shell reports as "Killed".
    for i in $(seq "$n"); do
        (_servers_kafka_launch "$dir/node$i" "${RFQ_KAFKA_CLUSTER_HEAP:-256m}")
    done
    _servers_cluster_watchdog "$dir"
    for i in $(seq "$n"); do
        if ! _servers_wait "Kafka node $i" "$(cat "$dir/node$i/pid")" "${RFQ_KAFKA_TIMEOUT:-120}" \
            "${ports[2 * i - 2]}" "$dir/node$i/logs/server.log" \
            python3 "$_SERVERS_HERE/probe.py" kafka 127.0.0.1 "${ports[2 * i - 2]}" >/dev/null; then
            stop_kafka_cluster
            return 1
        fi
    done
    export RFQ_TEST_KAFKA_CLUSTER_BROKERS=$brokers
    _servers_log "Kafka $(_servers_pom_prop kafka.version) cluster of $n nodes ready at $brokers in $((SECONDS - start))s (active controller: node $(kafka_cluster_controller), dir $dir)"
}

# Stops every node of the cluster (thawed first, SIGTERM, SIGKILL after
# 10 s) and removes its directory; safe to call twice. Never fails.
stop_kafka_cluster() {
    local dir=${RFQ_TEST_KAFKA_CLUSTER_DIR:-} node pid pids=""
    [ -n "$dir" ] || return 0
    if [ -n "$_SERVERS_CLUSTER_WATCHDOG" ]; then
        kill -KILL "$_SERVERS_CLUSTER_WATCHDOG" 2>/dev/null || true
        wait "$_SERVERS_CLUSTER_WATCHDOG" 2>/dev/null || true
        _SERVERS_CLUSTER_WATCHDOG=""
    fi
    if [ -d "$dir" ]; then
        for node in $(_servers_nodes); do
            if pid=$(kafka_node_pid "$node"); then pids="$pids $pid"; fi
        done
        # shellcheck disable=SC2086
        _servers_terminate 100 $pids
        [ -n "${RFQ_SERVERS_KEEP:-}" ] || rm -rf "$dir" || true
    fi
    unset RFQ_TEST_KAFKA_CLUSTER_DIR RFQ_TEST_KAFKA_CLUSTER_BROKERS
    return 0
}

# The pinned versions, for reports.
servers_kafka_version() { _servers_pom_prop kafka.version; }
servers_cassandra_version() { _servers_pom_prop cassandra.version; }

# Run as a command (`bash tests/servers/servers.sh kafka_node_kill 2`): the
# cluster's node functions, for a test that injects faults.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    case ${1:-} in
        kafka_node_pid | kafka_node_kill | kafka_node_freeze | kafka_node_thaw | kafka_node_start | \
            kafka_cluster_leader | kafka_cluster_controller | kafka_cluster_wait_in_sync) "$@" ;;
        *)
            echo "usage: $0 kafka_node_{pid,kill,freeze,thaw,start} N | kafka_cluster_leader TOPIC PARTITION | kafka_cluster_controller | kafka_cluster_wait_in_sync [TIMEOUT]" >&2
            exit 2
            ;;
    esac
fi
