#!/usr/bin/env bash
# Install what is missing (Debian/Ubuntu), build, and score the bundled sample clip.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! pkg-config --exists libavcodec libswscale 2>/dev/null || ! command -v clang >/dev/null || ! command -v ffmpeg >/dev/null || ! command -v chromium >/dev/null; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libavdevice-dev \
    libavfilter-dev libswresample-dev pkg-config clang libclang-dev ffmpeg ca-certificates curl \
    chromium
fi
if ! command -v cargo >/dev/null; then
  curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  . "$HOME/.cargo/env"
fi
cargo build --release -p vbench-cli
# Scores every dimension it can; dimensions whose weights are not available are listed as
# skipped with the command that fetches them.
./target/release/vbench-score samples/ --output output/sample "$@"
