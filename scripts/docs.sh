#!/usr/bin/env bash
# Builds the API reference from the installed headers (include/tether/) with Doxygen and fails on
# any Doxygen warning (an undocumented public declaration, a broken command). Then compiles every
# C++ block (```cpp) of the user guides below, whole programs as they are and fragments inside a
# function, so the examples readers copy keep compiling.
#
# Usage: scripts/docs.sh [OUTPUT_DIR]      (default: build/docs; the HTML is in OUTPUT_DIR/html)
# Environment: CXX (default c++).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-"$root/build/docs"}
mkdir -p "$out"
out=$(cd "$out" && pwd)

command -v doxygen >/dev/null || "$root/scripts/deps.sh"

version=$(sed -nE 's/^project\(tether VERSION ([0-9.]+).*/\1/p' "$root/CMakeLists.txt")

# --- the API reference ---------------------------------------------------------------------------
rm -rf "$out/html" "$out/warnings.log"
status=0
(cd "$root/docs" && TETHER_DOCS_OUTPUT="$out" TETHER_DOCS_VERSION="$version" doxygen Doxyfile) ||
  status=$?
if [[ -s "$out/warnings.log" ]]; then
  echo "docs: Doxygen warnings (every public declaration needs a doc comment):" >&2
  cat "$out/warnings.log" >&2
  exit 1
fi
if ((status != 0)) || [[ ! -f "$out/html/index.html" ]]; then
  echo "docs: doxygen failed (exit $status)" >&2
  exit 1
fi
echo "docs: API reference in $out/html/index.html"

# --- the guides' example programs ------------------------------------------------------------------
guides=(getting-started.md configuration.md errors.md troubleshooting.md)
examples="$out/examples"
rm -rf "$examples"
mkdir -p "$examples/include/tether"
# The generated header tether.hpp includes, as CMake writes it.
sed -e "s/@PROJECT_VERSION@/$version/" \
    -e "s/@PROJECT_VERSION_MAJOR@/$(cut -d. -f1 <<<"$version")/" \
    -e "s/@PROJECT_VERSION_MINOR@/$(cut -d. -f2 <<<"$version")/" \
    -e "s/@PROJECT_VERSION_PATCH@/$(cut -d. -f3 <<<"$version")/" \
    "$root/cmake/version.hpp.in" >"$examples/include/tether/version.hpp"

count=0
for guide in "${guides[@]}"; do
  [[ -f "$root/docs/$guide" ]] || continue
  # Writes C++ block N of the guide to $examples/<guide>-N.cpp: a whole program as it is, a
  # fragment inside a function (with an `options` in scope, as the fragments assume).
  awk -v dir="$examples" -v name="${guide%.md}" '
    /^```cpp[[:space:]]*$/ { inside = 1; n++; text = ""; next }
    /^```[[:space:]]*$/ && inside {
      inside = 0
      file = dir "/" name "-" n ".cpp"
      if (text ~ /int main\(/) {
        printf "%s", text > file
      } else {
        printf "#include <tether/tether.hpp>\n\n#include <chrono>\n#include <cstdio>\n" > file
        printf "#include <memory>\n#include <string>\n\n" > file
        printf "tether::ClientOptions options;\n\nvoid fragment() {\n%s}\n", text > file
      }
      close(file)
      next
    }
    inside { text = text $0 "\n" }
  ' "$root/docs/$guide"
done
for program in "$examples"/*.cpp; do
  [[ -e "$program" ]] || continue
  if ! "${CXX:-c++}" -std=c++17 -fsyntax-only -Wall -Wextra -Wpedantic -Werror \
      -I "$root/include" -I "$examples/include" "$program"; then
    echo "docs: the example $(basename "$program") (from docs/) does not compile" >&2
    exit 1
  fi
  count=$((count + 1))
done
echo "docs: $count C++ examples of the guides compile"
