# syntax=docker/dockerfile:1

# Builder and runtime must share the same Python: the venv's interpreter symlinks point at
# /usr/local/bin/python3.11 of the base image.
#
# The base is pinned by digest, so a rebuild gets the same bytes whatever the tag points at
# now. The digest is a build argument until one verified against the registry is committed
# here as its default: resolve it where a registry is reachable with
#   docker buildx imagetools inspect python:3.11-slim --format '{{json .Manifest.Digest}}'
# and build with --build-arg PYTHON_IMAGE_DIGEST=sha256:…; without it the FROM line is an
# invalid reference and the build stops at once. tests/deploy/test_dockerfile.py checks that
# every FROM names a digest.
ARG PYTHON_IMAGE=python:3.11-slim
ARG PYTHON_IMAGE_DIGEST

FROM ${PYTHON_IMAGE}@${PYTHON_IMAGE_DIGEST} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:${PATH}"

WORKDIR /src
# The runtime lock alone (no dev tools), every distribution checked against its hash; a layer of
# its own, rebuilt only when the lock changes. All dependencies ship manylinux wheels, so no
# compiler is installed.
COPY requirements/build.txt requirements/runtime.txt requirements/
RUN pip install --require-hashes -r requirements/build.txt \
    && pip install --require-hashes -r requirements/runtime.txt
COPY pyproject.toml README.md ./
COPY backend/ backend/
COPY workers/ workers/
# Non-editable install of the project alone: the runtime stage needs only /opt/venv, not /src.
RUN pip install --no-deps --no-build-isolation .


FROM ${PYTHON_IMAGE}@${PYTHON_IMAGE_DIGEST} AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH="/opt/venv/bin:${PATH}"

RUN groupadd --system --gid 10001 levier \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin levier

COPY --from=builder /opt/venv /opt/venv

# `levier migrate` reads alembic.ini and migrations/ from the working directory.
WORKDIR /app
COPY alembic.ini ./
COPY migrations/ migrations/

# Numeric uid so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 10001:10001

EXPOSE 8000

# Only meaningful for `serve`; override or disable it when running `worker` / `scheduler`
# under Docker (Kubernetes ignores HEALTHCHECK and uses the chart's probes).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]

ENTRYPOINT ["levier"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
