# The base of ../legacy-builder-base, built by docker 20.10's classic builder (not BuildKit: its
# config carries Hostname, Domainname, Attach*, Tty, OpenStdin, StdinOnce and Image, and
# container_config beside config, as images on registries built before BuildKit do) and pushed
# to a registry of one's own (docker-registry serve on 127.0.0.1:5001):
#   DOCKER_HOST=unix:///run/peer-docker.sock DOCKER_BUILDKIT=0 /opt/peers/docker/usr/bin/docker build -t 127.0.0.1:5001/parity/legacy-base:1 -f base.Dockerfile .
#   DOCKER_HOST=unix:///run/peer-docker.sock /opt/peers/docker/usr/bin/docker push 127.0.0.1:5001/parity/legacy-base:1
FROM 127.0.0.1:5000/library/busybox:latest
LABEL maintainer="someone@example.org" org.example.base=legacy
ENV APP_HOME=/opt/app PATH=/opt/app/bin:$PATH
RUN mkdir -p /opt/app/bin /data && echo base > /opt/app/VERSION && chown nobody /opt/app
WORKDIR /opt/app
EXPOSE 8080 9090/udp
VOLUME /data
USER nobody
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=45s --timeout=3s CMD wget -qO- http://127.0.0.1:8080/ || exit 1
SHELL ["/bin/sh", "-ec"]
ONBUILD COPY . /opt/app/src/
ONBUILD RUN echo onbuild ran > /opt/app/onbuild
ENTRYPOINT ["/bin/sh", "-c"]
CMD echo legacy
