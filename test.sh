#!/usr/bin/env bash
# Runs every test: unit tests, ONNX conformance on every engine and device, real models, fuzzing.
# Test data is read from ../shared (or $KILN_SHARED); tests that need it skip with a message without it.
set -euo pipefail
cd "$(dirname "$0")"
exec dotnet test tests/Kiln.Tests -c Release --logger "console;verbosity=minimal" "$@"
