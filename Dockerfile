# Hatchery on CPU: the API, the migrations and CPU workers (docker-compose.yml).
# PyTorch comes from its CPU wheel index: the same torch >= 2.11 code, without CUDA's GBs.
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app

# Dependencies first, from pyproject.toml alone, so a code change reuses this layer.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install --extra-index-url https://download.pytorch.org/whl/cpu \
        -r /tmp/requirements.txt "torch>=2.11" "torchvision>=0.26"

# The code. frontend* copies the browser app when the repository has one (and nothing else).
COPY api ./api
COPY engine ./engine
COPY worker ./worker
COPY migrations ./migrations
COPY configs ./configs
COPY alembic.ini ./
COPY frontend* ./frontend/
RUN pip install --no-deps . \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin hatchery \
    && mkdir -p /app/runs /var/cache/hatchery \
    && chown hatchery:hatchery /app/runs /var/cache/hatchery

USER hatchery
EXPOSE 8000
CMD ["uvicorn", "api.main:app", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers"]
