#!/usr/bin/env python3
"""Checks the HTTP API against its own contract, with schemathesis.

Starts the real `rfq up` on free ports in a fresh data directory, reads its
demo API key, and runs schemathesis against `GET /openapi.json` with every
check (`--checks all`): each operation with generated valid and invalid
requests (examples, coverage, fuzzing), then stateful sequences that follow
the links schemathesis infers (`POST /rfqs` -> `Location` -> status,
result, events). Deadlines are bounded to 2 s (`--max-deadline-seconds`,
which the document states), so every live stream schemathesis opens ends
within seconds. Exits non-zero on any failure; the last line sums up.

Usage: api_contract.py PATH_TO_RFQ_BINARY [MAX_EXAMPLES]
"""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from outside_client import free_port, wait_for_http  # noqa: E402


def main():
    binary = sys.argv[1]
    examples = sys.argv[2] if len(sys.argv) > 2 else "40"
    here = os.path.dirname(os.path.abspath(__file__))
    schemathesis = os.path.join(os.path.dirname(sys.executable), "schemathesis")
    http_port, kafka_port = free_port(), free_port()
    base = f"http://127.0.0.1:{http_port}"
    with tempfile.TemporaryDirectory() as data_dir:
        process = subprocess.Popen(
            [binary, "up", "--http-addr", f"127.0.0.1:{http_port}",
             "--kafka-addr", f"127.0.0.1:{kafka_port}", "--data-dir", data_dir,
             "--schema-registry-addr", "127.0.0.1:0",
             # Streams last until the deadline: keep them short.
             "--max-deadline-seconds", "2", "--default-deadline-seconds", "2",
             # Valid requests are accepted, not shed by the per-customer rate.
             "--customer-rate", "1000", "--customer-burst", "1000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_http(base, process, data_dir)
            with open(os.path.join(data_dir, "demo-api-key")) as key:
                api_key = key.read().strip()
            with open(os.path.join(data_dir, "demo-operator-key")) as key:
                operator_key = key.read().strip()
            report = os.path.join(data_dir, "schemathesis.json")
            # The key through the document's security scheme (not a plain
            # header), so the auth checks can leave it out.
            config = os.path.join(data_dir, "schemathesis.toml")
            with open(config, "w") as file:
                file.write('[auth.openapi.bearer]\nbearer = "${RFQ_API_KEY}"\n')
                # Scorecards are an operator's to read (a customer's key: 403).
                for path in ("/providers", "/providers/{id}/scorecard"):
                    file.write(f'\n[[operations]]\ninclude-path = "{path}"\n'
                               'headers = { Authorization = "Bearer ${RFQ_OPERATOR_KEY}" }\n')
            command = [
                schemathesis, "--config-file", config, "run", f"{base}/openapi.json",
                "--checks", "all",
                "--max-examples", examples,
                "--request-timeout", "15",
                "--seed", "14",
                "--report", "json", "--report-json-path", report,
            ]
            print("running: schemathesis --config-file <[auth.openapi.bearer] the demo key> run",
                  "<base>/openapi.json", " ".join(command[5:]), flush=True)
            env = dict(os.environ, SCHEMATHESIS_HOOKS="schemathesis_hooks", RFQ_API_KEY=api_key,
                       RFQ_CUSTOMER="demo", RFQ_OPERATOR_KEY=operator_key,
                       PYTHONPATH=here + os.pathsep + os.environ.get("PYTHONPATH", ""))
            # Its cache stays in the temporary directory.
            run = subprocess.run(command, env=env, cwd=data_dir, capture_output=True,
                                 text=True, timeout=900)
            output = run.stdout + run.stderr
            print(output.replace(api_key, "$KEY").replace(operator_key, "$OPERATOR_KEY"))
            summary(output, run.returncode)
            return run.returncode
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()


def summary(output, returncode):
    tested = re.search(r"Tested: (\d+)", output)
    cases = re.search(r"(\d+) generated", output)
    failures = re.search(r"=+ (.*?) in [\d.]+s =+", output)
    print(
        f"schemathesis: {'PASSED' if returncode == 0 else 'FAILED'}: "
        f"{tested.group(1) if tested else '?'} operations, "
        f"{cases.group(1) if cases else '?'} test cases, checks all; "
        f"{failures.group(1) if failures else 'exit ' + str(returncode)}"
    )


if __name__ == "__main__":
    sys.exit(main())
