# One image for every streamrec process; the command selects worker, reader or a tool.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY app ./app
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 streamrec
COPY --from=build /install /usr/local
USER 10001
WORKDIR /home/streamrec
ENV STREAMREC_DATA_DIR=/tmp/streamrec
ENTRYPOINT ["streamrec"]
CMD ["worker"]
