# The base of ../onbuild-image-base, built earlier and pushed to a registry of one's own
# (docker-registry serve on 127.0.0.1:5001):
#   docker build -t 127.0.0.1:5001/parity/onbuild-base:1 -f base.Dockerfile . && docker push 127.0.0.1:5001/parity/onbuild-base:1
FROM 127.0.0.1:5000/library/busybox:latest
LABEL base.label=from-base
ENV BASE_ENV=base PATH=/opt/base/bin:$PATH
WORKDIR /app
USER 1000:1000
ONBUILD USER root
ONBUILD ARG GREETING=hello
ONBUILD COPY . /app/src/
ONBUILD RUN echo "$GREETING $BASE_ENV" > /app/greeting && id > /app/trigger-id
ONBUILD ENV TRIGGERED=yes
ONBUILD WORKDIR work
ONBUILD LABEL onbuild.label=triggered
HEALTHCHECK --interval=10s CMD true
STOPSIGNAL SIGINT
EXPOSE 8080
VOLUME /data
SHELL ["/bin/sh", "-ec"]
ENTRYPOINT ["/bin/sh"]
CMD ["-c", "echo base"]
