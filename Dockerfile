# Nightshift: the daemon and its dashboard in one image (deploy/README.md).
#   podman build -t nightshift .      (or docker build)
#   podman run --rm -p 8080:8080 nightshift    then http://127.0.0.1:8080/
# The build stage compiles on debian:bookworm with the packages of
# scripts/install-deps --build; the runtime stage is debian:bookworm-slim with
# only the shared libraries the binary loads (scripts/runtime-packages).

FROM debian:bookworm AS build
ARG BUILD_JOBS=2
COPY scripts/install-deps /src/scripts/install-deps
# ccache: used only when the builder lends a cache at /ccache (see the build below).
RUN sh /src/scripts/install-deps --build \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ccache \
 && rm -rf /var/lib/apt/lists/*
# Only what the build reads, so that editing docs or deploy/ does not recompile.
COPY CMakeLists.txt /src/
COPY cmake /src/cmake
COPY lib /src/lib
COPY daemon /src/daemon
COPY web /src/web
COPY test /src/test
COPY bench /src/bench
WORKDIR /src
# A builder may lend its ccache (scripts/test-container: podman build
# --volume $CCACHE_DIR:/ccache, read-only when it is another user's). The
# build folder /src/build-release, CCACHE_BASEDIR=/src and LANG (ccache hashes
# the locale) give the compiler the same inputs as the Release build of
# scripts/test (build-release in the checkout), so this compile finds what that
# one cached. Without a lent cache ccache is off: nothing of it lands in a
# layer. The build folder is dropped: the binary is all the next steps need.
ENV LANG=C.UTF-8
RUN if [ -d /ccache ]; then export CCACHE_DIR=/ccache CCACHE_BASEDIR=/src CCACHE_NOHASHDIR=1; \
      [ -w /ccache ] || export CCACHE_READONLY=1 CCACHE_TEMPDIR=/tmp/ccache; \
    else export CCACHE_DISABLE=1; fi \
 && cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null \
 && cmake --build build-release --target nightshift -j "$BUILD_JOBS" \
 && install -D -s -m 0755 build-release/daemon/nightshift /out/usr/bin/nightshift \
 && rm -rf build-release
COPY scripts /src/scripts
COPY jobs.d /src/jobs.d
COPY deploy/docker /src/deploy/docker
RUN scripts/runtime-packages /out/usr/bin/nightshift > /out/runtime-packages \
 && install -d /out/var/lib/nightshift \
 && sqlite3 /out/var/lib/nightshift/dmp.db < scripts/demo-seed.sql >/dev/null \
 && install -D -m 0644 deploy/docker/nightshift.yaml /out/etc/nightshift/nightshift.yaml \
 && install -d /out/etc/nightshift/jobs.d /out/etc/nightshift/secrets \
 && install -m 0644 jobs.d/*.yaml /out/etc/nightshift/jobs.d/ \
 && ln -s /var/lib/nightshift /out/etc/nightshift/var

FROM debian:bookworm-slim
COPY --from=build /out/runtime-packages /tmp/runtime-packages
# The binary's libraries; tzdata for the jobs' time zones; ca-certificates for
# TLS to MySQL and webhooks; sqlite3 for the example kpi job's load step.
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      $(cat /tmp/runtime-packages) tzdata ca-certificates sqlite3 \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/nightshift \
      --shell /usr/sbin/nologin nightshift
COPY --from=build /out/usr/bin/nightshift /usr/bin/nightshift
COPY --from=build /out/etc/nightshift /etc/nightshift
COPY --from=build --chown=nightshift:nightshift /out/var/lib/nightshift /var/lib/nightshift
RUN chown root:nightshift /etc/nightshift/secrets && chmod 0750 /etc/nightshift/secrets

USER nightshift
WORKDIR /var/lib/nightshift
VOLUME /var/lib/nightshift
EXPOSE 8080
# The binary probes itself: slim has no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/usr/bin/nightshift", "health"]
# SIGTERM drains: running steps get shutdown_grace (45 s), so stop with -t 60.
STOPSIGNAL SIGTERM
# The daemon is PID 1: it handles SIGTERM itself and, as the subreaper of its
# steps, reaps the orphans they leave (no init needed).
ENTRYPOINT ["/usr/bin/nightshift"]
CMD ["serve", "--config", "/etc/nightshift/nightshift.yaml"]
