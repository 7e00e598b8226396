// Unit tests of aws___run_script's interpreter: Python literals exactly as Python reads them,
// the canonical opsrun shape, Python-like errors, and the simulated boto3 calls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runScript } from '../lib/script.mjs';
import { callBoto3 } from '../lib/boto3.mjs';
import { CredentialStore, Organisation } from '../lib/identity.mjs';
import { parseOptions } from '../lib/options.mjs';
import { Counters } from '../lib/counters.mjs';
import { ec2Instances } from '../lib/inventory.mjs';
import { REGION_IDS } from '../lib/util.mjs';

const org = new Organisation(parseOptions(['--accounts', '5']));
const creds = new CredentialStore(org);
const ACCOUNT = '200000000003';
const identity = creds.issueRoleSession({ account: ACCOUNT, roleName: 'CentralOpsTargetRole', roleId: org.roleId(ACCOUNT, 'CentralOpsTargetRole'), sessionName: 'unit', expiration: Date.now() + 3600e3 });
const ctx = { identity, org, seed: org.seed, defaultRegion: 'us-east-1', regionIds: [...REGION_IDS], counters: new Counters() };
const host = { callBoto3: (args, line, calls) => callBoto3(args, ctx, calls) };
const run = (code) => runScript(code, host);

function value(code) {
  const envelope = run(code);
  assert.equal(envelope.status, 'success', envelope.error);
  return envelope.return_value;
}

function error(code) {
  const envelope = run(code);
  assert.equal(envelope.status, 'error', `expected an error from ${code}`);
  assert.equal(envelope.return_value, null);
  return envelope.error;
}

test('string literals decode every Python escape', () => {
  const cases = [
    [String.raw`return 'a\\b'`, 'a\\b'],
    [String.raw`return 'it\'s'`, "it's"],
    [String.raw`return "say \"hi\""`, 'say "hi"'],
    [String.raw`return '\n\t\r'`, '\n\t\r'],
    [String.raw`return '\x41\x7e\xff'`, 'A~\u00ff'],
    [String.raw`return '\u00e9\u20ac'`, 'é€'],
    [String.raw`return '\U0001F600'`, '😀'],
    [String.raw`return '\101\0\7'`, 'A\u0000\u0007'],
    [String.raw`return '\a\b\f\v'`, '\u0007\b\f\v'],
    [String.raw`return '\d\w'`, '\\d\\w'],
    [String.raw`return r'\n\'' 'x'`, "\\n\\'x"],
    [String.raw`return R"C:\dir"`, 'C:\\dir'],
    [String.raw`return u'plain'`, 'plain'],
    ["return '''one\ntwo'''", 'one\ntwo'],
    ['return """say "x" """', 'say "x" '],
    ["return 'a' \"b\" 'c'", 'abc'],
    ["return 'con\\\ntinued'", 'continued'],
    ["return ''", ''],
    ["return 'ünïcödé ✓'", 'ünïcödé ✓'],
  ];
  for (const [code, want] of cases) assert.equal(value(code), want, code);
});

test('numbers, constants and containers', () => {
  assert.deepEqual(value('return [1, -2, +3, 1_000, 0x1F, 0o17, 0b101, 0, 00]'), [1, -2, 3, 1000, 31, 15, 5, 0, 0]);
  assert.deepEqual(value('return [1.5, .5, 5., 1e3, 1E-2, -2.5e+2, 1_0.0_1]'), [1.5, 0.5, 5, 1000, 0.01, -250, 10.01]);
  assert.deepEqual(value('return [None, True, False]'), [null, true, false]);
  assert.deepEqual(value('return (1,)'), [1]);
  assert.deepEqual(value('return ()'), []);
  assert.deepEqual(value('return (1, 2, )'), [1, 2]);
  assert.equal(value('return (5)'), 5);
  assert.deepEqual(value("return {'a': [1, {'b': (None,)}], 'c': {}, }"), { a: [1, { b: [null] }], c: {} });
  assert.deepEqual(value("return {1: 'x', True: 'y', None: 'z'}"), { 1: 'y', null: 'z' }, '1 and True are one key, as in Python');
  assert.deepEqual(value("x = {'k': 1, 'k': 2}\nreturn x"), { k: 2 });
  assert.deepEqual(value('return 1, 2'), [1, 2]);
  assert.equal(value('return 123456789012345678'), 123456789012345680);
});

test('layout: comments, blank lines, brackets across lines, semicolons, backslashes', () => {
  const code = [
    '# list the running instances',
    'import json',
    '',
    'params = {',
    "    'Filters': [  # a comment inside brackets",
    "        {'Name': 'instance-state-name', 'Values': ['running']},",
    '    ],',
    '}',
    'a = 1; b = 2',
    'c = \\',
    '    3',
    'return [params, a, b, c]',
  ].join('\n');
  assert.deepEqual(value(code), [{ Filters: [{ Name: 'instance-state-name', Values: ['running'] }] }, 1, 2, 3]);
  assert.equal(value('pass\nreturn'), null);
  assert.equal(value('x = 1'), null, 'no return gives None');
  assert.equal(value('x = 1\r\nreturn x\r\n'), 1);
});

test('the canonical opsrun shape runs call_boto3 as the signing identity', () => {
  const code = "result = await call_boto3(service_name='ec2', operation_name='DescribeInstances', region_name='us-east-1', params={'Filters': [{'Name': 'instance-state-name', 'Values': ['running', 'stopped', 'pending']}]})\nreturn result";
  const envelope = run(code);
  assert.equal(envelope.status, 'success');
  const ids = envelope.return_value.Reservations.flatMap((r) => r.Instances.map((i) => i.InstanceId));
  assert.deepEqual(ids, ec2Instances(org.seed, ACCOUNT, 'us-east-1').map((i) => i.InstanceId));
  assert.ok(ids.every((id) => /^i-[0-9a-f]{17}$/.test(id)));
  assert.deepEqual(envelope.api_calls, [{ service: 'ec2', operation: 'DescribeInstances', region: 'us-east-1' }]);
  assert.deepEqual(Object.keys(envelope), ['status', 'return_value', 'api_calls', 'stdout', 'stderr', 'error']);
  const who = value("return await call_boto3(service_name='sts', operation_name='GetCallerIdentity', region_name='eu-west-1', params={})");
  assert.deepEqual(who, { UserId: identity.userId, Account: ACCOUNT, Arn: identity.arn });
  assert.equal(value("r = await call_boto3('ec2', 'describe_instances')\nreturn len(r['Reservations'])"), value("r = await call_boto3('ec2', 'DescribeInstances')\nreturn len(r['Reservations'])"));
});

test('boto3 validation, filters and pagination', () => {
  const instances = ec2Instances(org.seed, ACCOUNT, 'us-east-1');
  const first = value("return await call_boto3('ec2', 'DescribeInstances', params={'MaxResults': 5})");
  assert.equal(first.NextToken, undefined);
  const owners = value("return await call_boto3('ec2', 'DescribeInstances', params={'Filters': [{'Name': 'tag-key', 'Values': ['Own*']}]})");
  const withOwner = instances.filter((i) => i.Tags?.some((t) => t.Key === 'Owner')).length;
  assert.equal(owners.Reservations.flatMap((r) => r.Instances).length, withOwner);
  assert.match(error("await call_boto3('ec2', 'DescribeInstances', params={'MaxResults': 3})"), /^botocore\.exceptions\.ClientError: An error occurred \(InvalidParameterValue\) when calling the DescribeInstances operation: Value \( 3 \) for parameter maxResults is invalid/);
  assert.equal(error("await call_boto3('ec2', 'DescribeInstances', params={'Filters': [{'Name': 'bogus', 'Values': []}]})"), "botocore.exceptions.ClientError: An error occurred (InvalidParameterValue) when calling the DescribeInstances operation: The filter 'bogus' is invalid");
  assert.equal(error("await call_boto3('ec2', 'DescribeInstances', params={'InstanceIds': ['i-0123456789abcdef0']})"), "botocore.exceptions.ClientError: An error occurred (InvalidInstanceID.NotFound) when calling the DescribeInstances operation: The instance ID 'i-0123456789abcdef0' does not exist");
  assert.equal(error("await call_boto3('ec2', 'DescribeInstances', params={'Filters': [{'Values': 'x'}], 'Max': 1})"),
    'botocore.exceptions.ParamValidationError: Parameter validation failed:\nInvalid type for parameter Filters[0].Values, value: \'x\', type: <class \'str\'>, valid types: <class \'list\'>, <class \'tuple\'>\nUnknown parameter in input: "Max", must be one of: InstanceIds, DryRun, Filters, NextToken, MaxResults');
  const roles = value("r = await call_boto3('iam', 'ListRoles', params={'MaxItems': 2})\nreturn r");
  assert.equal(roles.Roles.length, 2);
  assert.equal(roles.IsTruncated, true);
  const rest = value(`return await call_boto3('iam', 'ListRoles', params={'Marker': '${roles.Marker}'})`);
  assert.ok([...roles.Roles, ...rest.Roles].some((r) => r.RoleName === 'CentralOpsTargetRole'));
  const buckets = value("return await call_boto3('s3', 'ListBuckets')");
  assert.ok(buckets.Buckets.length >= 1 && buckets.Buckets.every((b) => b.Name.includes(ACCOUNT)));
  assert.match(error("await call_boto3('lambda', 'ListFunctions')"), /^botocore\.exceptions\.UnknownServiceError: Unknown service: 'lambda'/);
  assert.equal(error("await call_boto3('ec2', 'DescribeVpcs')"), 'NotImplementedError: opsrun-sim does not simulate ec2.DescribeVpcs');
  assert.equal(error("await call_boto3('ec2', 'DescribeInstances', region_name='mars-1')"), 'botocore.exceptions.EndpointConnectionError: Could not connect to the endpoint URL: "https://ec2.mars-1.amazonaws.com/"');
});

test('print, json.dumps and datetimes behave as in Python', () => {
  const envelope = run("x = {'a': 'it\\'s', 'b': (1, 2.0, None, True), 'c': 1e20, 'd': 1e-7}\nprint(x)\nprint(json.dumps(x))\nprint(json.dumps([1, 'é'], indent=2), 'end', sep='|')");
  assert.equal(envelope.stdout, [
    `{'a': "it's", 'b': (1, 2.0, None, True), 'c': 1e+20, 'd': 1e-07}`,
    '{"a": "it\'s", "b": [1, 2.0, null, true], "c": 1e+20, "d": 1e-07}',
    '[\n  1,\n  "\\u00e9"\n]|end',
    '',
  ].join('\n'));
  const launch = value("r = await call_boto3('ec2', 'DescribeInstances')\nreturn r['Reservations'][0]['Instances'][0]['LaunchTime']");
  assert.match(launch, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/);
  assert.equal(error("r = await call_boto3('ec2', 'DescribeInstances')\nreturn json.dumps(r)"), 'TypeError: Object of type datetime is not JSON serializable');
  assert.match(value("r = await call_boto3('ec2', 'DescribeInstances')\nreturn json.dumps(r, default=str)"), /"LaunchTime": "\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+00:00"/);
  assert.equal(value("r = await call_boto3('ec2', 'DescribeInstances')\nreturn r.get('Nope', 'dflt')"), 'dflt');
});

test('Python-like errors for what the simulator cannot run', () => {
  const cases = [
    ["x = 'open", 'SyntaxError: unterminated string literal (detected at line 1) (<string>, line 1)'],
    ["x = '''open", 'SyntaxError: unterminated triple-quoted string literal (detected at line 1) (<string>, line 1)'],
    ["return '\\x4'", "SyntaxError: (unicode error) 'unicodeescape' codec can't decode bytes in position 0-2: truncated \\xXX escape (<string>, line 1)"],
    ["return '\\U00110000'", "SyntaxError: (unicode error) 'unicodeescape' codec can't decode bytes in position 0-9: illegal Unicode character (<string>, line 1)"],
    ['x = [1, 2\nreturn x', "SyntaxError: '[' was never closed (<string>, line 1)"],
    ['x = (1]', "SyntaxError: closing parenthesis ']' does not match opening parenthesis '(' (<string>, line 1)"],
    ['return 01', 'SyntaxError: leading zeros in decimal integer literals are not permitted; use an 0o prefix for octal integers (<string>, line 1)'],
    ['return 1 2', 'SyntaxError: invalid syntax. Perhaps you forgot a comma? (<string>, line 1)'],
    ['return $', "SyntaxError: invalid character '$' (U+0024) (<string>, line 1)"],
    ["call_boto3(service_name='a', 'b')", 'SyntaxError: positional argument follows keyword argument (<string>, line 1)'],
    ["call_boto3(service_name='a', service_name='b')", 'SyntaxError: keyword argument repeated: service_name (<string>, line 1)'],
    ['  x = 1', 'IndentationError: unexpected indent (<string>, line 1)'],
    ['return 1 + 1', "NotImplementedError: opsrun-sim cannot run the operator '+' (line 1)"],
    ['for i in x:\n    pass', "NotImplementedError: opsrun-sim cannot run 'for' statements (line 1)"],
    ['import os', "NotImplementedError: opsrun-sim cannot run 'import os' (only json is available) (line 1)"],
    ["return f'{x}'", 'NotImplementedError: f-strings are not supported by opsrun-sim (line 1)'],
    ["return b'x'", 'NotImplementedError: bytes literals are not supported by opsrun-sim (line 1)'],
    ['return x', "NameError: name 'x' is not defined"],
    ["return {'a': 1}['b']", "KeyError: 'b'"],
    ['return [1][3]', 'IndexError: list index out of range'],
    ["return [1]['a']", 'TypeError: list indices must be integers or slices, not str'],
    ['return {[1]: 2}', "TypeError: unhashable type: 'list'"],
    ['return {1, 2}', 'TypeError: Object of type set is not JSON serializable'],
    ["return await {'a': 1}", "TypeError: object dict can't be used in 'await' expression"],
    ["r = call_boto3('sts', 'GetCallerIdentity')\nreturn r", 'TypeError: Object of type coroutine is not JSON serializable'],
    ["await call_boto3('sts')", "TypeError: call_boto3() missing 1 required positional argument: 'operation_name'"],
    ['await call_boto3()', "TypeError: call_boto3() missing 2 required positional arguments: 'service_name' and 'operation_name'"],
    ["await call_boto3('sts', 'GetCallerIdentity', foo=1)", "TypeError: call_boto3() got an unexpected keyword argument 'foo'"],
    ["await call_boto3('sts', 'GetCallerIdentity', 'us-east-1', {}, 5)", 'TypeError: call_boto3() takes from 2 to 4 positional arguments but 5 were given'],
    ["await call_boto3('sts', 'GetCallerIdentity', params=[1])", 'TypeError: params must be a dict, not list'],
    ['return -"x"', "TypeError: bad operand type for unary -: 'str'"],
    ['return json.nope', "AttributeError: module 'json' has no attribute 'nope'"],
    ['', 'ValueError: code must be a non-empty string'],
  ];
  for (const [code, want] of cases) assert.equal(error(code), want, code);
  const envelope = run('x = 1\n\nreturn y');
  assert.equal(envelope.stderr, 'Traceback (most recent call last):\n  File "<string>", line 3, in <module>\nNameError: name \'y\' is not defined\n');
  const deep = run('return ' + '['.repeat(150) + ']'.repeat(150));
  assert.equal(deep.status, 'error');
});

test('api_calls keep the calls made before a failure', () => {
  const envelope = run("a = await call_boto3('sts', 'GetCallerIdentity')\nb = await call_boto3('ec2', 'DescribeInstances', region_name='eu-west-1', params={'MaxResults': 1})");
  assert.equal(envelope.status, 'error');
  assert.deepEqual(envelope.api_calls, [
    { service: 'sts', operation: 'GetCallerIdentity', region: 'us-east-1' },
    { service: 'ec2', operation: 'DescribeInstances', region: 'eu-west-1' },
  ]);
});
