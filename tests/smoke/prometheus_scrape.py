#!/usr/bin/env python3
"""Checks our monitoring with a real Prometheus (Debian's `prometheus`).

1. `promtool check config` on the compose stack's `prometheus/prometheus.yml`.
2. Starts the real `rfq up` and a real Prometheus scraping its /metrics,
   submits two RFQs and waits until Prometheus has scraped their closes.
3. Runs every query of every Grafana dashboard in `grafana/dashboards/`
   against that Prometheus: each must be valid PromQL (Prometheus answers
   `success`), and the intake, aggregation, adapter and per-partner provider
   panels must show data, labelled by a known partner (the aggregator learnt
   provider → adapter from the providers topic).
   The HTTP partner panels (`rfq_partner_*`) show data too: `rfq up
   --partner` hosts the HTTP partner example (examples/http_partner.py).
4. Stops both with SIGINT / SIGTERM and expects clean exits.

Usage: prometheus_scrape.py PATH_TO_RFQ_BINARY
"""

import json
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

from outside_client import check, free_port, request, wait_for_http

REPO = pathlib.Path(__file__).resolve().parents[2]

# Panels that must show data once one RFQ went through `rfq up` (their
# query mentions one of these series).
MUST_HAVE_DATA = (
    "rfq_producer_submissions_total",
    "rfq_aggregator_closed_total",
    "rfq_aggregator_responses_total",
    "rfq_adapter_answers_total",
    "rfq_store_operation_seconds",
    "rfq_store_effects_total",
    "rfq_provider_lines_total",
    "rfq_provider_answer_seconds",
)

# The HTTP partner's (`rfq up --partner`).
PARTNER_MUST_HAVE_DATA = (
    "rfq_partner_calls_total",
    "rfq_partner_call_seconds",
)


def tool(name):
    path = shutil.which(name)
    if path is None:
        raise SystemExit(f"FAILED: `{name}` not found: install Debian's prometheus "
                         "package (.ci/run does)")
    return path


def dashboard_queries():
    queries = []
    for path in sorted((REPO / "grafana" / "dashboards").glob("*.json")):
        dashboard = json.loads(path.read_text())
        panels = list(dashboard.get("panels", []))
        while panels:
            panel = panels.pop()
            panels.extend(panel.get("panels", []))
            for target in panel.get("targets", []):
                if target.get("expr"):
                    queries.append((path.name, panel.get("title", "?"), target["expr"]))
    return queries


def query(prometheus, expr):
    url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    status, _, body = request("GET", url)
    return status, body


def wait_until(what, predicate, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise SystemExit(f"FAILED: {what} within {timeout} s")


def stop(process, sig, name):
    process.send_signal(sig)
    try:
        output, _ = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        raise SystemExit(f"FAILED: {name} did not stop\n{output}")
    check(process.returncode == 0, f"{name} exits 0 (got {process.returncode})")


def main():
    binary = sys.argv[1]
    promtool, prometheus_bin = tool("promtool"), tool("prometheus")
    config = REPO / "prometheus" / "prometheus.yml"
    checked = subprocess.run([promtool, "check", "config", str(config)],
                             capture_output=True, text=True)
    check(checked.returncode == 0,
          f"promtool accepts prometheus/prometheus.yml {checked.stdout.strip()} "
          f"{checked.stderr.strip()}")

    queries = dashboard_queries()
    check(len(queries) > 0, f"{len(queries)} dashboard queries found")

    must_have_data = MUST_HAVE_DATA + PARTNER_MUST_HAVE_DATA
    partner_port = free_port()
    partner = subprocess.Popen(
        [sys.executable, str(REPO / "examples" / "http_partner.py"), "--port", str(partner_port),
         "--providers", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    partner_args = ["--partner", f"smoke=http://127.0.0.1:{partner_port}/"]

    http_port, kafka_port, prom_port = free_port(), free_port(), free_port()
    base = f"http://127.0.0.1:{http_port}"
    prometheus = f"http://127.0.0.1:{prom_port}"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        rfq = subprocess.Popen(
            [binary, "up", "--http-addr", f"127.0.0.1:{http_port}",
             "--kafka-addr", f"127.0.0.1:{kafka_port}", "--data-dir", str(tmp / "rfq"),
             "--schema-registry-addr", "127.0.0.1:0", *partner_args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        (tmp / "prometheus.yml").write_text(
            "global:\n  scrape_interval: 1s\n"
            "scrape_configs:\n"
            f"  - job_name: rfq-up\n    static_configs:\n"
            f"      - targets: ['127.0.0.1:{http_port}']\n")
        prom = subprocess.Popen(
            [prometheus_bin, f"--config.file={tmp / 'prometheus.yml'}",
             f"--storage.tsdb.path={tmp / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prom_port}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            wait_for_http(base, rfq, str(tmp / "rfq"))

            def scraped(expr):
                status, answer = query(prometheus, expr)
                return status == 200 and len(answer["data"]["result"]) > 0

            def one_rfq():
                body = {"from": {"lat": 52.52, "lon": 13.40},
                        "to": {"lat": 52.50, "lon": 13.45},
                        "deadline-seconds": 30}
                status, headers, _ = request("POST", f"{base}/rfqs", body)
                check(status == 202, "an RFQ is accepted")
                location = headers["Location"]
                wait_until("the RFQ closes",
                           lambda: request("GET", base + location)[0] == 303)

            wait_until("Prometheus scrapes rfq up (up == 1)",
                       lambda: scraped('up{job="rfq-up"} == 1'))
            wait_until("the adapter lists the HTTP partner's provider",
                       lambda: scraped('rfq_partner_providers{partner="smoke"} > 0'))
            # A counter's first sample is not an increase: one RFQ creates
            # the series, a second one after that scrape makes rates > 0.
            one_rfq()
            wait_until("Prometheus has the first close",
                       lambda: scraped("rfq_aggregator_closed_total > 0"))
            one_rfq()
            for expr in ("increase(rfq_aggregator_closed_total[1m]) > 0",
                         "increase(rfq_adapter_answers_total[1m]) > 0",
                         "increase(rfq_producer_submissions_total[1m]) > 0"):
                wait_until(f"Prometheus sees {expr}", lambda: scraped(expr))
            # Per-partner lines, labelled by the adapter the aggregator read
            # from the providers topic, not `unknown`.
            known = 'increase(rfq_provider_lines_total{partner!~"unknown|other"}[1m]) > 0'
            wait_until(f"Prometheus sees {known}", lambda: scraped(known))
            # Its registration reaches the producer a moment after the
            # listing: RFQs until one is addressed to it and answered.
            calls = 'increase(rfq_partner_calls_total{partner="smoke"}[1m]) > 0'
            for _ in range(10):
                if scraped(calls):
                    break
                one_rfq()
            wait_until(f"Prometheus sees {calls}", lambda: scraped(calls))

            invalid, empty = [], []
            for name, title, expr in queries:
                status, answer = query(prometheus, expr)
                if status != 200 or answer.get("status") != "success":
                    invalid.append(f"{name} / {title}: {expr} -> {answer.get('error', status)}")
                elif not answer["data"]["result"]:
                    empty.append((title, expr))
            check(not invalid, "every dashboard query is valid PromQL"
                  + "".join(f"\n  {line}" for line in invalid))
            missing = [f"{t}: {e}" for t, e in empty if any(m in e for m in must_have_data)]
            check(not missing, "intake, aggregation, adapter and provider panels show data"
                  + "".join(f"\n  {line}" for line in missing))
            print(f"ok: {len(queries) - len(empty)} of {len(queries)} dashboard queries "
                  f"return data after two RFQs; empty: {[t for t, _ in empty]}")
        finally:
            stop(prom, signal.SIGTERM, "prometheus")
            stop(rfq, signal.SIGINT, "rfq up")
            partner.kill()
    print("prometheus smoke: every check passed")


if __name__ == "__main__":
    main()
