// IAM Identity Center (lib/sso.mjs): the login hook's token cache, the portal's
// GetRoleCredentials and its refusals, credentials STS accepts and that assume workload roles,
// SSO OIDC CreateToken with the refresh_token grant and its refusals, the lifetimes of access
// tokens and sign-ins, and the counters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assumeRole, counters, startSim, sts, xmlField } from './helpers.mjs';

const CENTRAL = '111111111111';
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function login(ready, query = 'start_url=https%3A%2F%2Fcorp.awsapps.com%2Fstart&region=eu-west-1') {
  const res = await fetch(`${ready.sso_oidc}/_sim/sso/login?${query}`, { method: 'POST' });
  assert.equal(res.status, 200);
  return res.json();
}

async function roleCredentials(ready, token, account = CENTRAL, role = ready.sso_role) {
  const headers = token === undefined ? {} : { 'x-amz-sso_bearer_token': token };
  const res = await fetch(`${ready.sso}/federation/credentials?role_name=${role}&account_id=${account}`, { headers });
  return { status: res.status, type: res.headers.get('x-amzn-errortype'), body: await res.json() };
}

async function createToken(ready, input) {
  const res = await fetch(`${ready.sso_oidc}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(input),
  });
  return { status: res.status, type: res.headers.get('x-amzn-errortype'), body: await res.json() };
}

function refreshOf(cache) {
  return { clientId: cache.clientId, clientSecret: cache.clientSecret, grantType: 'refresh_token', refreshToken: cache.refreshToken };
}

test('login, then GetRoleCredentials: credentials STS accepts, as the permission set role', async (t) => {
  const sim = await startSim(['--accounts', '2']);
  t.after(() => sim.stop());
  const { ready } = sim;
  const cache = await login(ready);
  assert.deepEqual(Object.keys(cache), ['startUrl', 'region', 'accessToken', 'expiresAt', 'clientId', 'clientSecret', 'registrationExpiresAt', 'refreshToken']);
  assert.equal(cache.startUrl, 'https://corp.awsapps.com/start');
  assert.equal(cache.region, 'eu-west-1');
  assert.match(cache.expiresAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  const lifetime = Date.parse(cache.expiresAt) - Date.now();
  assert.ok(lifetime > 3590e3 && lifetime <= 3600e3, `default access token lifetime 1 h, got ${lifetime} ms`);

  const got = await roleCredentials(ready, cache.accessToken);
  assert.equal(got.status, 200, JSON.stringify(got.body));
  const creds = got.body.roleCredentials;
  assert.match(creds.accessKeyId, /^ASIA/);
  assert.equal(typeof creds.expiration, 'number', 'expiration in epoch milliseconds');
  const who = await sts(ready, creds, { Action: 'GetCallerIdentity' });
  assert.equal(who.status, 200, who.text);
  assert.match(xmlField(who.text, 'Arn'), new RegExp(`^arn:aws:sts::${CENTRAL}:assumed-role/AWSReservedSSO_AWSAdministratorAccess_[0-9a-f]{16}/ops@example.com$`));
  const workload = await assumeRole(ready, ready.accounts[0], {}, creds);
  assert.match(workload.accessKeyId, /^ASIA/, 'a principal of the central account assumes workload roles');
});

test('GetRoleCredentials refuses as the portal does', async (t) => {
  const sim = await startSim(['--accounts', '1', '--sso-role', 'ReadOnly']);
  t.after(() => sim.stop());
  const { ready } = sim;
  const cache = await login(ready);
  const unknown = await roleCredentials(ready, 'not-a-token');
  assert.deepEqual([unknown.status, unknown.type, unknown.body], [401, 'UnauthorizedException', { message: 'Session token not found or invalid' }]);
  const missing = await roleCredentials(ready, undefined);
  assert.equal(missing.type, 'UnauthorizedException');
  const otherRole = await roleCredentials(ready, cache.accessToken, CENTRAL, 'AWSAdministratorAccess');
  assert.deepEqual([otherRole.status, otherRole.type, otherRole.body], [403, 'ForbiddenException', { message: 'No access' }]);
  const otherAccount = await roleCredentials(ready, cache.accessToken, ready.accounts[0], 'ReadOnly');
  assert.equal(otherAccount.type, 'ForbiddenException');
  const noAccount = await roleCredentials(ready, cache.accessToken, '', 'ReadOnly');
  assert.deepEqual([noAccount.status, noAccount.type], [400, 'InvalidRequestException']);
});

test('CreateToken renews the access token and rotates the refresh token', async (t) => {
  const sim = await startSim(['--accounts', '1']);
  t.after(() => sim.stop());
  const { ready } = sim;
  const cache = await login(ready);
  const renewed = await createToken(ready, refreshOf(cache));
  assert.equal(renewed.status, 200, JSON.stringify(renewed.body));
  assert.deepEqual(Object.keys(renewed.body).sort(), ['accessToken', 'expiresIn', 'refreshToken', 'tokenType']);
  assert.equal(renewed.body.tokenType, 'Bearer');
  assert.equal(renewed.body.expiresIn, 3600);
  assert.notEqual(renewed.body.accessToken, cache.accessToken);
  assert.notEqual(renewed.body.refreshToken, cache.refreshToken);
  assert.equal((await roleCredentials(ready, renewed.body.accessToken)).status, 200);
  assert.equal((await roleCredentials(ready, cache.accessToken)).status, 200, 'the old access token lives on until it expires');

  const spent = await createToken(ready, refreshOf(cache));
  assert.deepEqual([spent.status, spent.type, spent.body], [400, 'InvalidGrantException', { error: 'invalid_grant' }]);
  const again = await createToken(ready, { ...refreshOf(cache), refreshToken: renewed.body.refreshToken });
  assert.equal(again.status, 200, 'the new refresh token works');
});

test('CreateToken refuses a bad client, grant type or request', async (t) => {
  const sim = await startSim(['--accounts', '1']);
  t.after(() => sim.stop());
  const { ready } = sim;
  const cache = await login(ready);
  const badSecret = await createToken(ready, { ...refreshOf(cache), clientSecret: 'wrong' });
  assert.deepEqual([badSecret.status, badSecret.type, badSecret.body], [401, 'InvalidClientException', { error: 'invalid_client' }]);
  const unknownClient = await createToken(ready, { ...refreshOf(cache), clientId: 'nobody' });
  assert.equal(unknownClient.type, 'InvalidClientException');
  const otherClient = await login(ready);
  const crossed = await createToken(ready, { ...refreshOf(otherClient), refreshToken: cache.refreshToken });
  assert.equal(crossed.type, 'InvalidGrantException', "a refresh token of another client's sign-in");
  const grant = await createToken(ready, { ...refreshOf(cache), grantType: 'password' });
  assert.deepEqual([grant.status, grant.type, grant.body.error], [400, 'UnsupportedGrantTypeException', 'unsupported_grant_type']);
  const missing = await createToken(ready, { clientSecret: cache.clientSecret, grantType: 'refresh_token' });
  assert.deepEqual([missing.status, missing.type, missing.body], [400, 'InvalidRequestException', { error: 'invalid_request', error_description: 'clientId is required' }]);
  const notJson = await fetch(`${ready.sso_oidc}/token`, { method: 'POST', body: '{' });
  assert.equal(notJson.headers.get('x-amzn-errortype'), 'InvalidRequestException');
});

test('access tokens and sign-ins expire', async (t) => {
  const sim = await startSim(['--accounts', '1', '--sso-token-lifetime', '1', '--sso-session-lifetime', '3', '--sso-registration-lifetime', '100']);
  t.after(() => sim.stop());
  const { ready } = sim;
  const cache = await login(ready);
  await sleep(1200);
  assert.equal((await roleCredentials(ready, cache.accessToken)).type, 'UnauthorizedException', 'the access token expired');
  const renewed = await createToken(ready, refreshOf(cache));
  assert.equal(renewed.status, 200, 'a refresh within the sign-in works after the access token expired');
  assert.equal(renewed.body.expiresIn, 1);
  await sleep(2000);
  const ended = await createToken(ready, { ...refreshOf(cache), refreshToken: renewed.body.refreshToken });
  assert.deepEqual([ended.status, ended.type, ended.body], [400, 'InvalidGrantException', { error: 'invalid_grant' }], 'the sign-in ended');
});

test('an expired client registration is an invalid client', async (t) => {
  const sim = await startSim(['--accounts', '1', '--sso-registration-lifetime', '1']);
  t.after(() => sim.stop());
  const { ready } = sim;
  const cache = await login(ready);
  await sleep(1200);
  const expired = await createToken(ready, refreshOf(cache));
  assert.deepEqual([expired.status, expired.type], [401, 'InvalidClientException']);
});

test('counters: SSO requests and calls by operation and error', async (t) => {
  const sim = await startSim(['--accounts', '1']);
  t.after(() => sim.stop());
  const { ready } = sim;
  const cache = await login(ready);
  await roleCredentials(ready, cache.accessToken);
  await roleCredentials(ready, 'nope');
  await createToken(ready, refreshOf(cache));
  const c = await counters(ready);
  assert.equal(c.requests.sso, 2);
  assert.equal(c.requests.sso_oidc, 1, 'the login hook is not a request of the endpoint');
  assert.deepEqual(c.sso_calls, { GetRoleCredentials: 2, CreateToken: 1 });
  assert.deepEqual(c.sso_errors, { 'GetRoleCredentials.UnauthorizedException': 1 });
});
