# Sourced by the demo and the serving benchmark: builds quietly and prints the last line a quiet
# build prints on stderr ("built <image> (<id>) in <n>s"), or all of it on failure (stdout carries
# only the image reference under --quiet).
quiet_build() {
  local log
  log=$(mktemp)
  if ! node bin/cortex-s2i.js build --quiet "$@" 2>"$log" >/dev/null; then
    cat "$log" >&2
    rm -f "$log"
    return 1
  fi
  tail -n 1 "$log"
  rm -f "$log"
}
