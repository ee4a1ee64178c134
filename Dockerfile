# Cartera's image: the API (`cartera serve`), the job worker (`cartera worker`) and the
# one-shot migration (`cartera db upgrade`) from one build. compose.yaml wires them to
# PostgreSQL; README.md, "Running in production", says how.

# --- build: a virtualenv with the pinned runtime dependencies (no test or lint tools) ------
FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/cartera
WORKDIR /srv/cartera
# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml constraints.txt README.md ./
RUN mkdir app && touch app/__init__.py \
    && /opt/cartera/bin/pip install -c constraints.txt -e . \
    && rm -r app
COPY alembic.ini babel.cfg ./
COPY alembic ./alembic
COPY app ./app
# Editable, as from a checkout: the migrations are read from /srv/cartera/alembic.
RUN /opt/cartera/bin/pip install --no-deps -c constraints.txt -e .

# --- runtime: the virtualenv and the source, run as an unprivileged user ------------------
FROM python:3.11-slim-bookworm
ENV PATH=/opt/cartera/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CARTERA_ENV=production
RUN useradd --system --uid 10001 --home-dir /srv/cartera --shell /usr/sbin/nologin cartera
COPY --from=build /opt/cartera /opt/cartera
COPY --from=build --chown=root:root /srv/cartera /srv/cartera
WORKDIR /srv/cartera
USER cartera
EXPOSE 8000
# The liveness endpoint; slim images have no curl, Python does the request.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]
ENTRYPOINT ["cartera"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
