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
