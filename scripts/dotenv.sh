# Sourced by ./hotline (bash): load_dotenv FILE reads site settings from FILE
# (KEY=value lines, as .env.example shows) into the environment.  What the
# process environment already holds wins: `HOTLINE_HTTP_PORT=38081 ./hotline web`
# binds 38081 whatever .env says.
load_dotenv() {
  local file=$1 name given=()
  [ -f "$file" ] || return 0
  # every name the file assigns that the caller's environment already sets
  for name in $(sed -nE 's/^[[:space:]]*(export[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)=.*/\2/p' "$file"); do
    if [ -n "${!name+x}" ]; then given+=("$name=${!name}"); fi
  done
  set -a
  # shellcheck disable=SC1090
  . "$file"
  set +a
  for name in "${given[@]}"; do export "$name"; done
}
