# The Sockt server image (for docker-compose.yml).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin sockt --bin sockt-bench

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates mmdebstrap \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/sockt /src/target/release/sockt-bench /usr/local/bin/
EXPOSE 8080
ENTRYPOINT ["sockt", "serve"]
