# One image for every Pypeline role (api, worker, beat); docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY setup.py pyproject.toml README.md ./
COPY pypeline ./pypeline
COPY pypeline_examples ./pypeline_examples
# Extras: Celery workers, the Flask API (with gunicorn), PostgreSQL driver, S3 generators.
RUN pip install ".[workers,flask,db,s3]"

# A default config so the image runs as is; mount your own over /app/sermos.yaml.
COPY sermos.yaml.example /app/sermos.yaml

RUN useradd --create-home --uid 10001 pypeline
USER pypeline
ENV PYPELINE_CONFIG=/app/sermos.yaml \
    PYPELINE_HOME=/home/pypeline/.pypeline

EXPOSE 5000
CMD ["pypeline", "api", "/app/sermos.yaml", "--host", "0.0.0.0", "--port", "5000"]
