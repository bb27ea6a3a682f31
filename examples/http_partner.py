#!/usr/bin/env python3
"""A partner over HTTP, with the standard library only: lists its providers
(GET /providers) and quotes every RFQ it is asked for (POST /quotes), as
docs/partners.md ("Partners over HTTP") describes. Run it, then host it:

    python3 examples/http_partner.py --port 9300 --lat 52.52 --lon 13.40 &
    cargo run --bin rfq -- up --partner acme=http://127.0.0.1:9300/

--callback answers 202 and posts the quotes to the callback URL instead.
"""

import argparse
import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9300)
    parser.add_argument("--lat", type=float, default=52.52)
    parser.add_argument("--lon", type=float, default=13.40)
    parser.add_argument("--providers", type=int, default=3)
    parser.add_argument("--callback", action="store_true")
    args = parser.parse_args()
    providers = [
        {"id": f"car-{i + 1}", "position": {"lat": args.lat + 0.002 * i, "lon": args.lon}}
        for i in range(args.providers)
    ]
    seen = {}  # idempotency key -> the answers given: a repeated call gets the same

    class Partner(BaseHTTPRequestHandler):
        def send_json(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path.rstrip("/").endswith("/providers"):
                self.send_json(200, {"providers": providers})
            else:
                self.send_json(404, {})

        def do_POST(self):
            length = int(self.headers.get("content-length", "0"))
            request = json.loads(self.rfile.read(length) or b"{}")
            key = self.headers.get("idempotency-key", request.get("correlation-id"))
            answers = seen.setdefault(key, {"answers": [
                {"provider": p, "quote": {"price": f"{12 + i}.50", "currency": "EUR",
                                          "pickup-eta-seconds": 180 + 60 * i}}
                for i, p in enumerate(request.get("providers", []))
            ]})
            if not args.callback:
                self.send_json(200, answers)
                return
            self.send_response(202)
            self.send_header("content-length", "0")
            self.end_headers()

            def post():
                body = json.dumps(answers).encode()
                call = urllib.request.Request(request["callback"], body, method="POST",
                                              headers={"content-type": "application/json"})
                with urllib.request.urlopen(call, timeout=10) as response:
                    print("callback", response.status, flush=True)

            threading.Thread(target=post, daemon=True).start()

        def log_message(self, *_):
            pass

    print(f"HTTP partner on http://127.0.0.1:{args.port}/ with {len(providers)} providers", flush=True)
    ThreadingHTTPServer(("127.0.0.1", args.port), Partner).serve_forever()


if __name__ == "__main__":
    main()
