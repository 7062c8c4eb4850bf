#!/usr/bin/env bash
# Fails if any tracked C/C++ file differs from what clang-format would write.
set -euo pipefail
cd "$(dirname "$0")/.."
CF=${1:-clang-format}
mapfile -t files < <(git ls-files '*.c' '*.h' '*.cc' '*.hpp' |
	while read -r f; do [[ -f $f ]] && echo "$f"; done)
"$CF" --dry-run -Werror "${files[@]}"
echo "format: ${#files[@]} files clean"
