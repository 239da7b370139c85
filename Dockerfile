# The openlab image: the `openlab` command, running a Faust worker by default.
#
#   docker build -t openlab .
#   docker run --rm -e OPENLAB_KAFKA_HOST=... -e OPENLAB_INFLUX_HOST=... openlab          # worker
#   docker run --rm openlab --help                                                       # other commands
#   docker run --rm openlab agents list                                                  # its agents
#
# Every setting is an OPENLAB_* environment variable (streams/settings.py). docker-compose.yml
# runs this image beside Kafka, InfluxDB and Grafana.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# An unprivileged user. Its home is the working directory at run time: Faust keeps its data
# folder (<app_id>-data) in the current directory, so that must be writable.
RUN useradd --create-home --user-group --uid 10001 --shell /usr/sbin/nologin openlab
# The devices' logins (docker-compose.yml mounts a volume here, which takes this owner and mode).
RUN mkdir -m 0700 /devices && chown openlab:openlab /devices

WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY streams ./streams
COPY sensors ./sensors
COPY models ./models
COPY dashboards ./dashboards
# The stream agents the worker runs (OPENLAB_AGENTS): the example plugin; add your own here.
COPY examples/congestion ./examples/congestion
# Exactly the pinned versions; the installed packages, not /src, are what runs.
RUN pip install --no-cache-dir -c constraints.txt . ./examples/congestion \
    && rm -rf build ./*.egg-info examples/congestion/build examples/congestion/*.egg-info

USER openlab
WORKDIR /home/openlab

ENTRYPOINT ["openlab"]
CMD ["worker"]
