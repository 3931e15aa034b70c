# Hatchery: `make run` (demo) and `make test` set up everything they need on a fresh machine.
SHELL := /bin/bash
VENV ?= .venv
PYTHON := $(VENV)/bin/python
SHARED_DATA ?= $(abspath ../shared/data)
DEMO_DIR ?= runs/demo
# torch/torchvision pinned to the releases on this machine's disk (a newer one downloads GBs).
TORCH_PINS := torch==2.14.1 torchvision==0.29.1

.PHONY: run demo test lint bench bench-api bench-queue services clean frontend chromium

$(VENV)/.installed: pyproject.toml
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install -q --upgrade pip
	$(PYTHON) -m pip install -q $(TORCH_PINS)
	$(PYTHON) -m pip install -q -e '.[dev]' $(TORCH_PINS)
	touch $@

$(VENV)/.bench-installed: $(VENV)/.installed
	$(PYTHON) -m pip install -q -e '.[dev,bench]' $(TORCH_PINS)
	touch $@

# The browser app (frontend/): npm dependencies from the lockfile, the typed client from the
# API's OpenAPI document, then the Vite build the API serves at /. Each step runs only when
# its inputs changed.
FRONTEND_SOURCES := $(shell find frontend/src frontend/public -type f 2>/dev/null) frontend/index.html \
	frontend/vite.config.ts frontend/tsconfig.json
API_SOURCES := $(shell find api engine/schemas -name '*.py' 2>/dev/null)

frontend/node_modules/.installed: frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund
	touch $@

# Written only when it changed, so the client and the build follow real API changes only.
frontend/openapi.json: $(API_SOURCES) | $(VENV)/.installed
	$(PYTHON) -m api.openapi_document $@

frontend/src/api/schema.d.ts: frontend/openapi.json frontend/node_modules/.installed
	cd frontend && npx openapi-typescript ./openapi.json -o ./src/api/schema.d.ts
	touch $@

frontend/dist/index.html: $(FRONTEND_SOURCES) frontend/src/api/schema.d.ts \
		frontend/node_modules/.installed
	cd frontend && npm run build

frontend: frontend/dist/index.html

# Debian's Chromium for the browser tests (never a downloaded browser), and a font with
# Chinese characters for their screenshots.
chromium:
	@test -x /usr/bin/chromium || apt-get install -y -q chromium
	@test -n "$$(fc-list :lang=zh 2>/dev/null)" || apt-get install -y -q fonts-wqy-zenhei

# The platform, embedded: API + one worker on SQLite, a folder and Celery over SQLite, with a
# demo organization, user and NEU-DET sample dataset; prints the URL and the login.
run: $(VENV)/.installed frontend
	$(PYTHON) -m worker.embedded --data $(SHARED_DATA)/neu-det

# The engine alone: a short pretrain of Hatchery's default method on NEU-DET, then kNN.
demo: $(VENV)/.installed
	$(PYTHON) -m bench.neu_split --images $(SHARED_DATA)/neu-det/IMAGES --out $(DEMO_DIR)/neu
	rm -rf $(DEMO_DIR)/pretrain
	$(VENV)/bin/hatchery pretrain --data $(DEMO_DIR)/neu/all --out $(DEMO_DIR)/pretrain \
		--steps 60 --batch-size 64 --image-size 64 \
		--eval-train $(DEMO_DIR)/neu/train --eval-test $(DEMO_DIR)/neu/test --eval-every 60
	$(VENV)/bin/hatchery eval knn --checkpoint $(DEMO_DIR)/pretrain/checkpoint.pt \
		--train $(DEMO_DIR)/neu/train --test $(DEMO_DIR)/neu/test

lint: $(VENV)/.installed
	$(PYTHON) -m ruff check .

# The real servers the integration tests talk to: started when they are down.
services:
	@pg_isready -q -h 127.0.0.1 -p 5432 || \
		pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | head -1) main start
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || \
		redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no
	@for i in $$(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done

test: $(VENV)/.installed services frontend chromium
	$(PYTHON) -m ruff check .
	cd frontend && npx vitest run
	HATCHERY_SHARED_DATA=$(SHARED_DATA) $(PYTHON) -m pytest -q

bench: $(VENV)/.bench-installed
	$(PYTHON) -m bench.pretrain_throughput

bench-api: $(VENV)/.installed services
	@command -v wrk >/dev/null || apt-get install -y -q wrk
	$(PYTHON) -m bench.api_load

bench-queue: $(VENV)/.installed services
	$(PYTHON) -m bench.queue_latency

clean:
	rm -rf runs .pytest_cache .ruff_cache
