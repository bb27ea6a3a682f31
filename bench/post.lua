-- wrk script: POST /rfqs with a valid body (closed-loop intake, docs/performance.md, "Against the targets").
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.body = '{"from":{"lat":52.52,"lon":13.40},"to":{"lat":52.50,"lon":13.45},"customer":"alice","deadline-seconds":30}'
