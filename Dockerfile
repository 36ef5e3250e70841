# deployctl as a continuous controller. No Docker engine runs in this project's CI: the image's
# command line is tested in a virtualenv exactly as it runs here (see README.md).
#
#   docker build -t deployctl .
#   docker run -p 8080:8080 -e DEPLOYCTL_WEBHOOK_SECRET=… deployctl deployctl controller https://…/flows.git --listen 0.0.0.0:8080

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/deployctl
WORKDIR /src
COPY pyproject.toml README.md ./
COPY controller ./controller
# Every dependency ships wheels: nothing is compiled, in this stage or the next.
RUN /opt/deployctl/bin/pip install --only-binary=:all: . \
    && /opt/deployctl/bin/pip uninstall -y pip setuptools

FROM python:3.11-slim
# git for the source, tini as PID 1 (signals reach deployctl, zombies are reaped), CA certificates
# and ssh for remotes. No compilers.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git tini ca-certificates openssh-client \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/deployctl --shell /usr/sbin/nologin deployctl \
    && mkdir -p /var/lib/deployctl \
    && chown deployctl:deployctl /var/lib/deployctl
COPY --from=build /opt/deployctl /opt/deployctl
ENV PATH=/opt/deployctl/bin:$PATH \
    DEPLOYCTL_HOME=/var/lib/deployctl \
    HOME=/var/lib/deployctl \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
VOLUME ["/var/lib/deployctl"]
USER 10001:10001
WORKDIR /var/lib/deployctl
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status != 200)"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["deployctl", "controller", "--listen", "0.0.0.0:8080"]
