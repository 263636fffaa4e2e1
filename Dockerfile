# Multi-stage build: a static wdtcancel binary in a distroless image, run as
# a non-root user. The same image runs worker, api, sandbox, enqueue, dlq.
#
# The build copies no .git (.dockerignore), so Go cannot stamp the commit:
# pass it, or `wdtcancel --version` says "commit unknown":
#
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) \
#                --build-arg COMMIT=$(git rev-parse HEAD) -t wdtcancel .
#
# (docker-compose.yml passes both from WDTCANCEL_VERSION / WDTCANCEL_COMMIT.)
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=""
ARG COMMIT=""
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags="-s -w -X main.linkVersion=${VERSION} -X main.linkCommit=${COMMIT}" \
      -o /out/wdtcancel ./cmd/wdtcancel

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/wdtcancel /usr/local/bin/wdtcancel
USER nonroot:nonroot
EXPOSE 8080 8081 8090
# No shell or curl in distroless: the binary checks itself. It asks the
# worker's ops port (--listen, WDTCANCEL_LISTEN; 127.0.0.1:8080 by default)
# for /readyz. Containers running api or sandbox override it
# (docker-compose.yml); one-shot commands (enqueue, dlq) end before it runs.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/wdtcancel", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/wdtcancel"]
CMD ["worker"]
