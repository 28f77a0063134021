FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies at the exact versions of the runtime lock (`make lock` refreshes it), in
# a layer of their own that a code change does not rebuild.
COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock

# Only what the wheel needs; tests, bench and .ci stay out of the image. --no-deps: the
# lock above already installed every dependency, and nothing may come in unpinned.
COPY pyproject.toml README.md ./
COPY service ./service
COPY schema ./schema
COPY connectors ./connectors
RUN pip install --no-cache-dir --no-deps .

# Run unprivileged. The embedded database (used when MONGODB_URI is unset)
# writes under GUILDGRAPH_DATA_DIR, so that directory must belong to the user.
RUN useradd --create-home --uid 10001 app \
    && mkdir -p /app/data \
    && chown app:app /app/data
USER app

ENV GUILDGRAPH_HOST=0.0.0.0 \
    GUILDGRAPH_ENV=prod \
    GUILDGRAPH_DATA_DIR=/app/data
EXPOSE 8000

# Liveness only; slim images have no curl, so use the interpreter we already have.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

# The demo dataset is opt-in (docker-compose.yml asks for it); production starts empty.
CMD ["guildgraph", "serve"]
