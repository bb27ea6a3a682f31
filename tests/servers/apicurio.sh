# shellcheck shell=bash
# A real Apicurio Registry (Confluent-compatible API at /apis/ccompat/v7) for
# the test suite, from Maven Central only: the server distribution
# io.apicurio:apicurio-registry-app:<version>:tar.gz:all, unpacked by Maven
# (see apicurio-pom.xml next to this file). In-memory storage (H2), no auth.
#
# Meant to be sourced by tests/run (set -euo pipefail is fine):
#
#   . tests/servers/apicurio.sh
#   if apicurio_available; then
#       trap stop_apicurio EXIT
#       apicurio_fetch     # once: the distribution into the cache (Maven), else a no-op
#       start_apicurio     # exports RFQ_TEST_APICURIO_URL=http://127.0.0.1:<port>/apis/ccompat/v7
#   else
#       echo "apicurio: SKIPPED ($APICURIO_SKIP_REASON)"
#   fi
#
# Knobs (environment):
#   RFQ_SERVERS_CACHE            cache root (default $HOME/.cache/rfq-test-servers)
#   RFQ_SERVERS_KEEP=1           keep the server's temp dir (config, logs) after stop
#   RFQ_APICURIO_JAVA            java binary (default: java on PATH); 3.3+ needs Java 21
#   RFQ_APICURIO_HEAP            max heap (default 384m)
#   RFQ_APICURIO_JAVA_OPTS       extra JVM options, e.g. -Dapicurio.ccompat.use-canonical-hash=false
#                                (appended; word-split; -D beats the config file)
#   RFQ_APICURIO_COMPATIBILITY   global compatibility set once ready (default BACKWARD,
#                                Confluent's default; empty or NONE: leave Apicurio's NONE)
#   RFQ_APICURIO_TIMEOUT         seconds to wait for readiness (default 120)

_APICURIO_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The shared helpers (_servers_install_traps, _servers_watchdog, _servers_wait)
# of servers.sh next to this file, unless the caller sourced it already
# (shellcheck -x follows it).
# shellcheck source=SCRIPTDIR/servers.sh disable=SC1091
declare -F _servers_wait >/dev/null || . "$_APICURIO_HERE/servers.sh"
APICURIO_SKIP_REASON=${APICURIO_SKIP_REASON:-}
RFQ_APICURIO_DIST=${RFQ_APICURIO_DIST:-}
_APICURIO_PID=${_APICURIO_PID:-}
_APICURIO_DIR=${_APICURIO_DIR:-}
_APICURIO_WATCHDOG=${_APICURIO_WATCHDOG:-}

_apicurio_log() { echo "apicurio: $*"; }

# A property of apicurio-pom.xml, e.g. apicurio.version.
_apicurio_pom_prop() {
    sed -n "s:.*<$1>\(.*\)</$1>.*:\1:p" "$_APICURIO_HERE/apicurio-pom.xml" | head -n 1
}

apicurio_version() { _apicurio_pom_prop apicurio.version; }

# The cache directory for the current apicurio-pom.xml: <root>/apicurio-X_<hash>.
_apicurio_cache_dir() {
    local hash
    hash=$(sha256sum "$_APICURIO_HERE/apicurio-pom.xml" | cut -c 1-12)
    echo "${RFQ_SERVERS_CACHE:-$HOME/.cache/rfq-test-servers}/apicurio-$(apicurio_version)_$hash"
}

_apicurio_java() { echo "${RFQ_APICURIO_JAVA:-java}"; }

# The Java major version the pinned Apicurio needs: 21 from 3.3 on, else 17.
_apicurio_java_needed() {
    local v major minor
    v=$(apicurio_version)
    major=${v%%.*}
    minor=${v#*.}
    minor=${minor%%.*}
    if [ "$major" -gt 3 ] || { [ "$major" -eq 3 ] && [ "$minor" -ge 3 ]; }; then
        echo 21
    else
        echo 17
    fi
}

# Returns non-zero, with APICURIO_SKIP_REASON set, when Apicurio cannot run here.
apicurio_available() {
    APICURIO_SKIP_REASON=$(_servers_missing "$(_apicurio_java)" "$(_apicurio_java_needed)" \
        "$(_apicurio_cache_dir)" "Apicurio Registry $(apicurio_version) (RFQ_APICURIO_JAVA picks the java)")
    [ -z "$APICURIO_SKIP_REASON" ]
}

# Unpacks the server distribution from Maven Central into the cache, once per
# apicurio-pom.xml content; sets RFQ_APICURIO_DIST to <cache>/dist.
apicurio_fetch() {
    local dir tmp
    dir=$(_apicurio_cache_dir)
    if [ -f "$dir/.complete" ]; then
        _apicurio_log "Apicurio Registry $(apicurio_version) cached in $dir"
        RFQ_APICURIO_DIST=$dir/dist
        return 0
    fi
    _apicurio_log "fetching Apicurio Registry $(apicurio_version) from Maven Central into $dir"
    mkdir -p "$(dirname "$dir")"
    tmp="$dir.tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    cp "$_APICURIO_HERE/apicurio-pom.xml" "$tmp/pom.xml"
    if ! mvn -B -q -Dstyle.color=never -f "$tmp/pom.xml" dependency:unpack \
        -DoutputDirectory="$tmp/dist" >"$tmp/mvn.log" 2>&1; then
        echo "apicurio: Maven failed to fetch Apicurio Registry; last lines:" >&2
        tail -n 40 "$tmp/mvn.log" >&2
        rm -rf "$tmp"
        return 1
    fi
    rm -rf "$tmp/target"
    if [ -z "$(_apicurio_jar "$tmp/dist")" ]; then
        echo "apicurio: no *-runner.jar or quarkus-run.jar in the unpacked distribution ($tmp/dist)" >&2
        rm -rf "$tmp"
        return 1
    fi
    _servers_install_cache "$tmp" "$dir"
    RFQ_APICURIO_DIST=$dir/dist
}

# The jar to run in an unpacked distribution: the legacy-jar runner (3.0.x,
# next to lib/) or the fast-jar's quarkus-run.jar (quarkus-app/, 3.3+).
_apicurio_jar() {
    local jar
    jar=$(find "$1" -maxdepth 3 -name '*-runner.jar' 2>/dev/null | head -n 1)
    [ -n "$jar" ] || jar=$(find "$1" -maxdepth 3 -name quarkus-run.jar 2>/dev/null | head -n 1)
    echo "$jar"
}

# A small HTTP client (python3, no dependencies). Prints the response body;
# exits non-zero (with the status and body on stderr) unless the status is 2xx.
# Usage: _apicurio_http METHOD URL [JSON_BODY]
_apicurio_http() {
    python3 - "$@" <<'EOF'
import sys, urllib.request, urllib.error
method, url = sys.argv[1], sys.argv[2]
data = sys.argv[3].encode() if len(sys.argv) > 3 else None
req = urllib.request.Request(url, data=data, method=method,
                             headers={"Content-Type": "application/vnd.schemaregistry.v1+json",
                                      "Accept": "application/vnd.schemaregistry.v1+json"})
try:
    with urllib.request.urlopen(req, timeout=5) as r:
        print(r.read().decode())
except urllib.error.HTTPError as e:
    print(f"HTTP {e.code}: {e.read().decode()}", file=sys.stderr)
    sys.exit(1)
except Exception as e:
    print(f"{type(e).__name__}: {e}", file=sys.stderr)
    sys.exit(1)
EOF
}

# Starts Apicurio Registry on a free loopback port, in-memory, no auth; waits
# until the Confluent-compatible API answers; sets the global compatibility to
# $RFQ_APICURIO_COMPATIBILITY (BACKWARD); exports
# RFQ_TEST_APICURIO_URL=http://127.0.0.1:<port>/apis/ccompat/v7.
start_apicurio() {
    if [ -n "$_APICURIO_PID" ]; then
        _apicurio_log "already running at ${RFQ_TEST_APICURIO_URL:-?}"
        return 0
    fi
    local dir port jar java url compat start=$SECONDS
    if [ -z "$RFQ_APICURIO_DIST" ] || [ ! -f "$RFQ_APICURIO_DIST/../.complete" ]; then
        apicurio_fetch || return 1
    fi
    jar=$(_apicurio_jar "$RFQ_APICURIO_DIST")
    java=$(_apicurio_java)
    _servers_install_traps
    dir=$(mktemp -d "${TMPDIR:-/tmp}/rfq-apicurio.XXXXXX")
    _APICURIO_DIR=$dir
    port=$(python3 "$_APICURIO_HERE/probe.py" ports 1)
    mkdir -p "$dir/config" "$dir/logs" "$dir/tmp"
    # Quarkus reads ./config/application.properties (the JVM runs in $dir); it
    # overrides the application.properties built into the jar.
    cat >"$dir/config/application.properties" <<EOF
quarkus.http.host=127.0.0.1
quarkus.http.port=$port
quarkus.http.access-log.enabled=false

# Storage: SQL on an in-memory H2 database (Apicurio's default; gone at exit).
apicurio.storage.kind=sql
apicurio.storage.sql.kind=h2
apicurio.datasource.url=jdbc:h2:mem:registry
# Small machine: a few connections, not 20 (up to 100).
apicurio.datasource.jdbc.initial-size=2
apicurio.datasource.jdbc.min-size=2
apicurio.datasource.jdbc.max-size=10

# No authentication or authorization (like a plain Confluent registry).
apicurio.authn.enabled=false
apicurio.authn.basic-client-credentials.enabled=false
apicurio.auth.role-based-authorization=false
apicurio.auth.owner-only-authorization=false
quarkus.oidc.tenant-enabled=false

# Confluent-compatible API (/apis/ccompat/v7):
# - ids are content ids: the same schema under two subjects gets the same id,
#   as with Confluent (legacy mode would give a new global id per version);
apicurio.ccompat.legacy-id-mode.enabled=false
# - the same schema with other whitespace / JSON key order is found again
#   (register and lookup), as with Confluent, instead of a new version;
apicurio.ccompat.use-canonical-hash=true
# - GET /subjects lists all subjects (Confluent has no limit; default 1000);
apicurio.ccompat.max-subjects=100000
# - subjects are plain names (no "group:artifact" split).
apicurio.ccompat.group-concat.enabled=false

apicurio.import.work-dir=$dir/tmp
apicurio.storage.snapshot.location=$dir/tmp
EOF
    local jvm=(-Xms32m "-Xmx${RFQ_APICURIO_HEAP:-384m}" -XX:+UseSerialGC -XX:TieredStopAtLevel=1
        -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true "-Djava.io.tmpdir=$dir/tmp")
    # shellcheck disable=SC2086
    (cd "$dir" && exec "$java" "${jvm[@]}" ${RFQ_APICURIO_JAVA_OPTS:-} -jar "$jar") \
        >"$dir/logs/stdout.log" 2>&1 </dev/null &
    _APICURIO_PID=$!
    _servers_watchdog "$_APICURIO_PID" "$dir"
    _APICURIO_WATCHDOG=$_SERVERS_LAST_WATCHDOG
    # Ready when the ccompat API answers GET /subjects with a 2xx.
    if ! _servers_wait Apicurio "$_APICURIO_PID" "${RFQ_APICURIO_TIMEOUT:-120}" "$port" "$dir/logs/stdout.log" \
        _apicurio_http GET "http://127.0.0.1:$port/apis/ccompat/v7/subjects" >/dev/null; then
        stop_apicurio
        return 1
    fi
    url="http://127.0.0.1:$port/apis/ccompat/v7"
    compat=${RFQ_APICURIO_COMPATIBILITY-BACKWARD}
    # Apicurio has no global compatibility rule by default (GET /config says
    # NONE); Confluent's default is BACKWARD. A stored rule (not the
    # apicurio.rules.global.* default) so that PUT /config NONE really turns it off.
    # (NONE means "no rule": PUT /config NONE without a rule answers 404.)
    if [ -n "$compat" ] && [ "$compat" != NONE ] &&
        ! _apicurio_http PUT "$url/config" "{\"compatibility\":\"$compat\"}" >/dev/null; then
        echo "apicurio: setting the global compatibility to $compat failed" >&2
        stop_apicurio
        return 1
    fi
    export RFQ_TEST_APICURIO_URL=$url
    _apicurio_log "Apicurio Registry $(apicurio_version) ready at $RFQ_TEST_APICURIO_URL in $((SECONDS - start))s (pid $_APICURIO_PID, dir $dir)"
}

# Stops the server: SIGTERM, SIGKILL after 5 s, then removes its temp dir.
# Never fails; safe to call twice, before anything started, and from an EXIT
# trap (keeps the exit status).
stop_apicurio() {
    local pid=$_APICURIO_PID dir=$_APICURIO_DIR
    if [ -n "$_APICURIO_WATCHDOG" ]; then
        kill -KILL "$_APICURIO_WATCHDOG" 2>/dev/null || true
        wait "$_APICURIO_WATCHDOG" 2>/dev/null || true
    fi
    if [ -n "$pid" ]; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    if [ -n "$dir" ] && [ -z "${RFQ_SERVERS_KEEP:-}" ]; then rm -rf "$dir" || true; fi
    _APICURIO_PID="" _APICURIO_DIR="" _APICURIO_WATCHDOG=""
    return 0
}
