// Tests of aws___run_script's CPython sandbox (sandbox/): scripts run as the hosted sandbox runs
// them (final expression, top-level await, CPython's own errors), outputs kept apart under
// concurrency, imports refused, time limits, botocore's errors, and the simulated pagination.
// Runs the tool in-process (tools.mjs over a real sandbox) and, for limits, over HTTP.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { Sandbox } from '../sandbox/sandbox.mjs';
import { SHAPES } from '../lib/boto3.mjs';
import { callTool } from '../lib/tools.mjs';
import { CredentialStore, Organisation } from '../lib/identity.mjs';
import { parseOptions } from '../lib/options.mjs';
import { Counters } from '../lib/counters.mjs';
import { ec2Instances, iamRoles, s3Buckets, s3Objects } from '../lib/inventory.mjs';
import { REGION_IDS } from '../lib/util.mjs';
import { assumeRole, mcpPost, openSession, runScriptCall, startSim } from './helpers.mjs';

const ACCOUNT = '200000000003';
const worlds = [];
after(() => worlds.forEach((w) => w.sandbox.stop()));

/** An organisation built from simulator flags, a role session in ACCOUNT, and a sandbox. */
function world(flags = []) {
  const opts = parseOptions(['--accounts', '5', ...flags]);
  const org = new Organisation(opts);
  const identity = new CredentialStore(org).issueRoleSession({
    account: ACCOUNT, roleName: 'CentralOpsTargetRole', roleId: org.roleId(ACCOUNT, 'CentralOpsTargetRole'), sessionName: 'unit', expiration: Date.now() + 3600e3,
  });
  const sandbox = new Sandbox({ limitSeconds: opts.scriptTimeout, shapes: SHAPES });
  const started = sandbox.start();
  const w = {
    org,
    identity,
    sandbox,
    counters: new Counters(),
    /** The tool result of running `code` (with `region` as _meta.AWS_REGION). */
    async call(code, region = 'us-east-1') {
      await started;
      const ctx = { identity, org, seed: org.seed, opts, defaultRegion: region, regionIds: [...REGION_IDS], counters: w.counters, sandbox, now: Date.now() };
      return callTool('aws___run_script', { code }, ctx);
    },
    async envelope(code, region) {
      const result = await w.call(code, region);
      assert.deepEqual(JSON.parse(result.content[0].text), result.structuredContent);
      assert.equal(result.isError === true, result.structuredContent.status === 'error');
      return result.structuredContent;
    },
    async value(code, region) {
      const envelope = await w.envelope(code, region);
      assert.equal(envelope.status, 'success', envelope.error);
      return envelope.return_value;
    },
    async error(code, region) {
      const envelope = await w.envelope(code, region);
      assert.equal(envelope.status, 'error', `expected ${code} to fail`);
      assert.equal(envelope.return_value, null);
      return envelope.error;
    },
  };
  worlds.push(w);
  return w;
}

const plain = world();

/** What CPython itself says compiling `code` as the hosted sandbox does ("compiled" if it can). */
function cpythonCompile(code) {
  const judge = [
    'import ast, sys',
    'try:',
    '    compile(sys.stdin.read(), "<script>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)',
    '    print("compiled")',
    'except SyntaxError as e:',
    '    print(f"{type(e).__name__}: {e}")',
  ].join('\n');
  return execFileSync('/usr/bin/python3', ['-I', '-S', '-c', judge], { input: code }).toString().trim();
}

const WHOAMI = "await call_boto3(service_name='sts', operation_name='GetCallerIdentity')";

test('the value of the final bare expression is the return_value', async () => {
  assert.equal(await plain.value('x = 20\nx + 22'), 42);
  assert.equal(await plain.value('x = 1'), null);
  assert.equal(await plain.value("print('hi')"), null);
  assert.equal(await plain.value('if True:\n    y = 1'), null);
  assert.equal(await plain.value(''), null);
  assert.deepEqual(await plain.value("d = {'a': (1, 2.5, None, True)}\nd"), { a: [1, 2.5, null, true] });
  const envelope = await plain.envelope('6 * 7');
  assert.deepEqual(envelope, { status: 'success', return_value: 42, api_calls: [] }, 'no stdout, stderr or error keys when empty');
});

test('top-level await, of call_boto3 and of asyncio', async () => {
  assert.deepEqual(await plain.value(WHOAMI), { UserId: plain.identity.userId, Account: ACCOUNT, Arn: plain.identity.arn });
  assert.deepEqual(await plain.value("import asyncio\nawait asyncio.sleep(0.01)\nr = await asyncio.gather(*[asyncio.sleep(0, i) for i in range(3)])\nr"), [0, 1, 2]);
  const both = await plain.value(`import asyncio
a, b = await asyncio.gather(
    call_boto3(service_name='sts', operation_name='GetCallerIdentity'),
    call_boto3(service_name='ec2', operation_name='DescribeInstances', region_name='eu-west-1'))
[a['Account'], len(b['Reservations'])]`);
  assert.equal(both[0], ACCOUNT);
});

test('a script ending in `return` fails exactly as CPython fails it', async () => {
  const code = "result = await call_boto3(service_name='sts', operation_name='GetCallerIdentity', region_name='us-east-1', params={})\nreturn result";
  const cpython = cpythonCompile(code);
  assert.equal(cpython, "SyntaxError: 'return' outside function (<script>, line 2)");
  const envelope = await plain.envelope(code);
  assert.equal(envelope.status, 'error');
  assert.equal(envelope.error, cpython);
  assert.equal(envelope.stderr, '  File "<script>", line 2\nSyntaxError: \'return\' outside function\n');
  assert.deepEqual(envelope.api_calls, [], 'nothing ran');
  for (const bad of ['x = (1,\n', 'def f():\n    await g()', 'yield 1', 'break', 'x = 1 +', 'f(**x, *y)', 'nonlocal x', 'async def f():\n    return\nawait f()\nreturn 1']) {
    assert.equal(await plain.error(bad), cpythonCompile(bad), bad);
  }
  assert.equal(cpythonCompile('async for x in y:\n    pass'), 'compiled');
});

test('print goes to the stdout of its own script while many run at once', async () => {
  const runs = Array.from({ length: 40 }, (_, n) => plain.envelope(`import asyncio
for i in range(5):
    print('script ${n} line', i)
    await asyncio.sleep(0.001 * ((i + ${n}) % 3))
${n}`));
  const envelopes = await Promise.all(runs);
  envelopes.forEach((envelope, n) => {
    assert.equal(envelope.return_value, n);
    assert.equal(envelope.stdout, [0, 1, 2, 3, 4].map((i) => `script ${n} line ${i}\n`).join(''));
  });
  const failed = await plain.envelope("print('before')\n1 / 0");
  assert.equal(failed.stdout, 'before\n');
  assert.equal(failed.stderr, 'Traceback (most recent call last):\n  File "<script>", line 2, in <module>\nZeroDivisionError: division by zero\n');
  assert.equal(failed.error, 'ZeroDivisionError: division by zero');
});

test('imports outside the allowed standard modules fail as missing modules; no files, no sockets', async () => {
  for (const name of ['os', 'socket', 'subprocess', 'sys', 'boto3', 'pathlib', 'json.tool']) {
    assert.equal(await plain.error(`import ${name}`), `ModuleNotFoundError: No module named '${name}'`);
  }
  assert.equal(await plain.error("__import__('os')"), "ModuleNotFoundError: No module named 'os'");
  assert.equal(await plain.error('from os import path'), "ModuleNotFoundError: No module named 'os'");
  assert.equal(await plain.error("open('/etc/passwd')"), "NameError: name 'open' is not defined");
  assert.equal(await plain.error('input()'), "NameError: name 'input' is not defined");
  assert.equal(await plain.error("import asyncio\nawait asyncio.open_connection('127.0.0.1', 9)"), 'PermissionError: opsrun-sim sandbox: socket.__new__ is not allowed');
  assert.deepEqual(await plain.value(`import json, re, math, datetime, time, collections, itertools, functools, statistics, decimal, string, base64, hashlib, asyncio, typing
from collections import abc
[json.dumps({'a': 1}), math.floor(2.5), base64.b64encode(b'x').decode(), str(datetime.datetime.strptime('2024-01-02', '%Y-%m-%d').date())]`),
  ['{"a": 1}', 2, 'eA==', '2024-01-02']);
});

test("call_boto3 has exactly the hosted keyword-only signature", async () => {
  const reference = 'async def reference(*, service_name, operation_name, region_name=None, params=None):\n    pass\n';
  const misuses = ["('sts', 'GetCallerIdentity')", '()', "(service_name='sts')", "(service_name='sts', operation_name='GetCallerIdentity', region='x')"];
  for (const args of misuses) {
    const ours = await plain.error(`await call_boto3${args}`);
    const python = await plain.error(`${reference}await reference${args}`);
    assert.equal(ours, python.replaceAll('reference()', 'call_boto3()'), args);
  }
  assert.match(await plain.error("await call_boto3(service_name='sts', operation_name='GetCallerIdentity')\nawait call_boto3('sts', 'GetCallerIdentity')"), /^TypeError: call_boto3\(\) takes 0 positional arguments but 2 were given$/);
});

test('botocore errors: classes, wording and what a script can read from them', async () => {
  const ec2 = (params, extra = '') => `await call_boto3(service_name='ec2', operation_name='DescribeInstances'${extra}, params=${params})`;
  assert.equal(await plain.error(ec2("{'MaxResults': 3}")), 'botocore.exceptions.ClientError: An error occurred (InvalidParameterValue) when calling the DescribeInstances operation: Value ( 3 ) for parameter maxResults is invalid. Expecting a value greater than 5.');
  assert.equal(await plain.error(ec2("{'Filters': [{'Values': 'x'}], 'Max': 1, 'MaxResults': '5', 'InstanceIds': ('i-1', 2)}")), [
    'botocore.exceptions.ParamValidationError: Parameter validation failed:',
    'Unknown parameter in input: "Max", must be one of: InstanceIds, DryRun, Filters, NextToken, MaxResults',
    "Invalid type for parameter Filters[0].Values, value: x, type: <class 'str'>, valid types: <class 'list'>, <class 'tuple'>",
    "Invalid type for parameter MaxResults, value: 5, type: <class 'str'>, valid types: <class 'int'>",
    "Invalid type for parameter InstanceIds[1], value: 2, type: <class 'int'>, valid types: <class 'str'>",
  ].join('\n'));
  assert.equal(await plain.error(ec2('[1]')), "botocore.exceptions.ParamValidationError: Parameter validation failed:\nInvalid type for parameter input, value: [1], type: <class 'list'>, valid types: <class 'dict'>");
  assert.equal(await plain.error("await call_boto3(service_name='s3', operation_name='ListObjectsV2', params={})"), 'botocore.exceptions.ParamValidationError: Parameter validation failed:\nMissing required parameter in input: "Bucket"');
  assert.equal(await plain.error(ec2('{}', ", region_name='mars-1'")), 'botocore.exceptions.EndpointConnectionError: Could not connect to the endpoint URL: "https://ec2.mars-1.amazonaws.com/"');
  assert.equal(await plain.error(ec2('{}', ", region_name='Not A Region'")), "botocore.exceptions.InvalidRegionError: Provided region_name 'Not A Region' doesn't match a supported format.");
  assert.equal(await plain.error("await call_boto3(service_name='ec2', operation_name='describe_instances')"), 'botocore.model.OperationNotFoundError: describe_instances');
  assert.match(await plain.error("await call_boto3(service_name='lambda', operation_name='ListFunctions')"), /^botocore\.exceptions\.UnknownServiceError: Unknown service: 'lambda'\. Valid service names are: ec2, iam, s3, sts$/);
  assert.equal(await plain.error("await call_boto3(service_name='ec2', operation_name='DescribeVpcs')"), 'NotImplementedError: opsrun-sim does not simulate ec2.DescribeVpcs');
  const caught = await plain.value(`try:
    await call_boto3(service_name='ec2', operation_name='DescribeInstances', params={'InstanceIds': ['i-0123456789abcdef0']})
except Exception as e:
    r = [type(e).__module__, type(e).__name__, e.response['Error']['Code'], e.operation_name, str(e)]
r`);
  assert.deepEqual(caught, ['botocore.exceptions', 'ClientError', 'InvalidInstanceID.NotFound', 'DescribeInstances',
    "An error occurred (InvalidInstanceID.NotFound) when calling the DescribeInstances operation: The instance ID 'i-0123456789abcdef0' does not exist"]);
  const failed = await plain.envelope(`a = ${WHOAMI}\nb = ${ec2("{'MaxResults': 1}", ", region_name='eu-west-1'")}`);
  assert.deepEqual(failed.api_calls, [
    { service: 'sts', operation: 'GetCallerIdentity', status: 'success', n_items: {} },
    { service: 'ec2', operation: 'DescribeInstances', status: 'error' },
  ]);
  assert.equal(failed.stderr, 'Traceback (most recent call last):\n  File "<script>", line 2, in <module>\n' + failed.error + '\n');
});

test('timestamps are datetimes in the script and ISO strings in the return_value', async () => {
  const w = world(['--instances-per-region', '2']);
  const launch = "r = await call_boto3(service_name='ec2', operation_name='DescribeInstances')\nt = r['Reservations'][0]['Instances'][0]['LaunchTime']\n";
  const [kind, text, shown] = await w.value(`${launch}[type(t).__name__, str(t), repr(t)]`);
  assert.equal(kind, 'datetime');
  assert.match(text, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+00:00$/);
  assert.match(shown, /^datetime\.datetime\(\d{4}, \d+, \d+, \d+, \d+(, \d+)?, tzinfo=tzutc\(\)\)$/);
  assert.match(await w.value(`${launch}t`), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/);
  assert.equal(await w.error(`import json\n${launch}json.dumps(r)`), 'TypeError: Object of type datetime is not JSON serializable');
  assert.equal(await w.error('{1, 2}'), 'TypeError: Object of type set is not JSON serializable');
  assert.equal(await w.error("b'x'"), 'TypeError: Object of type bytes is not JSON serializable');
  assert.equal(await w.error("float('nan')"), 'ValueError: Out of range float values are not JSON compliant');
});

/** A script that follows every page of an operation and returns the pages' item counts and items. */
function pager(operation, params, { input, output, items, truncated }) {
  return `pages, found, token = [], [], None
while True:
    params = ${params}
    if token:
        params['${input}'] = token
    page = await call_boto3(service_name=${operation}, params=params)
    batch = ${items}
    pages.append(len(batch))
    found += batch
    token = page.get('${output}')
    ${truncated ? `if not page['${truncated}']:\n        assert token is None\n        break` : 'if not token:\n        break'}
{'pages': pages, 'items': found}`;
}

const EC2_PAGER = ["'ec2', operation_name='DescribeInstances'", "{'MaxResults': 5}", { input: 'NextToken', output: 'NextToken', items: "[i['InstanceId'] for r in page['Reservations'] for i in r['Instances']]" }];
const ROLES_PAGER = ["'iam', operation_name='ListRoles'", "{'MaxItems': 2}", { input: 'Marker', output: 'Marker', items: "[r['RoleName'] for r in page['Roles']]", truncated: 'IsTruncated' }];

test('pagination: EC2 DescribeInstances and IAM ListRoles over many pages, and an empty page', async () => {
  const many = world(['--instances-per-region', '23']);
  const ids = ec2Instances(many.org, ACCOUNT, 'us-east-1').map((i) => i.InstanceId);
  assert.deepEqual(await many.value(pager(...EC2_PAGER)), { pages: [5, 5, 5, 5, 3], items: ids });
  const roleNames = iamRoles(many.org, ACCOUNT).map((r) => r.RoleName);
  const rolePages = await many.value(pager(...ROLES_PAGER));
  assert.deepEqual(rolePages.items, roleNames);
  assert.equal(rolePages.pages.length, Math.ceil(roleNames.length / 2));

  const gappy = world(['--instances-per-region', '12', '--empty-page']);
  const gappyIds = ec2Instances(gappy.org, ACCOUNT, 'us-east-1').map((i) => i.InstanceId);
  assert.deepEqual(await gappy.value(pager(...EC2_PAGER)), { pages: [5, 0, 5, 2], items: gappyIds });
  const second = await gappy.value(`first = await call_boto3(service_name='ec2', operation_name='DescribeInstances', params={'MaxResults': 5})
await call_boto3(service_name='ec2', operation_name='DescribeInstances', params={'MaxResults': 5, 'NextToken': first['NextToken']})`);
  assert.deepEqual(second.Reservations, []);
  assert.equal(typeof second.NextToken, 'string');
  const gappyRoles = await gappy.value(pager(...ROLES_PAGER));
  assert.equal(gappyRoles.pages[1], 0);
  assert.deepEqual(gappyRoles.items, iamRoles(gappy.org, ACCOUNT).map((r) => r.RoleName));
  assert.deepEqual(await world(['--instances-per-region', '3', '--empty-page']).value(pager(...EC2_PAGER)), { pages: [3], items: ec2Instances(gappy.org, ACCOUNT, 'us-east-1').slice(0, 3).map((i) => i.InstanceId) }, 'one page: no empty page');
  assert.equal(await plain.error("await call_boto3(service_name='ec2', operation_name='DescribeInstances', params={'MaxResults': 5, 'InstanceIds': ['i-0123456789abcdef0']})"),
    'botocore.exceptions.ClientError: An error occurred (InvalidParameterCombination) when calling the DescribeInstances operation: The parameter instancesSet cannot be used with the parameter maxResults');
});

test('pagination: S3 ListBuckets and ListObjectsV2 (two result keys, delimiter, absent last token)', async () => {
  const w = world(['--objects-per-bucket', '9', '--empty-page']);
  const buckets = s3Buckets(w.org.seed, ACCOUNT, [...REGION_IDS]).Buckets.map((b) => b.Name);
  const listed = await w.value(pager("'s3', operation_name='ListBuckets'", "{'MaxBuckets': 1}", { input: 'ContinuationToken', output: 'ContinuationToken', items: "[b['Name'] for b in page['Buckets']]" }));
  assert.deepEqual(listed.items, buckets);
  const bucket = buckets[0];
  const keys = s3Objects(w.org, bucket).map((o) => o.Key);
  const objects = await w.value(pager("'s3', operation_name='ListObjectsV2'", `{'Bucket': '${bucket}', 'MaxKeys': 4}`,
    { input: 'ContinuationToken', output: 'NextContinuationToken', items: "[o['Key'] for o in page.get('Contents', [])]", truncated: 'IsTruncated' }));
  assert.deepEqual(objects, { pages: [4, 0, 4, 1], items: keys });
  const folders = [...new Set(keys.map((k) => k.split('/')[0] + '/'))].sort();
  const rolled = await w.value(`r = await call_boto3(service_name='s3', operation_name='ListObjectsV2', params={'Bucket': '${bucket}', 'Delimiter': '/'})
[r['IsTruncated'], r['KeyCount'], 'Contents' in r, [p['Prefix'] for p in r['CommonPrefixes']], 'NextContinuationToken' in r]`);
  assert.deepEqual(rolled, [false, folders.length, false, folders, false]);
  assert.equal(await w.error("await call_boto3(service_name='s3', operation_name='ListObjectsV2', params={'Bucket': 'nope-bucket'})"),
    'botocore.exceptions.ClientError: An error occurred (NoSuchBucket) when calling the ListObjectsV2 operation: The specified bucket does not exist');
  const foreign = s3Buckets(w.org.seed, '200000000001', [...REGION_IDS]).Buckets[0].Name;
  assert.equal(await w.error(`await call_boto3(service_name='s3', operation_name='ListObjectsV2', params={'Bucket': '${foreign}'})`),
    'botocore.exceptions.ClientError: An error occurred (AccessDenied) when calling the ListObjectsV2 operation: Access Denied');
});

test('a runaway script hits the time limit; a wedged sandbox is restarted; the simulator keeps serving', async () => {
  const sim = await startSim(['--accounts', '1', '--script-timeout', '2']);
  try {
    const { ready } = sim;
    const creds = await assumeRole(ready, ready.accounts[0]);
    const session = await openSession(ready, creds);
    let id = 0;
    const run = async (code) => (await mcpPost(ready, creds, runScriptCall(code, undefined, ++id), { session })).json.result;
    const limit = 'TimeoutError: the script did not finish within its time limit of 2 s';

    let started = Date.now();
    const [runaway, quick] = await Promise.all([run('n = 0\nwhile True:\n    n += 1'), run('sum(range(10))')]);
    assert.equal(runaway.isError, true);
    assert.equal(runaway.structuredContent.error, limit);
    assert.match(runaway.structuredContent.stderr, /^Traceback \(most recent call last\):\n {2}File "<script>", line [23], in <module>\nTimeoutError/);
    assert.equal(quick.structuredContent.return_value, 45, 'a script beside the runaway still finishes');
    assert.ok(Date.now() - started < 4000);
    assert.equal((await run('import asyncio\nawait asyncio.sleep(30)')).structuredContent.error, limit);

    // A script that swallows every interruption wedges the helper; 2 s past its limit the helper
    // is killed, failing the scripts inside it (one started a second before, not yet overdue).
    started = Date.now();
    const stubborn = 'while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass';
    const wedging = run(stubborn);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const [wedged, bystander] = await Promise.all([wedging, run('1')]);
    assert.equal(wedged.structuredContent.error, limit);
    assert.equal(bystander.structuredContent.error, 'RuntimeError: opsrun-sim restarted its Python sandbox, which another script had wedged, while this script ran');
    assert.ok(Date.now() - started < 7000, 'killed within the limit and its grace');
    assert.match(sim.stderr(), /opsrun-sim: the Python sandbox did not stop a script at its time limit; restarting it \(2 scripts inside\)/);
    assert.equal((await run(WHOAMI)).structuredContent.return_value.Account, ready.accounts[0], 'a fresh sandbox answers');
  } finally {
    await sim.stop();
  }
});
