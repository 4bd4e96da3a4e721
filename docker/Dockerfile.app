# syntax=docker/dockerfile:1
# The map app (`geocolor app`, Streamlit), as Cloud Run runs it: it listens on $PORT (Cloud Run sets it;
# 8080 otherwise) and reads its settings from GEOCOLOR_* environment variables
# (docs/deploy.md). Colorizing runs on the CPU here, so torch comes from PyTorch's CPU
# index: the CUDA libraries of the PyPI build would triple the image for nothing.
# Every Python package comes from a lock file with hashes (`make lock`), geocolor itself
# without its dependencies. Build from the repository root:
#   docker build -f docker/Dockerfile.app -t geocolor-app .
# python:3.11-slim-bookworm, pinned by digest; Dependabot proposes new digests.
FROM python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

WORKDIR /src
COPY docker/requirements-app-torch.lock docker/requirements-app.lock ./docker/
# torch first, in its own layer: it is most of the image and changes least often.
RUN python -m venv "$VIRTUAL_ENV" \
    && pip install --no-cache-dir --require-hashes --no-deps \
        --index-url https://download.pytorch.org/whl/cpu -r docker/requirements-app-torch.lock
RUN pip install --no-cache-dir --require-hashes --no-deps -r docker/requirements-app.lock

COPY setup.cfg pyproject.toml README.md ./
COPY geocolor ./geocolor
COPY plugins ./plugins
RUN pip install --no-cache-dir --no-deps --no-build-isolation .

# python:3.11-slim-bookworm, the same digest as the build stage.
FROM python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PORT=8080 \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false

# PROJ's EGM96 geoid grid (Debian's proj-data): a Copernicus DEM or another geoid-height
# DEM the model was trained with is turned into ellipsoidal heights with it. Debian's
# security updates land under the same package name, so it stays unpinned on purpose.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends proj-data \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/venv /opt/venv
RUN useradd --create-home --uid 10001 --user-group --shell /usr/sbin/nologin geocolor
WORKDIR /home/geocolor
USER 10001:10001

EXPOSE 8080
# Cloud Run probes the same endpoint (infra/app.tf); this one serves docker and compose.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['PORT'] + '/_stcore/health', timeout=4)"]

# `geocolor app` checks the GEOCOLOR_* settings (one-line error on a bad one), applies
# the upload cap and starts Streamlit headless; exec makes it PID 1, so it gets
# Cloud Run's SIGTERM.
CMD ["sh", "-c", "exec geocolor app --port \"${PORT}\" --host 0.0.0.0"]
