import { resolveDockerfile } from '../planner/index.js';

/**
 * A Dockerfile with every instruction and the forms real files use, parsed and resolved once
 * when the bundle's code cache is made (scripts/bundle-cli.mjs): V8 compiles a function when it
 * first runs and caches only what was compiled by then, so without this every build compiled
 * the parser and the planner again before its first step (about 12 ms of a warm rebuild).
 */
const rehearsal = `# syntax=docker/dockerfile:1
# escape=\\
ARG BASE=busybox VERSION="1.0"
FROM \${BASE}:latest AS build
ARG NFILES=2
ENV A=1 B="two words" PATH=/opt/bin:$PATH
ENV LEGACY value with spaces
LABEL org.example.title="x" other=y
WORKDIR /src/\${NFILES}
USER 1000:1000
SHELL ["/bin/sh", "-c"]
RUN echo "$A" && i=0; while [ $i -lt $NFILES ]; do i=$((i+1)); done
RUN --mount=type=cache,target=/root/.cache --mount=type=bind,source=.,target=/ctx --network=none ["/bin/true"]
COPY --chown=1000:1000 --chmod=755 ctx/ ./ctx/
COPY --link a* b?[0-9] /dest/
ADD --checksum=sha256:0000000000000000000000000000000000000000000000000000000000000000 https://example.com/x.tar.gz /x/
COPY <<'EOT' /etc/motd
hello $A
EOT
RUN <<EOT
echo heredoc
EOT
EXPOSE 80/tcp 443
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=3s CMD wget -q -O- http://localhost/ || exit 1
STOPSIGNAL SIGTERM
ONBUILD RUN echo triggered

FROM build AS final
COPY --from=build /src /app
ENTRYPOINT ["/app/run"]
CMD ["--help"]
`;

export function rehearseFrontEnd(): void {
  resolveDockerfile({ source: rehearsal, file: 'Dockerfile' }, { buildArgs: { NFILES: '3' }, baseImage: () => ({}) });
}
