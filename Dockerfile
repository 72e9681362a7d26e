# tagship's action image: one static musl binary on scratch, with CA certificates, nothing else;
# and its GitLab variant (target `gitlab`), the same binary beside a shell.
# The release workflow (.github/workflows/release.yml) builds both for linux/amd64 and linux/arm64;
# action.yml pulls the image a release published; .github/actions/dev/action.yml (this
# repository's release job) builds it from here.
# tests/image/ lints this file (hadolint), checks the rules below and replays every stage
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

# The GitLab job image (`docker build --target gitlab`): GitLab's Docker executor runs a job's
# `script:` through a shell inside the job image, which `scratch` has none of. BusyBox's musl
# variant is one static binary (under 1 MB) with sh and the usual tools; the release workflow
# publishes this stage beside the action image and the CI/CD component (templates/tagship.yml)
# names it. No ENTRYPOINT: GitLab's runner hands its shell script to the entrypoint.
# Pinned as the build stage is: the digest of the tag's multi-platform index, from Docker's
# official-images records (docker-library/repo-info, repos/busybox/remote/1.38.0-musl.md).
FROM busybox:1.38.0-musl@sha256:246a00b08ecde11a4769a2587ab2c683e525b9f94b02dd9f73a6869108066bb9 AS gitlab
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /tagship /usr/local/bin/tagship

# The action image, the default target (what `image: Dockerfile` builds): the last stage.
FROM scratch
# rustls reads the system's roots (rustls-native-certs finds this file).
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /tagship /tagship
# No USER: GitHub runs container actions as root, and the runner's files expect it.
ENTRYPOINT ["/tagship", "action"]
