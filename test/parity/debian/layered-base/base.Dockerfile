# The base of ../layered-base, pushed to a registry of one's own (docker-registry serve on
# 127.0.0.1:5001):
#   docker build -t 127.0.0.1:5001/parity-deb/multi:1 -f base.Dockerfile . && docker push 127.0.0.1:5001/parity-deb/multi:1
FROM 127.0.0.1:5000/library/debian:bookworm-slim
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y --no-install-recommends netbase && rm -rf /var/lib/apt/lists/* /var/cache/debconf/*-old
RUN rm -rf /usr/share/doc/* /usr/share/man /etc/cron.daily /usr/share/zoneinfo/Europe && rm -f /etc/motd
