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

# Starts a single-node Kafka (combined broker + controller, KRaft) on a free
# loopback port; exports RFQ_TEST_KAFKA_BROKERS=127.0.0.1:<port>.
start_kafka() {
    if [ -n "$_SERVERS_KAFKA_PID" ]; then
        _servers_log "Kafka already running at ${RFQ_TEST_KAFKA_BROKERS:-?}"
        return 0
    fi
    local lib dir ports port cport cluster_id start=$SECONDS
    _servers_need_lib
    lib=$RFQ_SERVERS_LIB/lib-kafka
    _servers_install_traps
    dir=$(mktemp -d "${TMPDIR:-/tmp}/rfq-kafka.XXXXXX")
    _SERVERS_KAFKA_DIR=$dir
    ports=$(python3 "$_SERVERS_HERE/probe.py" ports 2)
    port=${ports%% *}
    cport=${ports##* }
    mkdir -p "$dir/data" "$dir/logs"
    cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data

# One node: every internal topic has replication factor 1, and few partitions
# (the defaults are 50 each, slow to create on the first group join).
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=1
default.replication.factor=1
min.insync.replicas=1

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
    # A Kafka Uuid: 16 random bytes, URL-safe base64 without padding, not starting with '-'.
    cluster_id=$(python3 -c 'import base64, os
while True:
    s = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
    if not s.startswith("-"): print(s); break')
    local jvm=(-Djava.awt.headless=true -XX:+UseSerialGC -XX:TieredStopAtLevel=1
        "-Dlog4j2.configurationFile=$dir/log4j2.properties" "-Dkafka.logs.dir=$dir/logs"
        -cp "$lib/*")
    if ! java -Xmx128m "${jvm[@]}" kafka.tools.StorageTool format -t "$cluster_id" \
        -c "$dir/server.properties" >"$dir/logs/format.out" 2>&1; then
        echo "servers: formatting Kafka's storage failed:" >&2
        cat "$dir/logs/format.out" >&2
        _servers_stop kafka
        return 1
    fi
    # shellcheck disable=SC2086
    java -Xms64m "-Xmx${RFQ_KAFKA_HEAP:-384m}" -XX:+ExitOnOutOfMemoryError "${jvm[@]}" \
        ${RFQ_KAFKA_JAVA_OPTS:-} kafka.Kafka "$dir/server.properties" >"$dir/logs/stdout.log" 2>&1 </dev/null &
    _SERVERS_KAFKA_PID=$!
    _servers_watchdog "$_SERVERS_KAFKA_PID" "$dir"
    _SERVERS_KAFKA_WATCHDOG=$_SERVERS_LAST_WATCHDOG
    if ! _servers_wait Kafka "$_SERVERS_KAFKA_PID" "${RFQ_KAFKA_TIMEOUT:-120}" "$port" \
        "$dir/logs/server.log" python3 "$_SERVERS_HERE/probe.py" kafka 127.0.0.1 "$port" >/dev/null; then
        [ -f "$dir/logs/stdout.log" ] && tail -n 20 "$dir/logs/stdout.log" >&2
        _servers_stop kafka
        return 1
    fi
    export RFQ_TEST_KAFKA_BROKERS="127.0.0.1:$port"
    _servers_log "Kafka $(_servers_pom_prop kafka.version) ready at $RFQ_TEST_KAFKA_BROKERS in $((SECONDS - start))s (pid $_SERVERS_KAFKA_PID, dir $dir)"
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
        if [ -n "$pid" ]; then
            kill -TERM "$pid" 2>/dev/null || true
            pids="$pids $pid"
        fi
    done
    for _ in $(seq 50); do
        local alive=""
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

# The pinned versions, for reports.
servers_kafka_version() { _servers_pom_prop kafka.version; }
servers_cassandra_version() { _servers_pom_prop cassandra.version; }
