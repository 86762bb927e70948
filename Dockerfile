# The web app's browser packages (calendar component, API docs), from package-lock.json; only node_modules is kept.
FROM node:20-slim AS web-packages
WORKDIR /web
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM python:3.11-slim

WORKDIR /app
COPY --from=web-packages /web/node_modules ./node_modules
ENV CLINIC_WEB_PACKAGES=/app/node_modules
COPY pyproject.toml README.md ./
COPY api ./api
COPY data ./data
COPY scheduler ./scheduler
COPY solver ./solver
RUN pip install --no-cache-dir . && useradd --system --uid 10001 clinic
USER clinic

EXPOSE 8000
CMD ["sh", "-c", "clinic db upgrade && clinic serve --host 0.0.0.0 --port 8000"]
