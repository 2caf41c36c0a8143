# staffgraph: the GraphQL API served by uvicorn, as an unprivileged user.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin staffgraph

WORKDIR /build
# the dependencies first, exactly as locked (versions and hashes): a layer that changes only
# when the lock does; then the package itself, which may pull in nothing else
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-deps . && rm -rf /build

USER staffgraph
WORKDIR /home/staffgraph
EXPOSE 8000

HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2)"]

CMD ["staffgraph", "serve", "--host", "0.0.0.0", "--port", "8000"]
