# tagship's action image: one static musl binary on scratch, with CA certificates, nothing else.
# The release workflow (.github/workflows/release.yml) builds it for linux/amd64 and linux/arm64;
# a workflow that says `uses: OWNER/tagship@…` without a prebuilt image builds it from here.
# tests/image/ lints this file (hadolint), checks the rules below and replays the build stage
# step by step (scripts/test), so a step that fails here fails the tests first.

# Rust's official Alpine image, where musl is the native target: no cross toolchain, and the binary
# is statically linked by default. It already has gcc and musl-dev (ring's C code) and
# ca-certificates, so nothing is installed. Its Rust is the toolchain tagship is tested with.
# Pinned by tag and by the digest of that tag's multi-platform index (amd64, arm64, …): a rebuild
# starts from the same bytes. The tag is for people; to move it, change both together.
FROM rust:1.95.0-alpine3.23@sha256:606fd313a0f49743ee2a7bd49a0914bab7deedb12791f3a846a34a4711db7ed2 AS build
WORKDIR /src

# The dependencies first, in a layer of their own that is reused as long as Cargo.toml, Cargo.lock
# and the stub script stay the same: a build with stub sources. cargo refuses a manifest whose
# declared targets (benches, examples, a [lib] path…) have no file, even when it builds only the
# binary, so stub-targets.sh stubs every target Cargo.toml declares, whatever they are, and removes
# exactly those stubs after the build.
COPY Cargo.toml Cargo.lock scripts/lib/stub-targets.sh ./
RUN sh stub-targets.sh create \
 && cargo build --release --locked --bin tagship \
 && sh stub-targets.sh remove

# Then tagship itself: src/ is everything the crate reads at compile time (src/plan/notes.md.j2 is
# include_str!'d). COPY keeps the files' times, which are older than the stub build: without the
# touch, cargo would take the stub for up to date and ship it (a 300 KB binary that does nothing);
# the --version check proves the binary runs and is tagship.
COPY src ./src
COPY benches ./benches
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked --bin tagship \
 && ./target/release/tagship --version > version.txt \
 && grep '^tagship ' version.txt \
 && cp target/release/tagship /tagship

FROM scratch
# rustls reads the system's roots (rustls-native-certs finds this file).
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /tagship /tagship
# No USER: GitHub runs container actions as root, and the runner's files expect it.
ENTRYPOINT ["/tagship", "action"]
