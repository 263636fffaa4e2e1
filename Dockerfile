# Multi-stage build: a static wdtcancel binary in a distroless image, run as
# a non-root user. The same image runs worker, api, sandbox, enqueue, dlq.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/wdtcancel ./cmd/wdtcancel

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/wdtcancel /usr/local/bin/wdtcancel
USER nonroot:nonroot
EXPOSE 8080 8081 8090
ENTRYPOINT ["/usr/local/bin/wdtcancel"]
CMD ["worker"]
