# Sourced by scripts/test and .ci/run: Debian's chromium and chromedriver (the end-to-end tests),
# curl and jq (the README's tour), installed with apt-get when missing and run as root.
missing=()
command -v chromedriver >/dev/null || missing+=(chromium chromium-driver)
command -v curl >/dev/null || missing+=(curl)
command -v jq >/dev/null || missing+=(jq)
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Installing ${missing[*]} (end-to-end and README tests)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
