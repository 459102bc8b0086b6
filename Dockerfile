# The sharebus image: the `sharebus` CLI and its runtime dependencies on Python 3.11, no dev
# extras. docker-compose.yml runs it as `sharebus run --external` against the other services.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# uid/gid 1001 = the `kafka` user of quay.io/debezium/connect. This container writes the secret
# files (owner-only) that Connect reads from the shared `secrets` volume: the two must be one uid.
RUN groupadd --system --gid 1001 sharebus \
 && useradd --system --uid 1001 --gid 1001 --home-dir /var/lib/sharebus --no-create-home \
        --shell /usr/sbin/nologin sharebus

# Dependencies first, from pyproject.toml alone, so a code change does not reinstall them.
COPY pyproject.toml /tmp/sharebus-src/pyproject.toml
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('/tmp/sharebus-src/pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt

# The package itself (`pip install .`, no [dev]); .dockerignore keeps runtimes and venvs out.
COPY . /tmp/sharebus-src
RUN cd /tmp/sharebus-src \
 && pip install . \
 && mkdir -p /opt/sharebus \
 && cp -r catalog /opt/sharebus/catalog \
 && cd / && rm -rf /tmp/sharebus-src /tmp/requirements.txt

# Empty directories owned by the sharebus user: Docker copies their owner and mode into a fresh
# named volume mounted over them (the `secrets` and `sharebus-runtime` volumes of Compose).
RUN mkdir -p /run/sharebus/secrets /run/sharebus/connect-rest /var/lib/sharebus \
 && chown 1001:1001 /run/sharebus/secrets /run/sharebus/connect-rest /var/lib/sharebus \
 && chmod 0700 /run/sharebus/secrets /run/sharebus/connect-rest

ENV SHAREBUS_CATALOG_DIR=/opt/sharebus/catalog \
    SHAREBUS_RUNTIME_DIR=/var/lib/sharebus \
    SHAREBUS_CONNECT_SECRETS_DIR=/run/sharebus/secrets

USER 1001:1001
WORKDIR /var/lib/sharebus
EXPOSE 6066
CMD ["sharebus", "run", "--external"]
