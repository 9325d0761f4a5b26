# Two commands do everything from a fresh clone:
#   make book   build the textbook into _build/html (creates .venv on first use)
#   make test   lint, then run every test: course_lib, the grading pipeline, the book in a browser
# VENV=/path/to/venv reuses an existing environment.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.requirements-installed

.PHONY: venv system-deps js-deps book lint test test-lib test-grading test-book assignments release clean

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

# Headless Chromium and its driver for the browser tests, npm for axe-core, a CJK font for
# the glossary's Chinese terms in screenshots, bubblewrap for the grading sandbox and
# PostgreSQL for the gradebook test, from Debian's packages. Each check names its own
# package and only the missing ones are installed: a machine that has one already from
# elsewhere keeps it (Debian's npm, for one, conflicts with a Node.js from NodeSource or nvm).
system-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null || missing="$$missing chromium-driver"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	fc-list :lang=zh 2>/dev/null | grep -q . || missing="$$missing fonts-wqy-microhei"; \
	command -v bwrap >/dev/null || missing="$$missing bubblewrap"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
		echo "system-deps: installing$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

# axe-core for the accessibility pass of the browser tests (pinned in package-lock.json).
js-deps: node_modules/.package-lock.json
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --silent

book: venv
	$(BIN)/jupyter-book build . --builder html -W -n --keep-going

# Regenerate the student notebooks in assignments/ from solutions/ (instructors).
ASSIGNMENTS := $(notdir $(wildcard solutions/*))
assignments: venv
	for a in $(ASSIGNMENTS); do PATH="$(abspath $(BIN)):$$PATH" $(BIN)/nbgrader generate_assignment $$a --force || exit 1; done

# The student-facing course (book, built site if any, assignments, course_lib; no solutions,
# hidden tests or grader) into an absent or empty DEST, scanned for leaks (tools/make_release.py).
release: venv
	@test -n "$(DEST)" || { echo "usage: make release DEST=<folder outside solutions/, assignments/, book/, course_lib/>"; exit 2; }
	$(BIN)/python tools/make_release.py "$(DEST)"

# ruff (pinned in requirements.txt, configured in pyproject.toml) over the library, the grader, tests, benchmarks and tools
lint: venv
	$(BIN)/ruff check course_lib course_grade tests benchmarks tools

test-lib: venv
	$(BIN)/python -m pytest -m "not grading and not book" -q

test-grading: venv
	$(BIN)/python -m pytest -m grading -q

test-book: venv system-deps js-deps book
	$(BIN)/python -m pytest -m book -q

test: venv system-deps js-deps lint
	$(BIN)/python -m pytest -m "not book" -q
	$(MAKE) --no-print-directory book
	$(BIN)/python -m pytest -m book -q

clean:
	rm -rf _build .pytest_cache .hypothesis
