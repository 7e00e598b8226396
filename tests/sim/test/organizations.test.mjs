// The Organizations endpoint over HTTP with smithy-signed AWS JSON 1.1 requests: signing and
// front-door refusals, every operation and its shapes, the tree, paging with empty pages and
// bad tokens, throttling and 5xx, the rate limit, management/delegated/member callers, counters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assumeRole, baseCreds, counters, signingFetch, startSim } from './helpers.mjs';

const TARGET = 'AWSOrganizationsV20161128.';

async function withSim(flags, fn) {
  const sim = await startSim(flags);
  try {
    await fn(sim.ready);
  } finally {
    await sim.stop();
  }
}

/** One signed Organizations call; resolves to { status, text, json, headers }. */
async function org(ready, operation, input = {}, { creds = baseCreds(ready), signing = {}, target = TARGET + operation } = {}) {
  const f = creds ? signingFetch(creds, { service: 'organizations', region: 'us-east-1', ...signing }) : fetch;
  const headers = { 'content-type': 'application/x-amz-json-1.1', ...(target ? { 'x-amz-target': target } : {}) };
  const res = await f(ready.organizations + '/', { method: 'POST', headers, body: JSON.stringify(input) });
  const text = await res.text();
  return { status: res.status, text, json: JSON.parse(text), headers: res.headers };
}

/** Every page of a listing: { items, pages (item counts per page) }. */
async function walk(ready, operation, key, input = {}, opts = {}) {
  const items = [];
  const pages = [];
  let token;
  do {
    const r = await org(ready, operation, { ...input, ...(token ? { NextToken: token } : {}) }, opts);
    assert.equal(r.status, 200, r.text);
    items.push(...r.json[key]);
    pages.push(r.json[key].length);
    token = r.json.NextToken;
    assert.ok(pages.length < 100, 'paging ends');
  } while (token);
  return { items, pages };
}

test('signing and the front door: AWS JSON 1.1 refusals, unknown operations', () =>
  withSim(['--accounts', '2'], async (ready) => {
    const ok = await org(ready, 'DescribeOrganization');
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('content-type'), 'application/x-amz-json-1.1');
    assert.match(ok.headers.get('x-amzn-requestid'), /^[0-9a-f-]{36}$/);

    const unsigned = await org(ready, 'ListAccounts', {}, { creds: null });
    assert.deepEqual([unsigned.status, unsigned.json], [400, { __type: 'MissingAuthenticationTokenException', message: 'Request is missing Authentication Token' }]);
    const wrongSecret = await org(ready, 'ListAccounts', {}, { creds: { ...baseCreds(ready), secretAccessKey: 'x' } });
    assert.deepEqual([wrongSecret.status, wrongSecret.json.__type], [400, 'InvalidSignatureException']);
    const wrongRegion = await org(ready, 'ListAccounts', {}, { signing: { region: 'eu-west-1' } });
    assert.deepEqual(wrongRegion.json, { __type: 'InvalidSignatureException', message: "Credential should be scoped to a valid region, not 'eu-west-1'. " });
    const wrongService = await org(ready, 'ListAccounts', {}, { signing: { service: 'sts' } });
    assert.equal(wrongService.json.message, "Credential should be scoped to correct service: 'organizations'. ");
    const unknownKey = await org(ready, 'ListAccounts', {}, { creds: { accessKeyId: 'AKIAAAAAAAAAAAAAAAAA', secretAccessKey: 'x' } });
    assert.deepEqual([unknownKey.status, unknownKey.json], [400, { __type: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.' }]);

    for (const target of [TARGET + 'CreateAccount', 'Other.ListAccounts', null]) {
      const unknown = await org(ready, 'ListAccounts', {}, { target });
      assert.deepEqual([unknown.status, unknown.json], [400, { __type: 'UnknownOperationException' }], String(target));
    }
    const c = await counters(ready);
    assert.equal(c.signature_failures.by_endpoint.organizations, 5);
    assert.equal(c.org_requests, 9);
    assert.equal(c.org_DescribeOrganization, 1);
    assert.equal(c.org_ListAccounts, undefined, 'refused requests name no operation the endpoint ran');
  }));

test('the organisation: root, nested OUs, every account placed once, State, tags', () =>
  withSim(['--accounts', '7', '--suspended-accounts', '2', '--closed-accounts', '1'], async (ready) => {
    const { items: roots } = await walk(ready, 'ListRoots', 'Roots');
    assert.equal(roots.length, 1);
    assert.equal(roots[0].Id, ready.org_root);
    assert.match(roots[0].Id, /^r-[0-9a-z]{4,32}$/);
    assert.match(roots[0].Arn, /^arn:aws:organizations::111111111111:root\/o-[a-z0-9]{10,32}\/r-[0-9a-z]{4,32}$/);
    assert.deepEqual(roots[0].PolicyTypes, [{ Type: 'SERVICE_CONTROL_POLICY', Status: 'ENABLED' }]);

    const placed = new Map();
    const walkOu = async (parentId, path) => {
      const { items: accounts } = await walk(ready, 'ListAccountsForParent', 'Accounts', { ParentId: parentId });
      for (const a of accounts) placed.set(a.Id, path);
      const { items: ous } = await walk(ready, 'ListOrganizationalUnitsForParent', 'OrganizationalUnits', { ParentId: parentId });
      for (const ou of ous) {
        assert.match(ou.Id, /^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$/);
        assert.deepEqual(Object.keys(ou), ['Id', 'Arn', 'Name']);
        assert.equal(ready.org_ous[`${path}/${ou.Name}`], ou.Id);
        await walkOu(ou.Id, `${path}/${ou.Name}`);
      }
    };
    await walkOu(ready.org_root, 'Root');
    assert.deepEqual(Object.keys(ready.org_ous).sort(), ['Root/Sandbox', 'Root/Security', 'Root/Workloads', 'Root/Workloads/Dev', 'Root/Workloads/Prod']);
    for (const path of Object.keys(ready.org_ous)) assert.ok([...placed.values()].includes(path), `${path} holds an account`);
    assert.equal(placed.get(ready.central_account), 'Root');

    const { items: accounts } = await walk(ready, 'ListAccounts', 'Accounts');
    assert.deepEqual(accounts.map((a) => a.Id).sort(), [...placed.keys()].sort(), 'the tree walk and ListAccounts agree');
    const state = Object.fromEntries(accounts.map((a) => [a.Id, a.State]));
    for (const id of [ready.central_account, ...ready.accounts]) assert.equal(state[id], 'ACTIVE');
    assert.deepEqual(ready.suspended_accounts, ['300000000001', '300000000002']);
    assert.deepEqual(ready.closed_accounts, ['400000000001']);
    for (const id of ready.suspended_accounts) assert.equal(state[id], 'SUSPENDED');
    assert.equal(state[ready.closed_accounts[0]], 'CLOSED');
    assert.equal(accounts.length, 1 + 7 + 2 + 1);
    const first = accounts.find((a) => a.Id === ready.accounts[0]);
    assert.deepEqual(Object.keys(first), ['Id', 'Arn', 'Email', 'Name', 'State', 'JoinedMethod', 'JoinedTimestamp'], 'Status is retired');
    assert.match(first.Arn, /^arn:aws:organizations::111111111111:account\/o-[a-z0-9]{10,32}\/200000000001$/);
    assert.equal(typeof first.JoinedTimestamp, 'number');

    const raw = await org(ready, 'ListAccounts');
    assert.match(raw.text, /"JoinedTimestamp":\d\.\d+E9[,}]/, 'timestamps in Java double notation, as AWS sends them');

    const tags = await walk(ready, 'ListTagsForResource', 'Tags', { ResourceId: ready.accounts[0] });
    assert.deepEqual(tags.items.map((t) => t.Key), ['team', 'cost-center', 'environment']);
    assert.equal(tags.items[2].Value, { 'Root/Workloads/Prod': 'production' }[placed.get(ready.accounts[0])]);
    assert.deepEqual((await org(ready, 'ListTagsForResource', { ResourceId: ready.org_root })).json, { Tags: [] });
    const missing = await org(ready, 'ListTagsForResource', { ResourceId: '123456789012' });
    assert.equal(missing.json.__type, 'TargetNotFoundException');
    const noParent = await org(ready, 'ListAccountsForParent', { ParentId: 'ou-zzzz-zzzzzzzz' });
    assert.deepEqual(noParent.json, { __type: 'ParentNotFoundException', Message: "We can't find a root or OU with the ParentId that you specified." });
    const required = await org(ready, 'ListAccountsForParent', {});
    assert.deepEqual(required.json, { __type: 'InvalidInputException', Message: 'You must include a value for all required parameters.', Reason: 'INPUT_REQUIRED' });
    const pattern = await org(ready, 'ListOrganizationalUnitsForParent', { ParentId: 'x-1' });
    assert.equal(pattern.json.Reason, 'INVALID_PATTERN');

    const described = (await org(ready, 'DescribeOrganization')).json.Organization;
    assert.equal(described.MasterAccountId, ready.management_account);
    assert.equal(ready.management_account, ready.central_account);
    assert.match(described.Id, /^o-[a-z0-9]{10,32}$/);
    assert.deepEqual((await org(ready, 'ListDelegatedAdministrators')).json, { DelegatedAdministrators: [] });
  }));

test('legacy Status beside State: a closed account showed SUSPENDED', () =>
  withSim(['--accounts', '1', '--org-legacy-status'], async (ready) => {
    const { items } = await walk(ready, 'ListAccounts', 'Accounts');
    const byId = Object.fromEntries(items.map((a) => [a.Id, [a.State, a.Status]]));
    assert.deepEqual(byId[ready.accounts[0]], ['ACTIVE', 'ACTIVE']);
    assert.deepEqual(byId[ready.suspended_accounts[0]], ['SUSPENDED', 'SUSPENDED']);
    assert.deepEqual(byId[ready.closed_accounts[0]], ['CLOSED', 'SUSPENDED']);
  }));

test('paging: page size, MaxResults, empty pages with a token, bad tokens', () =>
  withSim(['--accounts', '6', '--org-page-size', '3', '--org-empty-pages'], async (ready) => {
    const all = await walk(ready, 'ListAccounts', 'Accounts');
    assert.deepEqual(all.pages, [3, 0, 3, 0, 3], '9 accounts, empty pages between');
    assert.equal(new Set(all.items.map((a) => a.Id)).size, 9);
    const ones = await walk(ready, 'ListAccounts', 'Accounts', { MaxResults: 1 });
    assert.deepEqual(ones.pages, [1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1]);
    assert.deepEqual(ones.items, all.items, 'the same order whatever the page size');
    const empty = (await org(ready, 'ListAccounts', { NextToken: (await org(ready, 'ListAccounts')).json.NextToken })).json;
    assert.deepEqual(empty.Accounts, []);
    assert.ok(empty.NextToken, 'an empty page still carries a token');

    const big = await org(ready, 'ListAccounts', { MaxResults: 21 });
    assert.deepEqual(big.json, { __type: 'InvalidInputException', Message: 'You provided a numeric parameter that has a larger value than allowed.', Reason: 'MAX_VALUE_EXCEEDED' });
    assert.equal((await org(ready, 'ListAccounts', { MaxResults: 0 })).json.Reason, 'MIN_VALUE_EXCEEDED');
    assert.equal((await org(ready, 'ListAccounts', { MaxResults: '5' })).json.__type, 'SerializationException');
    const bad = await org(ready, 'ListAccounts', { NextToken: 'not-a-token' });
    assert.deepEqual([bad.status, bad.json.__type, bad.json.Reason], [400, 'InvalidInputException', 'INVALID_NEXT_TOKEN']);
    const token = (await org(ready, 'ListAccountsForParent', { ParentId: ready.org_ous['Root/Workloads/Prod'], MaxResults: 1 })).json.NextToken;
    assert.ok(token);
    const foreign = await org(ready, 'ListAccountsForParent', { ParentId: ready.org_ous['Root/Workloads/Dev'], NextToken: token });
    assert.equal(foreign.json.Reason, 'INVALID_NEXT_TOKEN', "another listing's token is refused");
  }));

test('tags page at the page size', () =>
  withSim(['--accounts', '1', '--org-page-size', '2'], async (ready) => {
    const tags = await walk(ready, 'ListTagsForResource', 'Tags', { ResourceId: ready.accounts[0] });
    assert.deepEqual(tags.pages, [2, 1]);
  }));

test('throttling, 5xx and the rate limit in Organizations words', async () => {
  await withSim(['--accounts', '1', '--org-throttle-rate', '1'], async (ready) => {
    const r = await org(ready, 'ListAccounts');
    assert.deepEqual([r.status, r.json], [400, { __type: 'TooManyRequestsException', Message: "AWS Organizations can't complete your request because another request is already in progress. Try again later." }]);
    assert.equal((await counters(ready)).throttled.organizations, 1);
  });
  await withSim(['--accounts', '1', '--org-error-rate', '1'], async (ready) => {
    const r = await org(ready, 'ListAccounts');
    assert.ok([500, 503].includes(r.status));
    assert.ok(['ServiceException', 'ServiceUnavailableException'].includes(r.json.__type));
    assert.equal((await counters(ready)).errors_5xx.organizations, 1);
    assert.equal((await counters(ready)).errors_5xx.mcp, 0, 'the MCP endpoint keeps its own rate');
  });
  await withSim(['--accounts', '1', '--throttle-rate', '1', '--org-latency-ms', '300'], async (ready) => {
    const started = Date.now();
    const r = await org(ready, 'ListRoots');
    assert.equal(r.json.__type, 'TooManyRequestsException', '--throttle-rate reaches Organizations too');
    assert.ok(Date.now() - started >= 290, 'the answer waited --org-latency-ms');
  });
  await withSim(['--accounts', '1', '--org-rate-limit', '2'], async (ready) => {
    const answers = await Promise.all([1, 2, 3].map(() => org(ready, 'ListRoots')));
    assert.deepEqual(answers.map((a) => a.json.__type ?? 'ok').sort(), ['TooManyRequestsException', 'ok', 'ok']);
    assert.equal((await counters(ready)).quota_throttled.by_account[ready.central_account], 1);
  });
});

test('callers: a member is refused every read but DescribeOrganization, a delegated administrator reads', async () => {
  await withSim(['--accounts', '2', '--org-caller', 'member'], async (ready) => {
    assert.equal(ready.management_account, '100000000001');
    for (const operation of ['ListAccounts', 'ListRoots', 'ListDelegatedAdministrators']) {
      const r = await org(ready, operation);
      assert.deepEqual([r.status, r.json], [400, { __type: 'AccessDeniedException', Message: "You don't have permissions to access this resource." }], operation);
    }
    const described = await org(ready, 'DescribeOrganization');
    assert.equal(described.json.Organization.MasterAccountId, '100000000001');
    assert.equal((await counters(ready)).org_ListAccounts, 1, 'a refused call of a served operation counts');
  });
  await withSim(['--accounts', '2', '--org-caller', 'delegated'], async (ready) => {
    const { items } = await walk(ready, 'ListAccounts', 'Accounts');
    const ids = items.map((a) => a.Id);
    assert.ok(ids.includes('100000000001') && ids.includes(ready.central_account));
    assert.match(items[0].Arn, /^arn:aws:organizations::100000000001:account\//);
    const admins = (await org(ready, 'ListDelegatedAdministrators')).json.DelegatedAdministrators;
    assert.deepEqual(admins.map((a) => a.Id), [ready.central_account]);
    assert.equal(typeof admins[0].DelegationEnabledDate, 'number');
    assert.deepEqual((await org(ready, 'ListDelegatedAdministrators', { ServicePrincipal: 'other.amazonaws.com' })).json.DelegatedAdministrators, []);
    const workload = await assumeRole(ready, ready.accounts[0]);
    const fromWorkload = await org(ready, 'ListAccounts', {}, { creds: workload });
    assert.equal(fromWorkload.json.__type, 'AccessDeniedException', "a workload account's role session is a member");
  });
});
