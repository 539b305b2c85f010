# Serambi: one image for every role. The role is the subcommand:
#   docker run --rm serambi:0.1.0 db migrate | worker | ingest | web | connect NAME --follow
# Configuration comes from SERAMBI_* variables and secret files (SERAMBI_SECRETS_DIR=/run/secrets, one file per
# variable); deploy/compose/ shows every role wired up. Health checks belong to the role, so they are set per
# service in compose or Kubernetes, not here.
#
# Needs BuildKit (Docker 23+, or `docker buildx build`): the prune step is a heredoc.
#   docker build -t serambi:0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" .
#
# The base is pinned by tag and by the digest of its multi-platform index: a rebuild gets the same Debian and
# CPython until someone changes both here, in both FROM lines (and the base.digest label below).

# --- builder: the locked dependencies, then Serambi itself, into /opt/venv ----------------------------------------
FROM python:3.11.15-slim-bookworm@sha256:d29f48a31a8b408ed19272ca1e7b10ebae13b240a27e862d3d4217c528e2e0c3 AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never
WORKDIR /src

# The lock alone first: this layer (the ~1 GB download) is rebuilt only when requirements.lock changes.
COPY requirements.lock ./

# uv at the version the lock pins, checked against the lock's own hashes (its lines are a requirements file of
# their own), in a throwaway venv; then exactly the lock into /opt/venv, every file hash-checked, as `make install`.
RUN python -m venv /opt/tools \
 && awk '/^uv==/ {p = 1; print; next} p && /^[^ #]/ {exit} p' requirements.lock > /tmp/uv.txt \
 && /opt/tools/bin/pip install --quiet --require-hashes --no-deps -r /tmp/uv.txt \
 && python -m venv /opt/venv \
 && /opt/tools/bin/uv pip sync --quiet --python /opt/venv/bin/python --require-hashes --compile-bytecode \
        requirements.lock

# Serambi itself, not editable, without resolving anything: its dependencies are already there. No build isolation,
# so the build uses the locked setuptools instead of fetching an unpinned one.
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY connectors ./connectors
COPY pipeline ./pipeline
COPY dashboards ./dashboards
RUN /opt/venv/bin/python -m pip install --quiet --no-deps --no-build-isolation . \
 && rm -rf build ./*.egg-info

# The lock also pins the dev extra (pytest, mypy, ruff, playwright, uv, pip, ...). Keep what `serambi` needs at run
# time - its requirements without extras, followed transitively - and uninstall the rest. A requirement the venv
# lacks fails the build: the lock and pyproject.toml disagree (`make lock`).
RUN /opt/venv/bin/python - > /tmp/unneeded.txt <<'EOF'
import importlib.metadata as md
import re
import sys

from packaging.requirements import Requirement


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


todo, seen = [("serambi", frozenset())], set()
while todo:
    name, extras = todo.pop()
    if (canonical(name), extras) in seen:
        continue
    seen.add((canonical(name), extras))
    try:
        requires = md.distribution(name).requires or []
    except md.PackageNotFoundError:
        sys.exit(f"serambi needs {name}, which requirements.lock does not pin: run `make lock`")
    for line in requires:
        req = Requirement(line)
        environments = [{"extra": ""}] + [{"extra": extra} for extra in extras]
        if req.marker is None or any(req.marker.evaluate(env) for env in environments):
            todo.append((req.name, frozenset(req.extras)))

needed = {name for name, _ in seen}
installed = {canonical(dist.metadata["Name"]) for dist in md.distributions()}
print("\n".join(sorted(installed - needed)))
EOF
RUN /opt/tools/bin/uv pip uninstall --quiet --python /opt/venv/bin/python -r /tmp/unneeded.txt \
 && /opt/venv/bin/serambi --version

# --- runtime: the venv and nothing else ---------------------------------------------------------------------------
FROM python:3.11.15-slim-bookworm@sha256:d29f48a31a8b408ed19272ca1e7b10ebae13b240a27e862d3d4217c528e2e0c3 AS runtime

ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="serambi" \
      org.opencontainers.image.description="Real-time measurement of whether government agencies talk with citizens on social media: one image, every role a serambi subcommand" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11.15-slim-bookworm" \
      org.opencontainers.image.base.digest="sha256:d29f48a31a8b408ed19272ca1e7b10ebae13b240a27e862d3d4217c528e2e0c3"

# A numeric user (Kubernetes' runAsNonRoot can only verify a number) with a passwd entry, so tools that look the
# user up work. The data dir is the only place the image itself writes; mount a volume there.
RUN groupadd --system --gid 10001 serambi \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
        serambi \
 && install -d -o 10001 -g 10001 -m 0700 /var/lib/serambi

COPY --from=builder /opt/venv /opt/venv

# Works with a read-only root filesystem: the data dir is a volume, HOME and TMPDIR point at /tmp (a tmpfs in
# compose and Kubernetes), and nothing writes bytecode (it was compiled at build time).
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp \
    SERAMBI_DATA_DIR=/var/lib/serambi

USER 10001:10001
WORKDIR /var/lib/serambi
ENTRYPOINT ["serambi"]
CMD ["--help"]
