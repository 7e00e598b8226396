// The AWS calls a script can make through call_boto3: EC2 DescribeInstances, STS
// GetCallerIdentity, S3 ListBuckets and IAM ListRoles, answered as the signing identity from
// inventory.mjs, with botocore's parameter validation and ClientError wording.
import { PyDict, PyError, pyRepr, toPlain, typeName } from './pyvalues.mjs';
import { ec2Instances, iamRoles, reservationsOf, s3Buckets } from './inventory.mjs';
import { REGION_IDS } from './util.mjs';

const S = { type: 'string' };
const I = { type: 'integer' };
const B = { type: 'boolean' };
const list = (member) => ({ type: 'list', member });
const struct = (members, required = []) => ({ type: 'structure', members, required });

const PY_CLASS = { string: "<class 'str'>", integer: "<class 'int'>", boolean: "<class 'bool'>", list: "<class 'list'>, <class 'tuple'>", structure: "<class 'dict'>" };
const ACCEPTS = { string: ['str'], integer: ['int'], boolean: ['bool'], list: ['list', 'tuple'], structure: ['dict'] };

function clientError(code, message, operation) {
  return new PyError('botocore.exceptions.ClientError', `An error occurred (${code}) when calling the ${operation} operation: ${message}`);
}

/** botocore's ParamValidationError lines for `value` against `shape` at `path`. */
function validate(value, shape, path, errors) {
  if (!ACCEPTS[shape.type].includes(typeName(value)) && !(shape.type === 'integer' && typeof value === 'boolean')) {
    errors.push(`Invalid type for parameter ${path}, value: ${pyRepr(value)}, type: <class '${typeName(value)}'>, valid types: ${PY_CLASS[shape.type]}`);
    return;
  }
  if (shape.type === 'list') {
    const items = Array.isArray(value) ? value : value.items;
    items.forEach((item, i) => validate(item, shape.member, `${path}[${i}]`, errors));
  } else if (shape.type === 'structure') {
    validateStructure(value, shape, path, errors);
  }
}

function validateStructure(dict, shape, path, errors) {
  const names = Object.keys(shape.members);
  const where = path ? `in ${path}` : 'in input';
  for (const req of shape.required) {
    if (!dict.has(req)) errors.push(`Missing required parameter ${where}: "${req}"`);
  }
  for (const [key, v] of dict.entries()) {
    if (typeof key !== 'string' || !(key in shape.members)) {
      errors.push(`Unknown parameter ${where}: "${typeof key === 'string' ? key : pyRepr(key)}", must be one of: ${names.join(', ')}`);
    } else {
      validate(v, shape.members[key], path ? `${path}.${key}` : key, errors);
    }
  }
}

function pageToken(offset) {
  return Buffer.from(`opsrun-sim:${offset}`).toString('base64');
}

function pageOffset(token, onBad) {
  if (token === undefined) return 0;
  const m = /^opsrun-sim:(\d+)$/.exec(Buffer.from(String(token), 'base64').toString());
  if (!m) throw onBad();
  return Number(m[1]);
}

function globMatch(pattern, text) {
  const re = new RegExp('^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$', 's');
  return re.test(text);
}

const EC2_FILTERS = {
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

function filterValues(name) {
  if (name in EC2_FILTERS) return EC2_FILTERS[name];
  if (name.startsWith('tag:')) {
    const key = name.slice(4);
    return (i) => (i.Tags ?? []).filter((t) => t.Key === key).map((t) => t.Value);
  }
  return null;
}

function describeInstances(ctx, p) {
  const op = 'DescribeInstances';
  if (p.DryRun) throw clientError('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.', op);
  if (p.MaxResults !== undefined && p.InstanceIds?.length) {
    throw clientError('InvalidParameterCombination', 'The parameter instancesSet cannot be used with the parameter maxResults', op);
  }
  if (p.MaxResults !== undefined && (p.MaxResults < 5 || p.MaxResults > 1000)) {
    throw clientError('InvalidParameterValue', `Value ( ${p.MaxResults} ) for parameter maxResults is invalid. Expecting a value greater than 5.`, op);
  }
  let instances = ec2Instances(ctx.seed, ctx.account, ctx.region);
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
  for (const f of p.Filters ?? []) {
    const values = filterValues(f.Name);
    if (!values) throw clientError('InvalidParameterValue', `The filter '${f.Name}' is invalid`, op);
    instances = instances.filter((i) => values(i).some((v) => f.Values.some((pat) => globMatch(pat, v))));
  }
  const offset = pageOffset(p.NextToken, () => clientError('InvalidParameterValue', 'Unable to parse pagination token', op));
  const size = p.MaxResults ?? 1000;
  const page = instances.slice(offset, offset + size);
  const all = reservationsOf(ctx.seed, ctx.account, ctx.region, ec2Instances(ctx.seed, ctx.account, ctx.region));
  const onPage = new Set(page.map((i) => i.InstanceId));
  const reservations = all
    .map((r) => ({ ...r, Instances: r.Instances.filter((i) => onPage.has(i.InstanceId)) }))
    .filter((r) => r.Instances.length);
  const out = { Reservations: reservations };
  if (offset + size < instances.length) out.NextToken = pageToken(offset + size);
  return out;
}

function listBuckets(ctx, p) {
  const op = 'ListBuckets';
  let { Buckets: buckets, Owner } = s3Buckets(ctx.seed, ctx.account, ctx.regionIds);
  if (p.Prefix !== undefined) buckets = buckets.filter((b) => b.Name.startsWith(p.Prefix));
  if (p.BucketRegion !== undefined) buckets = buckets.filter((b) => b.BucketRegion === p.BucketRegion);
  if (p.MaxBuckets !== undefined && (p.MaxBuckets < 1 || p.MaxBuckets > 10000)) {
    throw clientError('InvalidArgument', 'Argument max-buckets must be an integer between 1 and 10000.', op);
  }
  const offset = pageOffset(p.ContinuationToken, () => clientError('InvalidArgument', 'The continuation token provided is incorrect', op));
  const size = p.MaxBuckets ?? 10000;
  const out = { Buckets: buckets.slice(offset, offset + size), Owner };
  if (p.Prefix !== undefined) out.Prefix = p.Prefix;
  if (offset + size < buckets.length) out.ContinuationToken = pageToken(offset + size);
  return out;
}

function listRoles(ctx, p) {
  const op = 'ListRoles';
  let roles = iamRoles(ctx.org, ctx.account);
  if (p.PathPrefix !== undefined) roles = roles.filter((r) => r.Path.startsWith(p.PathPrefix));
  if (p.MaxItems !== undefined && (p.MaxItems < 1 || p.MaxItems > 1000)) {
    throw clientError('ValidationError', `1 validation error detected: Value '${p.MaxItems}' at 'maxItems' failed to satisfy constraint: Member must have value ${p.MaxItems < 1 ? 'greater than or equal to 1' : 'less than or equal to 1000'}`, op);
  }
  const offset = pageOffset(p.Marker, () => clientError('ValidationError', 'Invalid Marker.', op));
  const size = p.MaxItems ?? 100;
  const out = { Roles: roles.slice(offset, offset + size), IsTruncated: offset + size < roles.length };
  if (out.IsTruncated) out.Marker = pageToken(offset + size);
  return out;
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
  },
  sts: { GetCallerIdentity: { shape: struct({}), run: getCallerIdentity } },
  s3: {
    ListBuckets: { shape: struct({ MaxBuckets: I, ContinuationToken: S, Prefix: S, BucketRegion: S }), run: listBuckets, global: false },
  },
  iam: { ListRoles: { shape: struct({ PathPrefix: S, Marker: S, MaxItems: I }), run: listRoles, global: true } },
};

function camelOperation(name) {
  return /_/.test(name) || /^[a-z]/.test(name) ? name.split('_').map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('') : name;
}

function endpointHost(service, region) {
  return service === 'iam' ? 'iam.amazonaws.com' : `${service}.${region}.amazonaws.com`;
}

/**
 * One call_boto3 call. `args`: bound Python arguments {service_name, operation_name,
 * region_name, params}; `ctx`: {identity, org, seed, defaultRegion, regionIds, counters};
 * `apiCalls` collects {service, operation, region}. Returns plain data or throws PyError.
 */
export function callBoto3(args, ctx, apiCalls) {
  const { service_name: service, operation_name: opName, params } = args;
  for (const [name, v] of [['service_name', service], ['operation_name', opName]]) {
    if (typeof v !== 'string') throw new PyError('TypeError', `${name} must be str, not ${typeName(v)}`);
  }
  const region = args.region_name ?? ctx.defaultRegion;
  if (typeof region !== 'string') throw new PyError('TypeError', `region_name must be str, not ${typeName(region)}`);
  if (params !== null && !(params instanceof PyDict)) {
    throw new PyError('TypeError', `params must be a dict, not ${typeName(params)}`);
  }
  const operation = camelOperation(opName);
  apiCalls.push({ service, operation, region });
  ctx.counters.boto3Call(service, operation);
  if (!(service in OPERATIONS)) {
    throw new PyError('botocore.exceptions.UnknownServiceError', `Unknown service: '${service}'. Valid service names are: ${Object.keys(OPERATIONS).sort().join(', ')}`);
  }
  const spec = OPERATIONS[service][operation];
  if (!spec) throw new PyError('NotImplementedError', `opsrun-sim does not simulate ${service}.${operation}`);
  if (!/^[a-z0-9]+(?:-[a-z0-9]+)*$/.test(region)) {
    throw new PyError('botocore.exceptions.InvalidRegionError', `Provided region_name '${region}' doesn't match a supported format.`);
  }
  if (!spec.global && !REGION_IDS.has(region)) {
    throw new PyError('botocore.exceptions.EndpointConnectionError', `Could not connect to the endpoint URL: "https://${endpointHost(service, region)}/"`);
  }
  const errors = [];
  validateStructure(params ?? new PyDict(), spec.shape, '', errors);
  if (errors.length) throw new PyError('botocore.exceptions.ParamValidationError', `Parameter validation failed:\n${errors.join('\n')}`);
  const plain = params ? toPlain(params) : {};
  return spec.run({ ...ctx, account: ctx.identity.account, region }, plain);
}

export const SIMULATED_OPERATIONS = Object.entries(OPERATIONS).flatMap(([s, ops]) => Object.keys(ops).map((o) => `${s}.${o}`));
