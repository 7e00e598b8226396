// The AWS calls a script can make through call_boto3: EC2 DescribeInstances and DescribeRegions,
// STS GetCallerIdentity, S3 ListBuckets and ListObjectsV2, IAM ListRoles, answered as the signing
// identity from inventory.mjs and regions.mjs with botocore's error classes and wording; a call
// in a Region the identity's account has not enabled is refused as that service refuses it. The Python sandbox checks
// parameters against SHAPES (botocore's messages need Python's own types and str()), so calls
// arrive here as plain JSON values with botocore's validation report.
import { ec2Instances, iamRoles, reservationsOf, s3Buckets, s3Objects } from './inventory.mjs';
import { notEnabledRefusal, regionsOf } from './regions.mjs';
import { REGION_IDS } from './util.mjs';

const S = { type: 'string' };
const I = { type: 'integer' };
const B = { type: 'boolean' };
const list = (member) => ({ type: 'list', member });
const struct = (members, required = []) => ({ type: 'structure', members, required });

/** A failure the script sees as a Python exception: `type` names it (see sandbox.py). */
export class Boto3Error extends Error {
  constructor(type, message, fields = {}) {
    super(message);
    this.type = type;
    this.fields = fields;
  }

  toWire() {
    return { type: this.type, message: this.message, ...this.fields };
  }
}

function clientError(code, message, operation) {
  return new Boto3Error('ClientError', message, { code, operation });
}

const TOKEN_PREFIX = 'opsrun-sim:';

function pageToken(offset, emptyNext = false) {
  return Buffer.from(`${TOKEN_PREFIX}${offset}${emptyNext ? ':empty' : ''}`).toString('base64');
}

function parseToken(token, onBad) {
  if (token === undefined) return { offset: 0, empty: false };
  const m = /^opsrun-sim:(\d+)(:empty)?$/.exec(Buffer.from(String(token), 'base64').toString());
  if (!m) throw onBad();
  return { offset: Number(m[1]), empty: m[2] !== undefined };
}

/**
 * One page of `items`: `size` of them from where `token` (from an earlier page) points, and the
 * token of the next page if there is one. With --empty-page, a result of two or more pages
 * answers an empty page (no items, a next token) right after its first page.
 */
function pageOf(items, token, size, ctx, onBadToken) {
  const { offset, empty } = parseToken(token, onBadToken);
  if (empty) return { items: [], next: pageToken(offset) };
  const end = offset + size;
  if (end >= items.length) return { items: items.slice(offset) };
  return { items: items.slice(offset, end), next: pageToken(end, ctx.opts.emptyPage && offset === 0) };
}

function globMatch(pattern, text) {
  const re = new RegExp('^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$', 's');
  return re.test(text);
}

const INSTANCE_FILTERS = {
  'instance-state-name': (i) => [i.State.Name],
  'instance-type': (i) => [i.InstanceType],
  'instance-id': (i) => [i.InstanceId],
  'image-id': (i) => [i.ImageId],
  'availability-zone': (i) => [i.Placement.AvailabilityZone],
  'vpc-id': (i) => [i.VpcId],
  'subnet-id': (i) => [i.SubnetId],
  'private-ip-address': (i) => [i.PrivateIpAddress],
  architecture: (i) => [i.Architecture],
  'tag-key': (i) => (i.Tags ?? []).map((t) => t.Key),
};

function instanceFilter(name) {
  if (Object.hasOwn(INSTANCE_FILTERS, name)) return INSTANCE_FILTERS[name];
  if (name.startsWith('tag:')) {
    const key = name.slice(4);
    return (i) => (i.Tags ?? []).filter((t) => t.Key === key).map((t) => t.Value);
  }
  return null;
}

const REGION_FILTERS = {
  endpoint: (r) => [r.Endpoint],
  'opt-in-status': (r) => [r.OptInStatus],
  'region-name': (r) => [r.RegionName],
};

function regionFilter(name) {
  return Object.hasOwn(REGION_FILTERS, name) ? REGION_FILTERS[name] : null;
}

/**
 * The items that pass every filter, as EC2 filters: filters AND, a filter's values OR, `*` and
 * `?` wildcards. `valuesOf(name)` gives a filter's values of an item, null for an unknown name.
 */
function filtered(items, filters, valuesOf, op) {
  for (const f of filters ?? []) {
    const values = valuesOf(f.Name);
    if (!values) throw clientError('InvalidParameterValue', `The filter '${f.Name}' is invalid`, op);
    items = items.filter((i) => values(i).some((v) => (f.Values ?? []).some((pat) => globMatch(pat, v))));
  }
  return items;
}

function dryRun(p, op) {
  if (p.DryRun) throw clientError('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.', op);
}

function describeInstances(ctx, p) {
  const op = 'DescribeInstances';
  dryRun(p, op);
  if (p.MaxResults !== undefined && p.InstanceIds?.length) {
    throw clientError('InvalidParameterCombination', 'The parameter instancesSet cannot be used with the parameter maxResults', op);
  }
  if (p.MaxResults !== undefined && (p.MaxResults < 5 || p.MaxResults > 1000)) {
    throw clientError('InvalidParameterValue', `Value ( ${p.MaxResults} ) for parameter maxResults is invalid. Expecting a value greater than 5.`, op);
  }
  const all = ec2Instances(ctx.org, ctx.account, ctx.region);
  let instances = all;
  if (p.InstanceIds?.length) {
    for (const id of p.InstanceIds) {
      if (!/^i-[0-9a-f]{8}(?:[0-9a-f]{9})?$/.test(id)) throw clientError('InvalidInstanceID.Malformed', `Invalid id: "${id}"`, op);
    }
    const known = new Set(instances.map((i) => i.InstanceId));
    const missing = p.InstanceIds.filter((id) => !known.has(id));
    if (missing.length === 1) throw clientError('InvalidInstanceID.NotFound', `The instance ID '${missing[0]}' does not exist`, op);
    if (missing.length > 1) throw clientError('InvalidInstanceID.NotFound', `The instance IDs '${missing.join(', ')}' do not exist`, op);
    const wanted = new Set(p.InstanceIds);
    instances = instances.filter((i) => wanted.has(i.InstanceId));
  }
  instances = filtered(instances, p.Filters, instanceFilter, op);
  // Without MaxResults EC2 answers everything at once.
  const page = pageOf(instances, p.NextToken, p.MaxResults ?? Infinity, ctx, () => clientError('InvalidParameterValue', 'Unable to parse pagination token', op));
  const onPage = new Set(page.items.map((i) => i.InstanceId));
  const reservations = reservationsOf(ctx.seed, ctx.account, ctx.region, all)
    .map((r) => ({ ...r, Instances: r.Instances.filter((i) => onPage.has(i.InstanceId)) }))
    .filter((r) => r.Instances.length);
  return { Reservations: reservations, ...(page.next ? { NextToken: page.next } : {}) };
}

/** The Regions enabled for the account; with AllRegions every Region; with RegionNames those,
 * enabled or not. Each with its OptInStatus. */
function describeRegions(ctx, p) {
  const op = 'DescribeRegions';
  dryRun(p, op);
  let regions = regionsOf(ctx.opts, ctx.account);
  if (p.RegionNames?.length) {
    const known = new Set(regions.map((r) => r.RegionName));
    const unknown = p.RegionNames.filter((name) => !known.has(name));
    if (unknown.length) throw clientError('InvalidParameterValue', `Invalid region: [${unknown.join(', ')}]`, op);
    const wanted = new Set(p.RegionNames);
    regions = regions.filter((r) => wanted.has(r.RegionName));
  } else if (!p.AllRegions) {
    regions = regions.filter((r) => r.OptInStatus !== 'not-opted-in');
  }
  return { Regions: filtered(regions, p.Filters, regionFilter, op) };
}

function listBuckets(ctx, p) {
  const op = 'ListBuckets';
  let { Buckets: buckets, Owner } = s3Buckets(ctx.seed, ctx.account, ctx.regionIds);
  if (p.Prefix !== undefined) buckets = buckets.filter((b) => b.Name.startsWith(p.Prefix));
  if (p.BucketRegion !== undefined) buckets = buckets.filter((b) => b.BucketRegion === p.BucketRegion);
  if (p.MaxBuckets !== undefined && (p.MaxBuckets < 1 || p.MaxBuckets > 10000)) {
    throw clientError('InvalidArgument', 'Argument max-buckets must be an integer between 1 and 10000.', op);
  }
  const page = pageOf(buckets, p.ContinuationToken, p.MaxBuckets ?? 10000, ctx, () => clientError('InvalidArgument', 'The continuation token provided is incorrect', op));
  const out = { Buckets: page.items, Owner };
  if (p.Prefix !== undefined) out.Prefix = p.Prefix;
  if (page.next) out.ContinuationToken = page.next;
  return out;
}

/** The bucket named `name` in the caller's account, or the S3 error for a bucket it cannot list. */
function ownBucket(ctx, name, op) {
  if (s3Buckets(ctx.seed, ctx.account, ctx.regionIds).Buckets.some((b) => b.Name === name)) return name;
  const owner = /-(\d{12})-[0-9a-f]{6}$/.exec(name)?.[1];
  if (owner && ctx.org.isKnownAccount(owner) && s3Buckets(ctx.seed, owner, ctx.regionIds).Buckets.some((b) => b.Name === name)) {
    throw clientError('AccessDenied', 'Access Denied', op);
  }
  throw clientError('NoSuchBucket', 'The specified bucket does not exist', op);
}

/** Keys and, with a delimiter, the common prefixes that roll keys up, in listing order. */
function listingEntries(objects, prefix, delimiter, startAfter) {
  const entries = [];
  const rolledUp = new Set();
  for (const object of objects) {
    if (!object.Key.startsWith(prefix) || (startAfter !== undefined && object.Key <= startAfter)) continue;
    const cut = delimiter ? object.Key.indexOf(delimiter, prefix.length) : -1;
    if (cut < 0) {
      entries.push({ object });
    } else {
      const common = object.Key.slice(0, cut + delimiter.length);
      if (!rolledUp.has(common)) entries.push({ common });
      rolledUp.add(common);
    }
  }
  return entries;
}

function listObjectsV2(ctx, p) {
  const op = 'ListObjectsV2';
  const bucket = ownBucket(ctx, p.Bucket, op);
  if (p.MaxKeys !== undefined && p.MaxKeys < 0) {
    throw clientError('InvalidArgument', 'Argument maxKeys must be an integer between 0 and 2147483647', op);
  }
  const maxKeys = Math.min(p.MaxKeys ?? 1000, 1000);
  const prefix = p.Prefix ?? '';
  const entries = listingEntries(s3Objects(ctx.org, bucket), prefix, p.Delimiter, p.StartAfter);
  const page = maxKeys === 0 ? { items: [] } : pageOf(entries, p.ContinuationToken, maxKeys, ctx, () => clientError('InvalidArgument', 'The continuation token provided is incorrect', op));
  const contents = page.items.filter((e) => e.object).map((e) => e.object);
  const common = page.items.filter((e) => e.common).map((e) => ({ Prefix: e.common }));
  // S3 leaves out empty lists and echoes the request's optional parameters.
  return {
    IsTruncated: page.next !== undefined,
    ...(contents.length ? { Contents: contents } : {}),
    Name: bucket,
    Prefix: prefix,
    ...(p.Delimiter !== undefined ? { Delimiter: p.Delimiter } : {}),
    MaxKeys: maxKeys,
    ...(common.length ? { CommonPrefixes: common } : {}),
    KeyCount: page.items.length,
    ...(p.ContinuationToken !== undefined ? { ContinuationToken: p.ContinuationToken } : {}),
    ...(page.next ? { NextContinuationToken: page.next } : {}),
    ...(p.StartAfter !== undefined ? { StartAfter: p.StartAfter } : {}),
  };
}

function listRoles(ctx, p) {
  const op = 'ListRoles';
  let roles = iamRoles(ctx.org, ctx.account);
  if (p.PathPrefix !== undefined) roles = roles.filter((r) => r.Path.startsWith(p.PathPrefix));
  if (p.MaxItems !== undefined && (p.MaxItems < 1 || p.MaxItems > 1000)) {
    throw clientError('ValidationError', `1 validation error detected: Value '${p.MaxItems}' at 'maxItems' failed to satisfy constraint: Member must have value ${p.MaxItems < 1 ? 'greater than or equal to 1' : 'less than or equal to 1000'}`, op);
  }
  const page = pageOf(roles, p.Marker, p.MaxItems ?? 100, ctx, () => clientError('ValidationError', 'Invalid Marker.', op));
  return { Roles: page.items, IsTruncated: page.next !== undefined, ...(page.next ? { Marker: page.next } : {}) };
}

function getCallerIdentity(ctx) {
  return { UserId: ctx.identity.userId, Account: ctx.identity.account, Arn: ctx.identity.arn };
}

const OPERATIONS = {
  ec2: {
    DescribeInstances: {
      shape: struct({ InstanceIds: list(S), DryRun: B, Filters: list(struct({ Name: S, Values: list(S) })), NextToken: S, MaxResults: I }),
      run: describeInstances,
    },
    DescribeRegions: {
      shape: struct({ Filters: list(struct({ Name: S, Values: list(S) })), RegionNames: list(S), DryRun: B, AllRegions: B }),
      run: describeRegions,
    },
  },
  sts: { GetCallerIdentity: { shape: struct({}), run: getCallerIdentity } },
  s3: {
    ListBuckets: { shape: struct({ MaxBuckets: I, ContinuationToken: S, Prefix: S, BucketRegion: S }), run: listBuckets },
    ListObjectsV2: {
      shape: struct({
        Bucket: S, Delimiter: S, EncodingType: S, MaxKeys: I, Prefix: S, ContinuationToken: S, FetchOwner: B, StartAfter: S,
        RequestPayer: S, ExpectedBucketOwner: S, OptionalObjectAttributes: list(S),
      }, ['Bucket']),
      run: listObjectsV2,
    },
  },
  iam: { ListRoles: { shape: struct({ PathPrefix: S, Marker: S, MaxItems: I }), run: listRoles, global: true } },
};

/** The input shapes of the simulated operations, {service: {operation: shape}}, for the sandbox. */
export const SHAPES = Object.fromEntries(
  Object.entries(OPERATIONS).map(([service, ops]) => [service, Object.fromEntries(Object.entries(ops).map(([op, spec]) => [op, spec.shape]))]),
);

function endpointHost(service, region) {
  return service === 'iam' ? 'iam.amazonaws.com' : `${service}.${region}.amazonaws.com`;
}

/**
 * One call_boto3 call from the sandbox: {service, operation, region (null: the default), params
 * (null unless valid), report (botocore's validation lines)}. `ctx`: {identity, org, seed, opts,
 * defaultRegion, regionIds, counters}. Returns the response or throws Boto3Error, checking in
 * boto3's order: the client (service, region), the operation, the parameters, the endpoint.
 */
export function callBoto3(call, ctx) {
  const { service, operation } = call;
  const region = call.region ?? ctx.defaultRegion;
  const account = ctx.identity.account;
  ctx.counters.boto3Call(service, operation, account);
  if (!(service in OPERATIONS)) {
    throw new Boto3Error('UnknownServiceError', `Unknown service: '${service}'. Valid service names are: ${Object.keys(OPERATIONS).sort().join(', ')}`);
  }
  if (!/^[a-z0-9]+(?:-[a-z0-9]+)*$/.test(region)) {
    throw new Boto3Error('InvalidRegionError', `Provided region_name '${region}' doesn't match a supported format.`);
  }
  // The hosted sandbox passes operation_name to botocore as it is, which knows only API names.
  if (!/^[A-Z][A-Za-z0-9]*$/.test(operation)) throw new Boto3Error('OperationNotFoundError', operation);
  const spec = OPERATIONS[service][operation];
  if (!spec) throw new Boto3Error('NotImplementedError', `opsrun-sim does not simulate ${service}.${operation}`);
  if (call.report.length) throw new Boto3Error('ParamValidationError', `Parameter validation failed:\n${call.report.join('\n')}`);
  if (!spec.global && !REGION_IDS.has(region)) {
    throw new Boto3Error('EndpointConnectionError', `Could not connect to the endpoint URL: "https://${endpointHost(service, region)}/"`);
  }
  const refusal = spec.global ? null : notEnabledRefusal(ctx.opts, service, account, region);
  if (refusal) {
    ctx.counters.disabledRegionCall(account);
    throw clientError(refusal.code, refusal.message, operation);
  }
  return spec.run({ ...ctx, account, region }, call.params);
}

/** How many items each list of a response holds, as the hosted api_calls report them (n_items). */
export function itemCounts(response) {
  return Object.fromEntries(Object.entries(response).filter(([, v]) => Array.isArray(v)).map(([k, v]) => [k, v.length]));
}
