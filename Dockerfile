# syntax=docker/dockerfile:1
# gemnasium-bitbucket in a small runtime image whose PATH holds `auth`, `repo-syncer` and
# `configure`, so that Gemnasium's documented commands run as `docker exec -it NAME configure`.
#
#   docker build -t gemnasium-bitbucket .
#   docker run -d --name gemnasium -v gemnasium-data:/data gemnasium-bitbucket
#   docker exec -it gemnasium configure
#
# The service example is an optional target:
#   docker build --target service -t gemnasium-bitbucket-service .
#   docker run -p 8080:8080 -v gemnasium-data:/data -e GEMNASIUM_HOMEPAGE=https://g.example gemnasium-bitbucket-service

FROM rust:1.89-slim-bookworm AS builder
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p gemnasium-bitbucket-cli -p gemnasium-bitbucket-examples \
        --bin gemnasium-bitbucket --bin service \
    && install -D -m 0755 target/release/gemnasium-bitbucket /out/gemnasium-bitbucket \
    && install -D -m 0755 target/release/service /out/service

FROM debian:bookworm-slim AS base
# ca-certificates follows Debian's security updates: pinning it would freeze them.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data gemnasium \
    && mkdir -p /data \
    && chown gemnasium /data
COPY --from=builder /out/gemnasium-bitbucket /usr/local/bin/gemnasium-bitbucket
RUN gemnasium-bitbucket links /usr/local/bin
ENV GEMNASIUM_STORE=sqlite:///data/store.db
VOLUME /data
WORKDIR /data

# Optional: the service example (sign-in, webhooks, periodic sync). Set GEMNASIUM_HOMEPAGE to
# its public URL: the consumer's callback is {homepage}/auth/auth/bitbucket.org.
FROM base AS service
COPY --from=builder /out/service /usr/local/bin/service
ENV SERVICE_LISTEN=0.0.0.0:8080
USER 10001
EXPOSE 8080
CMD ["service"]

# The default target (last stage): the command-line tools, kept up for `docker exec`.
FROM base AS runtime
USER 10001
CMD ["sleep", "infinity"]
