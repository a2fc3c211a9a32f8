# shellcheck shell=bash
# Sourced by the bench scripts: ensure_ort NAME installs npm onnxruntime-node@1.30.0 into
# bench/.npm on first use (network access to the npm registry), saying so on stderr as NAME.
# Run from the repository root.
ensure_ort() {
  [ -d bench/.npm/node_modules/onnxruntime-node ] && return
  echo "$1: installing onnxruntime-node@1.30.0 into bench/.npm" >&2
  mkdir -p bench/.npm
  (cd bench/.npm && ONNXRUNTIME_NODE_INSTALL=skip npm install --silent --no-audit --no-fund \
     onnxruntime-node@1.30.0 >/dev/null)
}
