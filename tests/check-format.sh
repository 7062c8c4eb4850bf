#!/usr/bin/env bash
# Fails if any tracked C file differs from what clang-format would write.
set -euo pipefail
cd "$(dirname "$0")/.."
CF=${1:-clang-format}
git ls-files '*.c' '*.h' | xargs "$CF" --dry-run -Werror
echo "format: $(git ls-files '*.c' '*.h' | wc -l) files clean"
