# Dockerfile - lossd image: build with .ci/build.sh, run as non-root on bookworm-slim.
#
#   docker build -t lossd .                          (from the repository root)
#   docker build --build-arg RUN_TESTS=1 -t lossd .  also runs `make test` in the build stage
#   docker run --rm -p 8080:8080 lossd
#
# No -march=native anywhere: the binary must run on every CPU of its
# architecture; lossd picks its SIMD kernel at run time (LOSSD_SIMD forces one).

############################ build stage ############################
FROM debian:bookworm-slim AS build
WORKDIR /src

# Install the build packages first, from the Makefile's DEB_PKGS alone, so
# this layer stays cached while only sources change. Same script as CI.
COPY Makefile ./
COPY .ci/build.sh .ci/
RUN .ci/build.sh deps && rm -rf /var/lib/apt/lists/*

COPY . .
# Unit/integration tests are CI's job (`.ci/build.sh test` there); they run
# here only on request, because a failing timing test should not block an
# image build that CI already vetted. python3 is for the integration test
# (tests/integration_http.sh), which the Makefile's DEB_PKGS does not list.
ARG RUN_TESTS=0
RUN .ci/build.sh OPT=-O2 build/lossd \
 && if [ "$RUN_TESTS" = 1 ]; then EXTRA_DEB_PKGS=python3 .ci/build.sh OPT=-O2 test; fi

############################ runtime stage ##########################
FROM debian:bookworm-slim AS runtime

ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="lossd" \
      org.opencontainers.image.description="HTTP microservice computing multi_margin_loss (REST + Open Inference Protocol v2)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim" \
      org.opencontainers.image.vendor="lossd"

# Runtime libraries only (Debian 12 names): libmicrohttpd12 (pulls
# libgnutls30), libcjson1, libuv1, zlib1g. No curl: see HEALTHCHECK.
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        libmicrohttpd12 libcjson1 libuv1 zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 lossd \
 && useradd --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin lossd

COPY --from=build /src/build/lossd /usr/local/bin/lossd
# Fail the image build, not the first start, if a shared library is missing.
RUN ! ldd /usr/local/bin/lossd | grep 'not found'

# Defaults from README.md, "Configuration"; override with `docker run -e` or
# flags after the image name. LOSSD_THREADS is left unset (= number of CPUs);
# set it to the CPU limit when the container is CPU-limited.
ENV LOSSD_LISTEN=0.0.0.0:8080 \
    LOSSD_MAX_BODY=67108864 \
    LOSSD_QUEUE_DEPTH=1024 \
    LOSSD_TIMEOUT=30 \
    LOSSD_DRAIN_TIMEOUT=20 \
    LOSSD_LOG_FORMAT=plain

EXPOSE 8080
USER 10001:10001

# The slim image has no curl, and lossd no --healthcheck mode. Rather than
# add curl plus libcurl4 and its ~20 dependencies (size and CVE surface) we
# use bash, which bookworm-slim always has (Essential): /dev/tcp opens the
# connection, an HTTP/1.0 GET asks for /healthz, and only a "200" status
# line passes. The port follows LOSSD_LISTEN. `read -t` bounds a server
# that accepts but never answers; Docker's --timeout bounds the rest.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["bash", "-c", "port=${LOSSD_LISTEN##*:}; exec 3<>/dev/tcp/127.0.0.1/${port:-8080} && printf 'GET /healthz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && IFS= read -r -t 2 status <&3 && [[ $status == HTTP/1.?' 200'* ]]"]

# lossd handles SIGTERM itself (readiness 503, drain, exit 0) and spawns no
# children, so it runs as PID 1 without an init.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/lossd"]
