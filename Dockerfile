# deployctl: GitOps controller for flow deployments.
FROM python:3.11-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends git tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 deployctl

WORKDIR /opt/deployctl
COPY pyproject.toml README.md ./
COPY controller ./controller
COPY schemas ./schemas
RUN pip install --no-cache-dir .

USER deployctl
WORKDIR /home/deployctl
ENV PYTHONUNBUFFERED=1
ENTRYPOINT ["tini", "--", "deployctl"]
CMD ["--help"]
