# The bot as a container image: slim, non-root, the locked dependencies hash-checked, the
# catalogs compiled, the fonts of every script the delivery PDF prints (Python packages in the
# lock, and the few vendored in storage/exports/vendored_fonts). One image for every process:
# the command picks the role (compose.yaml): `run --mode webhook`, `run --mode polling`, `web`,
# `migrate`, `purge`.
#
#   docker build -t undersign .
#   docker run --rm --env-file .env -p 8080:8080 undersign run --mode webhook
#
# Not built on the machine this was written on (it has no container runtime): see the README.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY requirements.lock ./
# Every file must match a hash in the lock and be a wheel, as `python3 dev.py` installs them.
RUN python -m venv /venv \
 && /venv/bin/pip install --require-hashes --only-binary :all: -r requirements.lock
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY emulator ./emulator
COPY handlers ./handlers
COPY petition ./petition
COPY storage ./storage
COPY web ./web
COPY campaigns ./campaigns
COPY locales ./locales
# The project alone, built by the setuptools the lock installed; then the catalogs compiled
# beside the installed code, so a start does not compile them in memory.
# (From /, with -P: run from /src, `python -m bot` would be the build context's copy, compiling there.)
RUN /venv/bin/pip install --no-deps --no-build-isolation . \
 && cd / && /venv/bin/python -P -m bot i18n compile

FROM python:3.11-slim
ENV PATH=/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    DATABASE_URL=sqlite+aiosqlite:////data/undersign.db
RUN useradd --system --uid 10001 --home-dir /data --create-home undersign
COPY --from=build /venv /venv
USER undersign
WORKDIR /data
EXPOSE 8080
ENTRYPOINT ["python", "-m", "bot"]
CMD ["run", "--mode", "polling"]
