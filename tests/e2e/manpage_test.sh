#!/usr/bin/env bash
# manpage_test.sh: docs/opsrun.1 against the program it documents. It renders without a warning
# and within 80 columns; its OPTIONS are exactly the options of `opsrun --help`; it describes
# every command and exit status of --help, every environment variable SPEC section 2 names or
# the code reads, and `cmake --install` puts it in share/man/man1.
source "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
page=$root/docs/opsrun.1
export LC_ALL=C.UTF-8 MANWIDTH=80

if ! command -v man >/dev/null; then
  echo "skip - man is not installed: docs/opsrun.1 is not rendered"
  finish
  exit
fi

run man --warnings -l "$page"
expect "man --warnings renders the page with no warning" '[ $status -eq 0 ] && [ -z "$err" ] && [ -n "$out" ]'
rendered=$out
expect "every rendered line fits in 80 columns" \
  'while IFS= read -r l; do [ ${#l} -le 80 ] || exit 1; done <<<"$rendered"'
expect "the sections: NAME, SYNOPSIS, DESCRIPTION, OPTIONS, COMMANDS, LUA API, ENVIRONMENT, FILES, EXIT STATUS, EXAMPLES, SEE ALSO" \
  '[ "$(grep -E "^[A-Z][A-Z ]+$" <<<"$rendered" | grep -vx "ACCOUNT REGISTRY" | tr "\n" ,)" = "NAME,SYNOPSIS,DESCRIPTION,OPTIONS,COMMANDS,LUA API,ENVIRONMENT,FILES,EXIT STATUS,EXAMPLES,SEE ALSO," ]'

# section NAME: the rendered text of one section, without its heading
section() {
  awk -v name="$1" '/^[A-Z][A-Z ]+$/ { on = ($0 == name); next } on' <<<"$rendered"
}
# option_words: the options (-x, --name, and a lone --) at the start of each line on stdin
option_words() {
  grep -oE -- '(^|[ ,])--?[a-zA-Z][a-z-]*|(^|[ ,])--( |$)' | tr -d ' ,' | sort -u
}

run "$OPSRUN" --help
help=$out
help_options=$(sed -n '/^Options:/,/^$/p' <<<"$help" | sed 1d | cut -c1-26 | option_words)
man_options=$(section OPTIONS | grep -E '^       -' | option_words)
expect "--help lists options (sanity: at least 20 words)" '[ "$(lines "$help_options")" -ge 20 ]'
expect "the man page's OPTIONS are exactly those of --help" '[ "$help_options" = "$man_options" ]'
# the parser's table in host/cli.c: {"long", 's', ...}, {"long", 0, ...}, {NULL, 's', ...}
parser_options=$(sed -n '/s_options\[\] = {/,/^};/p' "$root/host/cli.c" |
  grep -oE "\{(\"[a-z-]+\"|NULL), ('.'|0)" |
  sed -E "s/\{\"([a-z-]+)\", '(.)'/--\1 -\2/; s/\{\"([a-z-]+)\", 0/--\1/; s/\{NULL, '(.)'/-\1/" |
  tr ' ' '\n' | sort -u)
expect "--help lists every option the parser knows, and only those (and --)" \
  '[ "$(lines "$parser_options")" -ge 20 ] && [ "$(printf "%s\n" -- "$parser_options" | sort -u)" = "$help_options" ]'
[ "$help_options" = "$man_options" ] || diff <(echo "$help_options") <(echo "$man_options") | sed 's/^/    /'
expect "--help's usage mentions the man page for the environment" '[[ "$help" == *"see opsrun(1)"* ]]'

commands=$(sed -n 's/^ *\(Usage:\)\{0,1\} *opsrun \[options\] \([a-z]\{1,\}\).*/\2/p' <<<"$help" | sort -u)
expect "every command of --help (doctor, tools, call, serve) is in COMMANDS and SYNOPSIS" \
  '[ "$(tr "\n" " " <<<"$commands")" = "call doctor serve tools " ] &&
   for c in $commands; do section COMMANDS | grep -qE "^       $c( |$)" && section SYNOPSIS | grep -q "opsrun \[options\] $c" || exit 1; done'

exits=$(sed -n '/^Exit status:/,$p' <<<"$help" | grep -oE '(^|; |: )[0-9]' | grep -oE '[0-9]' | sort -u | tr '\n' ' ')
expect "every exit status of --help (0-3) is in EXIT STATUS" \
  '[ "$exits" = "0 1 2 3 " ] && for s in $exits; do section "EXIT STATUS" | grep -qE "^       $s( |$)" || exit 1; done'
expect "exit status 1 covers a failed doctor check, in both" \
  '[[ "$help" == *"1 Lua error or a failed doctor check"* ]] && section "EXIT STATUS" | tr -s " \n" " " | grep -q "1 An uncaught Lua error, or a failed doctor check"'

environment=$(section ENVIRONMENT | tr -s ' \n' ' ' | sed 's/\xe2\x80\x90 //g') # join hyphenated words
spec_variables="AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_SHARED_CREDENTIALS_FILE
AWS_CONFIG_FILE AWS_ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
AWS_CONTAINER_CREDENTIALS_FULL_URI AWS_EC2_METADATA_SERVICE_ENDPOINT AWS_EC2_METADATA_DISABLED
AWS_ENDPOINT_URL_STS AWS_ENDPOINT_URL OPSRUN_MCP_SIGNING_NAME OPSRUN_MCP_SIGNING_REGION AWS_PROFILE
AWS_REGION AWS_DEFAULT_REGION OPSRUN_REGISTRY ACCOUNT_REGISTRY OPSRUN_MCP_URL AWS_MAX_ATTEMPTS
AWS_RETRY_MODE XDG_STATE_HOME"
missing=""
for v in $spec_variables; do [[ "$environment" == *"$v"* ]] || missing+=" $v"; done
expect "ENVIRONMENT names every variable of SPEC section 2 and the run's settings" '[ -z "$missing" ]'
[ -z "$missing" ] || echo "    missing:$missing"

code_variables=$(grep -rhoE '"(AWS|OPSRUN|XDG)_[A-Z0-9_]+"' "$root/runtime" "$root/bindings" --include=*.c --include=*.lua |
  tr -d '"' | sort -u)
missing=""
for v in $code_variables; do [[ "$environment" == *"$v"* ]] || missing+=" $v"; done
expect "ENVIRONMENT names every variable the code reads (runtime/, bindings/)" '[ -z "$missing" ]'
[ -z "$missing" ] || echo "    missing:$missing"

build_dir=$(dirname "$OPSRUN")
if [ -f "$build_dir/cmake_install.cmake" ] && command -v cmake >/dev/null; then
  run cmake --install "$build_dir" --prefix "$E2E_TMP/prefix"
  expect "cmake --install puts the page in share/man/man1 beside bin/opsrun" \
    '[ $status -eq 0 ] && cmp -s "$page" "$E2E_TMP/prefix/share/man/man1/opsrun.1" && [ -x "$E2E_TMP/prefix/bin/opsrun" ]'
  run man -M "$E2E_TMP/prefix/share/man" -w opsrun
  expect "man finds the installed page by name" '[ "$out" = "$E2E_TMP/prefix/share/man/man1/opsrun.1" ]'
else
  echo "skip - $build_dir is not a CMake build directory: the install is not checked"
fi
finish
