# syntax=docker/dockerfile:1
#
# The rfq image: one binary, every component a subcommand
# (`docker run rfq:0.1.0 --help`). Configured through environment variables;
# see docker-compose.yml.

# ---------------------------------------------------------------- builder
# rust:*-bookworm carries gcc, g++, make, perl, pkg-config and zlib1g-dev,
# which is all librdkafka (built from source by rdkafka-sys) and the bundled
# SQLite need; no cmake.
FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
# The cargo registry and the target directory live in BuildKit caches, so a
# rebuild after a source change compiles only our crates. The target dir is
# a cache mount (not in the image), hence the copy out.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin rfq \
 && cp target/release/rfq /usr/local/bin/rfq

# ---------------------------------------------------------------- runtime
FROM debian:bookworm-slim
# ca-certificates: TLS to brokers / ScyllaDB; curl: container health checks;
# zlib1g: librdkafka's compression (linked dynamically).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl zlib1g \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 rfq \
 && useradd --system --uid 10001 --gid rfq --home-dir /var/lib/rfq --create-home rfq
COPY --from=builder /usr/local/bin/rfq /usr/local/bin/rfq
USER rfq:rfq
# Relative paths (the embedded store's data/results.db) land here.
WORKDIR /var/lib/rfq
ENTRYPOINT ["rfq"]
CMD ["--help"]
