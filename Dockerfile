FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY api ./api
COPY data ./data
COPY scheduler ./scheduler
COPY solver ./solver
RUN pip install --no-cache-dir . && useradd --system --uid 10001 clinic
USER clinic

EXPOSE 8000
CMD ["sh", "-c", "clinic db upgrade && clinic serve --host 0.0.0.0 --port 8000"]
