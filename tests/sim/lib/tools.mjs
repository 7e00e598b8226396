// The hosted AWS MCP Server's tools as the simulator offers them: their tools/list entries and
// what each returns. aws___run_script runs the code in the CPython sandbox (sandbox/sandbox.mjs)
// and answers its call_boto3 calls from boto3.mjs; a script that outlives --working-after-ms
// becomes a task (tasks.mjs) polled with aws___get_tasks; the documentation, skill and region
// tools answer from small built-in tables. Uses @smithy/signature-v4 to presign S3 URLs with
// the caller's own credentials.
import { setTimeout as sleep } from 'node:timers/promises';
import { SignatureV4 } from '@smithy/signature-v4';
import { Boto3Error, callBoto3, itemCounts } from './boto3.mjs';
import { NodeSha256 } from './sigv4.mjs';
import { digest, REGION_IDS, REGIONS } from './util.mjs';

const DOCS = [
  ['https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeInstances.html', 'DescribeInstances - Amazon Elastic Compute Cloud',
    'Describes the specified instances or all instances. Filters such as instance-state-name, instance-type and tag:KEY narrow the result; MaxResults (5-1000) and NextToken paginate it. Instances are grouped into Reservations.'],
  ['https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html', 'AssumeRole - AWS Security Token Service',
    'Returns temporary security credentials (AccessKeyId, SecretAccessKey, SessionToken, Expiration) for a role. RoleSessionName is 2-64 characters of [\\w+=,.@-]; DurationSeconds is 900 to the role\'s MaxSessionDuration, and at most 3600 when role chaining.'],
  ['https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html', 'GetCallerIdentity - AWS Security Token Service',
    'Returns details about the IAM user or role whose credentials are used to call the operation: UserId, Account and Arn. No permissions are required.'],
  ['https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListBuckets.html', 'ListBuckets - Amazon Simple Storage Service',
    'Returns a list of all buckets owned by the authenticated sender of the request, with Name, CreationDate and BucketRegion. MaxBuckets and ContinuationToken paginate the result.'],
  ['https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListRoles.html', 'ListRoles - AWS Identity and Access Management',
    'Lists the IAM roles that have the specified path prefix. MaxItems and Marker paginate; IsTruncated says whether more roles remain.'],
  ['https://docs.aws.amazon.com/aws-mcp/latest/userguide/run-script.html', 'Running scripts - AWS MCP Server',
    'aws___run_script runs Python in a sandbox. Call AWS APIs with await call_boto3(service_name=..., operation_name=..., region_name=..., params={...}); the value of the final expression is the return_value. The result envelope has status, return_value and api_calls, and stdout, stderr and error when there are any. The default region comes from _meta.AWS_REGION.'],
];

const SKILLS = {
  'ec2-inventory': 'List instances per account and region with ec2 DescribeInstances; page with NextToken; read State.Name and the Owner tag.',
  'cross-account-access': 'Assume a role in each workload account with sts AssumeRole from the central account; cache credentials until 5 minutes before Expiration.',
  's3-audit': 'List buckets with s3 ListBuckets; BucketRegion tells where each bucket lives.',
};

function text(value, isError = false) {
  return { content: [{ type: 'text', text: typeof value === 'string' ? value : JSON.stringify(value) }], ...(isError ? { isError: true } : {}) };
}

/** A result whose object is its structuredContent and, as MCP asks, also its JSON text. */
function structured(value, isError = false) {
  return { ...text(value, isError), structuredContent: value };
}

function obj(properties, required = []) {
  return { type: 'object', properties, required, additionalProperties: false };
}

// The hosted tool's published description up to "(list_buckets, get_table);" (quoted by
// glama.ai, see README.md); the rest, on the final expression and the envelope, is ours.
const RUN_SCRIPT_DESCRIPTION = `Execute Python code in sandboxed environment with AWS API access via call_boto3. No network except call_boto3.

async def call_boto3(
    *,
    service_name: str,
    operation_name: str,
    region_name: str | None = None,
    params: dict | None = None,
) -> dict: ...  # the AWS response itself

operation_name MUST be the PascalCase AWS API operation name (e.g. ListBuckets, GetTable). Do not use the snake_case boto3 method name (list_buckets, get_table); the value of the script's final expression is the return_value of the result {status, return_value, api_calls}, which also carries stdout, stderr and error when there are any. region_name defaults to _meta.AWS_REGION.`;

// The hosted tool's published description and input schema (glama.ai, see README.md).
const GET_TASKS_DESCRIPTION = 'Poll status of long-running tasks. Use after a tool call returns task_id with status "working". Up to 3 IDs per call. Tasks expire after 5 min. Pass poll_iteration (start at 1, increment each call) and follow the recommended_wait_seconds in the response before polling again.';

// No tool carries annotations: the hosted listings show none (README.md, Evidence).
export const TOOLS = [
  {
    name: 'aws___run_script',
    description: RUN_SCRIPT_DESCRIPTION,
    inputSchema: obj({ code: { type: 'string', description: 'Python code to execute' } }, ['code']),
  },
  {
    name: 'aws___get_tasks',
    description: GET_TASKS_DESCRIPTION,
    inputSchema: obj({
      task_ids: { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 3, description: 'One or more task IDs (up to 3) from previous tool invocations.' },
      poll_iteration: { type: 'integer', minimum: 1 },
    }, ['task_ids']),
  },
  {
    name: 'aws___get_presigned_url',
    title: 'Presign an AWS request',
    description: 'Returns a presigned URL for an S3 GetObject or PutObject request, signed with the caller\'s credentials.\nparams needs Bucket and Key; expires_in is in seconds (1-604800, default 3600).',
    inputSchema: obj({
      service_name: { type: 'string' },
      operation_name: { type: 'string' },
      params: { type: 'object' },
      region_name: { type: 'string' },
      expires_in: { type: 'integer' },
    }, ['service_name', 'operation_name', 'params']),
  },
  {
    name: 'aws___search_documentation',
    title: 'Search AWS documentation',
    description: 'Searches AWS documentation, API references and skills.\nReturns ranked results with url, title and a short context.',
    inputSchema: obj({ search_phrase: { type: 'string' }, limit: { type: 'integer' } }, ['search_phrase']),
  },
  {
    name: 'aws___read_documentation',
    title: 'Read an AWS documentation page',
    description: 'Fetches an AWS documentation page as markdown.\nLong pages are cut at max_length characters starting from start_index.',
    inputSchema: obj({ url: { type: 'string' }, max_length: { type: 'integer' }, start_index: { type: 'integer' } }, ['url']),
  },
  {
    name: 'aws___retrieve_skill',
    title: 'Retrieve an AWS skill',
    description: 'Returns curated guidance for one AWS domain.\nWithout skill_name, lists the skills available.',
    inputSchema: obj({ skill_name: { type: 'string' } }),
  },
  {
    name: 'aws___list_regions',
    title: 'List AWS regions',
    description: 'Lists all AWS regions with their identifiers and names.',
    inputSchema: obj({}),
  },
  {
    name: 'aws___get_regional_availability',
    title: 'Check regional availability',
    description: 'Says whether products, SDK APIs or CloudFormation resources are available in a region.\nresource_type is product, api or cfn; filters name the items (api items as service+Operation).',
    inputSchema: obj({
      region: { type: 'string' },
      resource_type: { type: 'string', enum: ['product', 'api', 'cfn'] },
      filters: { type: 'array', items: { type: 'string' } },
    }, ['region', 'resource_type']),
  },
];

export const TOOL_NAMES = new Set(TOOLS.map((t) => t.name));

/** Checks arguments against a tool's flat input schema; returns a problem or null. */
export function argumentProblem(tool, args) {
  if (args === null || typeof args !== 'object' || Array.isArray(args)) return 'arguments must be an object';
  const { properties, required } = tool.inputSchema;
  for (const name of required) if (!(name in args)) return `'${name}' is a required property`;
  for (const [name, value] of Object.entries(args)) {
    const schema = properties[name];
    if (!schema) return `Additional properties are not allowed ('${name}' was unexpected)`;
    const ok = {
      string: typeof value === 'string',
      integer: Number.isInteger(value),
      array: Array.isArray(value) && value.every((v) => schema.items?.type !== 'string' || typeof v === 'string'),
      object: value !== null && typeof value === 'object' && !Array.isArray(value),
    }[schema.type];
    if (!ok) return `${JSON.stringify(value)} is not of type '${schema.type}' at '${name}'`;
    if (schema.enum && !schema.enum.includes(value)) return `${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)} at '${name}'`;
    const bound = boundProblem(schema, value);
    if (bound) return `${bound} at '${name}'`;
  }
  return null;
}

/** Checks a value of the right type against its schema's minItems, maxItems and minimum. */
function boundProblem(schema, value) {
  if (schema.minItems !== undefined && value.length < schema.minItems) return `${JSON.stringify(value)} is too short`;
  if (schema.maxItems !== undefined && value.length > schema.maxItems) return `${JSON.stringify(value)} is too long`;
  if (schema.minimum !== undefined && value < schema.minimum) return `${value} is less than the minimum of ${schema.minimum}`;
  return null;
}

function rfc3986(s) {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

async function presignedUrl(args, ctx) {
  const op = args.operation_name.replace(/_/g, '').toLowerCase();
  if (args.service_name !== 's3' || !['getobject', 'putobject'].includes(op)) {
    return text(`opsrun-sim presigns only s3 GetObject and PutObject, not ${args.service_name}.${args.operation_name}`, true);
  }
  const { Bucket, Key } = args.params;
  if (typeof Bucket !== 'string' || typeof Key !== 'string') return text('params needs string Bucket and Key', true);
  const expiresIn = args.expires_in ?? 3600;
  if (expiresIn < 1 || expiresIn > 604800) return text('expires_in must be between 1 and 604800 seconds', true);
  const region = args.region_name ?? ctx.defaultRegion;
  const { identity } = ctx;
  const signer = new SignatureV4({
    credentials: { accessKeyId: identity.accessKeyId, secretAccessKey: identity.secretAccessKey, sessionToken: identity.sessionToken ?? undefined },
    region,
    service: 's3',
    sha256: NodeSha256,
    uriEscapePath: false,
  });
  const hostname = `${Bucket}.s3.${region}.amazonaws.com`;
  const path = '/' + Key.split('/').map(rfc3986).join('/');
  const signed = await signer.presign(
    { method: op === 'getobject' ? 'GET' : 'PUT', protocol: 'https:', hostname, path, headers: { host: hostname }, query: {} },
    { expiresIn, signingDate: new Date(ctx.now) },
  );
  const query = Object.entries(signed.query).map(([k, v]) => `${rfc3986(k)}=${rfc3986(v)}`).join('&');
  return text({ url: `https://${hostname}${path}?${query}`, expires_in: expiresIn, method: signed.method });
}

function searchDocs(args) {
  const words = args.search_phrase.toLowerCase().split(/\W+/).filter(Boolean);
  const scored = DOCS.map(([url, title, body]) => {
    const hay = `${title} ${body}`.toLowerCase();
    return { url, title, context: body.slice(0, 160), score: words.filter((w) => hay.includes(w)).length };
  })
    .filter((d) => d.score > 0)
    .sort((a, b) => b.score - a.score);
  const results = scored.slice(0, args.limit ?? 10).map(({ url, title, context }, i) => ({ rank_order: i + 1, url, title, context }));
  return text(results);
}

function readDocs(args) {
  const doc = DOCS.find(([url]) => url === args.url);
  if (!doc) return text(`Failed to fetch ${args.url} - status code 404`, true);
  const page = `# ${doc[1]}\n\n${doc[2]}\n`;
  const start = args.start_index ?? 0;
  const max = args.max_length ?? 5000;
  const part = page.slice(start, start + max);
  const more = start + max < page.length ? `\n\n<e>Content truncated. Call aws___read_documentation with start_index=${start + max} for more.</e>` : '';
  return text(`AWS Documentation from ${args.url}:\n\n${part}${more}`);
}

function retrieveSkill(args) {
  if (args.skill_name === undefined) return text({ skills: Object.keys(SKILLS) });
  if (!(args.skill_name in SKILLS)) return text(`Unknown skill '${args.skill_name}'. Available: ${Object.keys(SKILLS).join(', ')}`, true);
  return text(`# ${args.skill_name}\n\n${SKILLS[args.skill_name]}\n`);
}

function regionalAvailability(args, ctx) {
  if (!REGION_IDS.has(args.region)) return text(`Unknown region '${args.region}'`, true);
  const core = ['us-east-1', 'us-west-2', 'eu-west-1'].includes(args.region);
  const items = args.filters?.length ? args.filters : ['Amazon EC2', 'Amazon S3', 'AWS IAM', 'AWS STS'];
  const results = items.map((name) => ({
    name,
    status: core || digest(ctx.seed, 'availability', args.resource_type, name, args.region)[0] % 7 ? 'isAvailableIn' : 'isNotAvailableIn',
  }));
  return text({ region: args.region, resource_type: args.resource_type, results });
}

/**
 * Answers one call_boto3 of a script, --boto3-latency-ms after the script made it, and lists it
 * in `apiCalls` as the hosted api_calls do.
 */
async function answerCall(call, ctx, apiCalls) {
  if (ctx.opts.boto3LatencyMs) await sleep(ctx.opts.boto3LatencyMs);
  const { service, operation } = call;
  try {
    const result = callBoto3(call, ctx);
    apiCalls.push({ service, operation, status: 'success', n_items: itemCounts(result) });
    return { result };
  } catch (err) {
    if (!(err instanceof Boto3Error)) throw err;
    apiCalls.push({ service, operation, status: 'error' });
    return { error: err.toWire() };
  }
}

/**
 * The result envelope: status, return_value and api_calls always; output and error if any. The
 * calls are copied: one still being answered when a script times out does not change it later.
 */
function envelopeOf(outcome, apiCalls) {
  const envelope = { status: outcome.status, return_value: outcome.return_value, api_calls: [...apiCalls] };
  if (outcome.stdout) envelope.stdout = outcome.stdout;
  if (outcome.stderr) envelope.stderr = outcome.stderr;
  if (outcome.status === 'error') envelope.error = outcome.error;
  return envelope;
}

function envelopeResult(envelope) {
  return structured(envelope, envelope.status === 'error');
}

const STILL_RUNNING = Symbol('still running');

/** What `run` resolves to, or STILL_RUNNING if it has not after `ms` (null: wait for it). */
async function settledWithin(run, ms) {
  if (ms === null) return run;
  const timer = new AbortController();
  try {
    return await Promise.race([run, sleep(ms, STILL_RUNNING, { signal: timer.signal })]);
  } finally {
    timer.abort();
  }
}

/**
 * The seconds a client should wait before its next poll, after the answer to poll `iteration`
 * (0: the "working" answer itself). Our assumption: one second, one more for every poll, up to 5.
 */
function recommendedWait(iteration) {
  return Math.min(Math.max(iteration, 1), 5);
}

async function runScriptTool(args, ctx) {
  const apiCalls = [];
  const run = ctx.sandbox.run(args.code, (call) => answerCall(call, ctx, apiCalls)).then((outcome) => envelopeOf(outcome, apiCalls));
  const envelope = await settledWithin(run, ctx.opts.workingAfterMs);
  if (envelope !== STILL_RUNNING) return envelopeResult(envelope);
  const taskId = ctx.tasks.start(ctx.identity.userId, run);
  ctx.counters.taskStarted(ctx.identity.account);
  return structured({
    task_id: taskId,
    status: 'working',
    recommended_wait_seconds: recommendedWait(0),
    message: 'The script is still running. Poll aws___get_tasks with this task_id for its result.',
  });
}

/** One task's entry in an aws___get_tasks answer. */
function taskEntry(id, task) {
  if (!task) return { task_id: id, status: 'not_found', message: `Task ${id} was not found or has expired.` };
  if (!task.envelope) return { task_id: id, status: 'working' };
  return { task_id: id, status: task.envelope.status === 'error' ? 'failed' : 'completed', result: task.envelope };
}

function getTasks(args, ctx) {
  ctx.counters.taskPoll(ctx.identity.account);
  const tasks = args.task_ids.map((id) => taskEntry(id, ctx.tasks.find(ctx.identity.userId, id)));
  const answer = { tasks };
  if (tasks.some((t) => t.status === 'working')) answer.recommended_wait_seconds = recommendedWait(args.poll_iteration ?? 1);
  return structured(answer);
}

const HANDLERS = {
  aws___run_script: runScriptTool,
  aws___get_tasks: getTasks,
  aws___get_presigned_url: presignedUrl,
  aws___search_documentation: searchDocs,
  aws___read_documentation: readDocs,
  aws___retrieve_skill: retrieveSkill,
  aws___list_regions: () => text({ regions: REGIONS.map(([region_id, region_long_name]) => ({ region_id, region_long_name })) }),
  aws___get_regional_availability: regionalAvailability,
};

/**
 * Runs one tool. `ctx`: { identity, defaultRegion (_meta.AWS_REGION or --region), tasks
 * (tasks.mjs), sandbox (sandbox/sandbox.mjs), org, seed, opts, now, counters, regionIds }.
 * Returns a CallToolResult.
 */
export async function callTool(name, args, ctx) {
  const tool = TOOLS.find((t) => t.name === name);
  const problem = argumentProblem(tool, args);
  if (problem) return text(`Input validation error: ${problem}`, true);
  return HANDLERS[name](args, ctx);
}
