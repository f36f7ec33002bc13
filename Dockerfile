# Two stages so the build context (which may hold a local .venv/ or .git/) never ships in the
# image: only the installed packages under /install are copied into the runtime stage.
FROM python:3.11-slim AS build
WORKDIR /src
COPY . .
RUN pip install --no-cache-dir --disable-pip-version-check --prefix=/install .

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
COPY --from=build /install /usr/local
# A fixed non-root uid so a mounted volume's ownership is predictable; its home is the working
# directory because the default SQLite store (DATABASE_URL unset) writes ./edge-data there.
RUN useradd --create-home --uid 10001 edge
USER edge
WORKDIR /home/edge
EXPOSE 8080
CMD ["edge-admin", "serve", "--host", "0.0.0.0", "--port", "8080"]
