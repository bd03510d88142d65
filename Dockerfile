# syntax=docker/dockerfile:1
# One image for every streamrec process; the command selects it:
#   worker | reader | topics create | eval | rebuild --yes | ...
# Build:  docker build -t streamrec:0.2.0 .

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY app ./app
# a wheel first, then an isolated prefix that the runtime stage copies as a whole
RUN pip wheel --no-deps --wheel-dir /wheels . \
 && pip install --prefix=/install /wheels/*.whl

FROM python:3.11-slim AS runtime
LABEL org.opencontainers.image.title="streamrec" \
      org.opencontainers.image.description="Streaming, real-time recommender: Kafka + Faust + Redis" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    STREAMREC_DATA_DIR=/tmp/streamrec STREAMREC_CACHE_DIR=/tmp/streamrec-cache \
    STREAMREC_READER_HOST=0.0.0.0
RUN groupadd --system --gid 10001 streamrec \
 && useradd --system --uid 10001 --gid streamrec --no-create-home --shell /usr/sbin/nologin streamrec
COPY --from=build /install /usr/local
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080 9108
# the reader answers /readyz on 8080, the worker /metrics on 9108: either is healthy
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["streamrec", "health"]
ENTRYPOINT ["streamrec"]
CMD ["worker"]
