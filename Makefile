# The two commands a new user needs: `make run` and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench soak install clean sdks

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Reinstall whenever pyproject.toml changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/tka serve

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench

# 50 REST clients x 60 s with 20 WebSocket subscribers: 0 5xx, 0 lost or duplicated events.
soak: $(STAMP)
	$(BIN)/python -m tests.e2e.soak --clients 50 --seconds 60 --subscribers 20

# Regenerate generated/{typescript,rust,cpp,python,postman} from openapi.yaml (sdk/README.md).
sdks: $(STAMP)
	@command -v java >/dev/null 2>&1 || { echo "make sdks needs Java 17 or newer (openapi-generator is a Java program): apt-get install openjdk-17-jre-headless" >&2; exit 1; }
	$(BIN)/tka sdk generate $(if $(LANGS),--lang $(LANGS))

clean:
	rm -rf $(VENV) build *.egg-info

.PHONY: image image-test

# Container images (README "Deploy"), no registry: localhost/tka:latest with the wheel built from
# this working tree, and localhost/tka-postgres:15 for compose.yaml, both FROM a local debootstrap
# base (cached). Rootful podman with runc; deploy/host.sh installs what is missing (as root).
image:
	PY=$(PY) deploy/image.sh

# Builds both images under names of its own and runs them on the host's network, bound to loopback:
# token, health check, volume, clean stop, and compose.yaml's two servers on one PostgreSQL.
# Removes everything it made but the cached base image. Not part of `make test`.
image-test: $(STAMP)
	$(BIN)/python -m pytest deploy/test_image.py
