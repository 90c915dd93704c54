# Two commands set everything up on a fresh machine:
#   make demo   installs, then analyzes the bundled sample clip (annotated clip, timeline, summary)
#   make test   installs, then runs the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.formcoach-installed
DEMO_OUT ?= demo_output
# Test processes: two, one per core of the CI machine; each takes whole files (module fixtures
# such as the bad-input corpus runs are shared within a file).
TEST_WORKERS ?= 2

.PHONY: install demo test lint clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet --no-deps mediapipe==0.10.14
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) run_coach.py --demo --out $(DEMO_OUT)

test: $(STAMP)
	SDL_VIDEODRIVER=dummy SDL_AUDIODRIVER=dummy $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

lint: $(STAMP)
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) $(DEMO_OUT)
