// Tests of each account's enabled Regions: EC2 DescribeRegions through aws___run_script's
// call_boto3 (enabled Regions by default, AllRegions, RegionNames, Filters, its errors), the
// refusal of a call in a Region the account has not enabled, --opt-in-rate, and the counters,
// in-process (tools.mjs over a real sandbox) and over HTTP as a role session.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox } from '../sandbox/sandbox.mjs';
import { SHAPES } from '../lib/boto3.mjs';
import { callTool } from '../lib/tools.mjs';
import { CredentialStore, Organisation } from '../lib/identity.mjs';
import { parseOptions } from '../lib/options.mjs';
import { Counters } from '../lib/counters.mjs';
import { OPT_IN_REGIONS, optInStatus } from '../lib/regions.mjs';
import { REGION_IDS } from '../lib/util.mjs';
import { assumeRole, counters, mcpPost, openSession, runScriptCall, startSim } from './helpers.mjs';

const sandboxes = [];
after(() => sandboxes.forEach((s) => s.stop()));

/** A role session per account of an organisation built from `flags`, and a sandbox to run
 * scripts as one of them. */
function world(flags = []) {
  const opts = parseOptions(['--accounts', '20', ...flags]);
  const org = new Organisation(opts);
  const store = new CredentialStore(org);
  const sandbox = new Sandbox({ limitSeconds: opts.scriptTimeout, shapes: SHAPES });
  sandboxes.push(sandbox);
  const started = sandbox.start();
  const counters = new Counters();
  const identityOf = (account) => store.issueRoleSession({
    account, roleName: 'CentralOpsTargetRole', roleId: org.roleId(account, 'CentralOpsTargetRole'), sessionName: 'unit', expiration: Date.now() + 3600e3,
  });
  /** The envelope of running `code` as `account` with `region` as _meta.AWS_REGION. */
  async function run(account, code, region = 'us-east-1') {
    await started;
    const ctx = { identity: identityOf(account), org, seed: org.seed, opts, defaultRegion: region, regionIds: [...REGION_IDS], counters, sandbox, now: Date.now() };
    return (await callTool('aws___run_script', { code }, ctx)).structuredContent;
  }
  return { org, opts, counters, run };
}

const describe = (params = '{}') => `(await call_boto3(service_name='ec2', operation_name='DescribeRegions', params=${params}))['Regions']`;
const names = (regions) => regions.map((r) => r.RegionName).sort();

const plain = world();

async function value(account, code, region) {
  const envelope = await plain.run(account, code, region);
  assert.equal(envelope.status, 'success', envelope.error);
  return envelope.return_value;
}

async function failure(account, code, region) {
  const envelope = await plain.run(account, code, region);
  assert.equal(envelope.status, 'error', `expected ${code} to fail`);
  return envelope.error;
}

test('AllRegions lists every Region with its OptInStatus; the default lists the enabled ones', async () => {
  const sets = new Set();
  for (const account of plain.org.accounts) {
    const all = await value(account, describe("{'AllRegions': True}"));
    assert.deepEqual(names(all), [...REGION_IDS].sort());
    for (const r of all) {
      assert.deepEqual(Object.keys(r).sort(), ['Endpoint', 'OptInStatus', 'RegionName']);
      assert.equal(r.Endpoint, `ec2.${r.RegionName}.amazonaws.com`);
      const expected = OPT_IN_REGIONS.has(r.RegionName) ? ['opted-in', 'not-opted-in'] : ['opt-in-not-required'];
      assert.ok(expected.includes(r.OptInStatus), `${r.RegionName}: ${r.OptInStatus}`);
    }
    const enabled = await value(account, describe());
    assert.deepEqual(names(enabled), names(all.filter((r) => r.OptInStatus !== 'not-opted-in')));
    sets.add(names(enabled).join(','));
  }
  assert.ok(sets.size > 2, `20 accounts, only ${sets.size} different sets of enabled Regions`);
  assert.deepEqual(await value('200000000001', describe()), await value('200000000001', describe()), 'the same answer every time');
});

test('RegionNames names Regions enabled or not; Filters narrow; bad names and filters are refused', async () => {
  const account = plain.org.accounts[0];
  const named = await value(account, describe("{'RegionNames': ['us-east-1', 'af-south-1', 'ap-east-1', 'me-south-1']}"));
  assert.deepEqual(names(named), ['af-south-1', 'ap-east-1', 'me-south-1', 'us-east-1']);
  assert.deepEqual(named.map((r) => r.OptInStatus).sort(), named.map((r) => optInStatus(plain.opts, account, r.RegionName)).sort());

  const optedIn = await value(account, describe("{'AllRegions': True, 'Filters': [{'Name': 'opt-in-status', 'Values': ['opted-in', 'not-opted-in']}]}"));
  assert.deepEqual(names(optedIn), [...OPT_IN_REGIONS].sort());
  const europe = await value(account, describe("{'Filters': [{'Name': 'region-name', 'Values': ['eu-*']}, {'Name': 'opt-in-status', 'Values': ['opt-in-not-required']}]}"));
  assert.deepEqual(names(europe), ['eu-central-1', 'eu-north-1', 'eu-west-1', 'eu-west-2', 'eu-west-3']);
  assert.deepEqual(names(await value(account, describe("{'Filters': [{'Name': 'endpoint', 'Values': ['ec2.us-west-2.amazonaws.com']}]}"))), ['us-west-2']);

  assert.equal(await failure(account, describe("{'RegionNames': ['us-east-1', 'mars-north-1']}")),
    'botocore.exceptions.ClientError: An error occurred (InvalidParameterValue) when calling the DescribeRegions operation: Invalid region: [mars-north-1]');
  assert.equal(await failure(account, describe("{'Filters': [{'Name': 'geography', 'Values': ['x']}]}")),
    "botocore.exceptions.ClientError: An error occurred (InvalidParameterValue) when calling the DescribeRegions operation: The filter 'geography' is invalid");
  assert.equal(await failure(account, describe("{'DryRun': True}")),
    'botocore.exceptions.ClientError: An error occurred (DryRunOperation) when calling the DescribeRegions operation: Request would have succeeded, but DryRun flag is set.');
  assert.match(await failure(account, describe("{'AllRegions': 'yes'}")), /^botocore\.exceptions\.ParamValidationError: Parameter validation failed:\nInvalid type for parameter AllRegions/);
});

test('a call in a Region the account has not enabled is refused as each service refuses it', async () => {
  const pairs = plain.org.accounts.flatMap((account) => [...OPT_IN_REGIONS].map((region) => ({ account, region })));
  const status = ({ account, region }) => optInStatus(plain.opts, account, region);
  const { account, region } = pairs.find((pair) => status(pair) === 'not-opted-in');
  const call = (service, operation) => `await call_boto3(service_name='${service}', operation_name='${operation}')`;
  const optedIn = pairs.find((pair) => status(pair) === 'opted-in');
  assert.ok(await value(optedIn.account, call('ec2', 'DescribeInstances'), optedIn.region), 'an opted-in Region serves');
  const before = plain.counters.disabledRegionCalls.total;
  assert.equal(await failure(account, call('ec2', 'DescribeInstances'), region),
    'botocore.exceptions.ClientError: An error occurred (AuthFailure) when calling the DescribeInstances operation: AWS was not able to validate the provided access credentials');
  assert.equal(await failure(account, call('ec2', 'DescribeRegions'), region),
    'botocore.exceptions.ClientError: An error occurred (AuthFailure) when calling the DescribeRegions operation: AWS was not able to validate the provided access credentials');
  assert.equal(await failure(account, call('sts', 'GetCallerIdentity'), region),
    'botocore.exceptions.ClientError: An error occurred (InvalidClientTokenId) when calling the GetCallerIdentity operation: The security token included in the request is invalid.');
  assert.equal(await failure(account, call('s3', 'ListBuckets'), region),
    'botocore.exceptions.ClientError: An error occurred (InvalidToken) when calling the ListBuckets operation: The provided token is malformed or otherwise invalid.');
  assert.ok(await value(account, call('iam', 'ListRoles'), region), 'IAM is global');
  assert.equal(plain.counters.disabledRegionCalls.total - before, 4);
});

test('--opt-in-rate 0 enables no opt-in Region, 1 all of them', async () => {
  const none = world(['--opt-in-rate', '0']);
  const every = world(['--opt-in-rate', '1']);
  const enabled = async (w) => names((await w.run('200000000007', describe())).return_value);
  assert.deepEqual(await enabled(none), [...REGION_IDS].filter((r) => !OPT_IN_REGIONS.has(r)).sort());
  assert.deepEqual(await enabled(every), [...REGION_IDS].sort());
  assert.throws(() => parseOptions(['--opt-in-rate', '2']), /--opt-in-rate: expected a fraction 0\.\.1/);
});

test('over HTTP as a role session: DescribeRegions answers, and the counters name the account', async () => {
  const sim = await startSim(['--accounts', '3', '--opt-in-rate', '0']);
  try {
    const { ready } = sim;
    const account = ready.accounts[1];
    const creds = await assumeRole(ready, account);
    const session = await openSession(ready, creds);
    const answer = await mcpPost(ready, creds, runScriptCall(describe("{'AllRegions': True}")), { session });
    const regions = answer.json.result.structuredContent.return_value;
    assert.deepEqual(names(regions), [...REGION_IDS].sort());
    assert.deepEqual(regions.filter((r) => r.OptInStatus !== 'opt-in-not-required').map((r) => r.OptInStatus), Array(OPT_IN_REGIONS.size).fill('not-opted-in'));
    const refused = await mcpPost(ready, creds, runScriptCall(describe(), 'me-south-1', 8), { session });
    assert.equal(refused.json.result.isError, true);
    assert.match(refused.json.result.structuredContent.error, /\(AuthFailure\) when calling the DescribeRegions operation/);
    const seen = await counters(ready);
    assert.deepEqual(seen.boto3_calls_by_account, { [account]: { 'ec2.DescribeRegions': 2 } });
    assert.deepEqual(seen.disabled_region_calls, { total: 1, by_account: { [account]: 1 } });
  } finally {
    await sim.stop();
  }
});
