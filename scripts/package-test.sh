#!/usr/bin/env bash
# Installs tether (static, then shared) into scratch prefixes and builds + runs a consumer with
# find_package(tether) and with pkg-config, and builds every example folder (examples/*/) against
# the installed tether.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=${TETHER_PACKAGE_DIR:-"$root/build/package"}
jobs=${JOBS:-$(nproc)}
rm -rf "$work"
mkdir -p "$work"

for kind in static shared; do
  shared=OFF
  [[ $kind == shared ]] && shared=ON
  prefix="$work/$kind/prefix"
  echo "-- $kind: build + install to $prefix"
  cmake -S "$root" -B "$work/$kind/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHARED_LIBS=$shared -DTETHER_BUILD_TESTS=OFF -DTETHER_BUILD_EXAMPLES=OFF \
    -DTETHER_INSTALL=ON -DCMAKE_INSTALL_PREFIX="$prefix" >/dev/null
  cmake --build "$work/$kind/build" -j "$jobs" >/dev/null
  cmake --install "$work/$kind/build" >/dev/null

  # No installed header may include a dependency's header.
  if grep -rlE '#include *[<"](libwebsockets|lws_|openssl/|rapidjson)' "$prefix/include"; then
    echo "installed headers include a dependency's header" >&2
    exit 1
  fi

  echo "-- $kind: consumer via find_package"
  cmake -S "$root/tests/consumer" -B "$work/$kind/consumer" -G Ninja \
    -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
  cmake --build "$work/$kind/consumer" >/dev/null
  LD_LIBRARY_PATH="$prefix/lib" "$work/$kind/consumer/tether_consumer"

  echo "-- $kind: consumer via pkg-config"
  pc_flags=(--cflags --libs)
  [[ $kind == static ]] && pc_flags+=(--static)
  # shellcheck disable=SC2046
  c++ -std=c++17 -o "$work/$kind/consumer_pc" "$root/tests/consumer/main.cpp" \
    $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config "${pc_flags[@]}" tether)
  LD_LIBRARY_PATH="$prefix/lib" "$work/$kind/consumer_pc"

  # Every example folder (examples/*/CMakeLists.txt) is also a standalone project that finds the
  # installed tether with find_package; its programs link the installed library of this kind.
  for example_lists in "$root"/examples/*/CMakeLists.txt; do
    example_dir=$(dirname "$example_lists")
    example=$(basename "$example_dir")
    example_build="$work/$kind/examples/$example"
    echo "-- $kind: example $example via find_package"
    cmake -S "$example_dir" -B "$example_build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
    if ! cmake --build "$example_build" -j "$jobs" >"$example_build/build.log" 2>&1; then
      cat "$example_build/build.log" >&2
      exit 1
    fi
    programs=0
    while IFS= read -r -d '' program; do
      programs=$((programs + 1))
      resolved=$(LD_LIBRARY_PATH="$prefix/lib" ldd "$program" | awk '/libtether\.so/ {print $3}')
      if [[ $kind == shared && $resolved != "$prefix/lib/"* ]]; then
        echo "$program: libtether resolves to '$resolved', not to $prefix/lib" >&2
        exit 1
      elif [[ $kind == static && -n $resolved ]]; then
        echo "$program: linked to $resolved instead of the static library" >&2
        exit 1
      fi
    done < <(find "$example_build" -maxdepth 1 -type f -perm -u+x -print0)
    if ((programs == 0)); then
      echo "example $example built no program" >&2
      exit 1
    fi
  done
done

if ! ls "$work"/shared/prefix/lib/libtether.so.0 >/dev/null 2>&1; then
  echo "shared library has no versioned SONAME link" >&2
  exit 1
fi
echo "packaging: ok"
