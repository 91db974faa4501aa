# paymux as a container: built in one stage, run from a slim one as an unprivileged user.
#   docker build -t paymux .
#   docker run -p 8080:8080 -v paymux-data:/var/lib/paymux paymux
# The data directory (SQLite store, credentials.json) is the volume /var/lib/paymux; with
# PAYMUX_DATABASE_URL set the store is PostgreSQL instead and the volume keeps credentials.json.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# No .git in the build context: the commit comes in as a build argument.
ARG PAYMUX_COMMIT=unknown
ENV PAYMUX_COMMIT=${PAYMUX_COMMIT}
RUN cargo build --release --locked -p paymux && cp target/release/paymux /usr/local/bin/paymux

FROM debian:bookworm-slim
# curl for the health check; CA certificates for the channels' HTTPS APIs.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/paymux --shell /usr/sbin/nologin paymux \
    && install -d -o paymux -g paymux -m 0700 /var/lib/paymux
COPY --from=build /usr/local/bin/paymux /usr/local/bin/paymux
USER paymux
ENV PAYMUX_DATA_DIR=/var/lib/paymux \
    PAYMUX_LISTEN=0.0.0.0:8080
VOLUME ["/var/lib/paymux"]
EXPOSE 8080
# Ready means the store takes writes now; a load balancer should send payments only then.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/readyz || exit 1
ENTRYPOINT ["/usr/local/bin/paymux"]
CMD ["serve"]
