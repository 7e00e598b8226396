#!/usr/bin/env bash
# tls_test.sh: opsrun over TLS, trusting a CA given the way users give one (AWS_CA_BUNDLE, or the
# profile's ca_bundle). Against the simulator offering HTTP/2 (ALPN h2) opsrun speaks HTTP/1.1,
# as botocore does (runtime/http.c says why), keeping a connection per request in flight for the
# next request; against HTTP/1.1-only TLS, the same. A wrong CA is a TLS error naming the
# endpoint and the bundle, a bundle that cannot be read a one-line configuration error (exit 2).
# The simulator's test CA is made by openssl when it starts (tests/sim --tls).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../sim/lib.sh"
trap 'sim_stop; rm -rf "$E2E_TMP"' EXIT

ACCOUNTS=100
JOBS=16

# One tool call per account; prints how many tasks returned the call's text.
write_script sweep.lua >/dev/null <<'LUA'
local results = sweep(accounts(), function(acct)
  assume(acct)
  return mcp.call("aws___list_regions", {}).text
end)
local ok = 0
for _, r in ipairs(results) do
  if r.ok and r.value:find("us-east-1", 1, true) then ok = ok + 1 end
end
print(ok)
LUA

# tls_sweep ENV...: the sweep with ENV added (AWS_CA_BUNDLE=...), -j $JOBS; sets $counters.
tls_sweep() {
  sim_sweep "$E2E_TMP/sweep.lua" "$@" -- -j "$JOBS" -- --
}

handshakes() { jq -r "$1" <<<"$counters"; }

# --- a server offering HTTP/2 -----------------------------------------------------------------

sim_start --tls h2 --accounts $ACCOUNTS --mcp-latency-ms 20 || exit 1
tls_sweep AWS_CA_BUNDLE="$SIM_CA_BUNDLE"
requests=$(jq -r .requests.total <<<"$counters")
expect "h2 offered: every account's call answered, exit 0" '[ $status -eq 0 ] && [ "$out" = $ACCOUNTS ]'
# Connections are kept for the next request: about one per request in flight (-j places at STS,
# at MCP, and as many session DELETEs), a few more when one closes; not one per request.
expect "h2 offered: all $requests requests over HTTP/1.1, on $(handshakes .tls_handshakes) TLS connections (STS and MCP)" \
  '[ "$(handshakes ".requests_by_http_version[\"1.1\"]")" = "$requests" ] &&
   [ "$(handshakes ".tls_handshakes_by_protocol[\"http/1.1\"]")" = "$(handshakes .tls_handshakes)" ] &&
   [ "$(handshakes .tls_handshakes)" -le $((4 * JOBS)) ] && [ "$requests" -ge $((ACCOUNTS * 4)) ]'

# The profile's ca_bundle, as the AWS CLI reads it; AWS_CA_BUNDLE wins over it.
mkdir -p "$E2E_TMP/.aws"
printf '[default]\nca_bundle = %s\n' "$SIM_CA_BUNDLE" >"$E2E_TMP/.aws/config"
tls_sweep
expect "the CA from the profile's ca_bundle" '[ $status -eq 0 ] && [ "$out" = $ACCOUNTS ]'

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=not the sim's CA" \
  -keyout "$E2E_TMP/wrong.key" -out "$E2E_TMP/wrong.pem" 2>/dev/null
printf '[default]\nca_bundle = %s\n' "$E2E_TMP/wrong.pem" >"$E2E_TMP/.aws/config"
tls_sweep AWS_CA_BUNDLE="$SIM_CA_BUNDLE"
expect "AWS_CA_BUNDLE overrides the profile's ca_bundle" '[ $status -eq 0 ] && [ "$out" = $ACCOUNTS ]'

# A wrong CA: every task fails on the certificate check of the endpoint it calls (STS first).
tls_sweep
expect "a wrong CA (profile): a TLS error naming the endpoint and the bundle, exit 3" \
  '[ $status -eq 3 ] && [ "$out" = 0 ] &&
   grep -qF "TlsFailed (assume" <<<"$err" && grep -qF "POST $SIM_STS/: SSL certificate problem" <<<"$err" &&
   grep -qF "trusting only the CA bundle '"'"'$E2E_TMP/wrong.pem'"'"' of ca_bundle of profile default in $E2E_TMP/.aws/config" <<<"$err"'
rm "$E2E_TMP/.aws/config"

sim_run env AWS_CA_BUNDLE="$E2E_TMP/wrong.pem" "$OPSRUN" -e 'print(whoami().account)'
expect "a wrong CA (AWS_CA_BUNDLE): whoami fails on STS's certificate" \
  '[ $status -eq 1 ] && grep -qF "POST $SIM_STS/: SSL certificate problem" <<<"$err" &&
   grep -qF "of AWS_CA_BUNDLE)" <<<"$err"'

sim_run "$OPSRUN" -e 'print(whoami().account)'
expect "no CA given: the system's CAs do not know the test CA, and the error says how to give one" \
  '[ $status -eq 1 ] && grep -qF "trusting the system'"'"'s CA certificates; AWS_CA_BUNDLE" <<<"$err"'

# Unusable bundles: a configuration error every task would hit, said once.
tls_sweep AWS_CA_BUNDLE="$E2E_TMP/missing.pem"
expect "a missing bundle: one line naming AWS_CA_BUNDLE and the path, exit 2" \
  '[ $status -eq 2 ] && [ -z "$out" ] && [ "$(lines "$err")" -eq 1 ] &&
   [ "$err" = "opsrun: config: AWS_CA_BUNDLE: cannot read the CA bundle '"'"'$E2E_TMP/missing.pem'"'"': No such file or directory" ]'
echo "not a certificate" >"$E2E_TMP/junk.pem"
tls_sweep AWS_CA_BUNDLE="$E2E_TMP/junk.pem"
expect "a bundle without certificates: exit 2" \
  '[ $status -eq 2 ] && [ "$(lines "$err")" -eq 1 ] && grep -qF "holds no PEM certificate" <<<"$err"'
mkdir -p "$E2E_TMP/.aws"
printf '[profile ops]\nca_bundle = %s\n' "$E2E_TMP/missing.pem" >"$E2E_TMP/.aws/config"
tls_sweep AWS_PROFILE=ops
expect "a missing bundle in the profile: names the profile and the file, exit 2" \
  '[ $status -eq 2 ] && [ "$(lines "$err")" -eq 1 ] &&
   grep -qF "ca_bundle of profile ops in $E2E_TMP/.aws/config: cannot read the CA bundle" <<<"$err"'
rm "$E2E_TMP/.aws/config"

# Organizations over TLS with the same bundle.
sim_reset_counters
sim_run env AWS_CA_BUNDLE="$SIM_CA_BUNDLE" AWS_ENDPOINT_URL_ORGANIZATIONS="$SIM_ORGANIZATIONS" \
  XDG_CACHE_HOME="$E2E_TMP/cache" "$OPSRUN" --org -e 'print(#accounts())'
expect "Organizations over TLS with the bundle ($(sim_counter .tls_handshakes_by_endpoint.organizations) connections, 4 requests at once at most)" \
  '[ $status -eq 0 ] && [ "$out" -ge $ACCOUNTS ] &&
   [ "$(sim_counter .tls_handshakes_by_endpoint.organizations)" -le 4 ]'
sim_stop

# --- HTTP/1.1 only --------------------------------------------------------------------------

sim_start --tls http1.1 --accounts $ACCOUNTS --mcp-latency-ms 20 || exit 1
tls_sweep AWS_CA_BUNDLE="$SIM_CA_BUNDLE"
expect "http/1.1 only: the same results, exit 0, over $(handshakes .tls_handshakes) TLS connections" \
  '[ $status -eq 0 ] && [ "$out" = $ACCOUNTS ] && [ "$(handshakes .tls_handshakes)" -le $((4 * JOBS)) ] &&
   [ "$(handshakes ".requests_by_http_version[\"1.1\"]")" = "$(jq -r .requests.total <<<"$counters")" ]'
sim_stop

finish
