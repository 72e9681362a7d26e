# tagship's action image: a static musl binary on scratch, with CA certificates.
# Base images are pinned to exact versions; the release workflow builds linux/amd64 and linux/arm64.

FROM rust:1.91.1-alpine3.22 AS build
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
RUN cargo build --release --locked \
 && cp target/release/tagship /tagship

FROM alpine:3.22.2 AS certs
RUN apk add --no-cache ca-certificates

FROM scratch
COPY --from=certs /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /tagship /tagship
# No USER: GitHub runs container actions as root, and the runner's files expect it.
ENTRYPOINT ["/tagship", "action"]
