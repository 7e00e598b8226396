// Deterministic AWS resources per (account, region): EC2 instances, S3 buckets and their
// objects, IAM roles. The boto3 simulation answers from these, and GET /_sim/inventory exposes
// the same generator so tests can ask what the simulator should answer. Counts are seeded unless
// the organisation fixes them (--instances-per-region, --objects-per-bucket). Uses util.mjs
// hashing and identity.mjs.
import { digest, pick, u32 } from './util.mjs';
import { CENTRAL_ACCOUNT, WEB_IDENTITY_ROLE } from './identity.mjs';

const INSTANCE_TYPES = ['t3.micro', 't3.small', 't3.medium', 'm6i.large', 'c7g.xlarge', 'r6g.large', 't4g.nano'];
const OWNERS = ['alice@example.com', 'bob@example.com', 'team-payments', 'team-platform', 'carol@example.com'];
const WORKLOADS = ['web', 'api', 'worker', 'batch', 'db-proxy', 'bastion', 'cache'];
const BUCKET_PURPOSES = ['logs', 'artifacts', 'backups', 'data-lake', 'terraform-state', 'static-site'];
const OBJECT_FOLDERS = ['app', 'exports', 'reports'];
const OBJECT_EXTENSIONS = ['json', 'csv', 'log', 'parquet'];
const EPOCH_2023 = Date.UTC(2023, 0, 1);

/**
 * A response timestamp. The Python sandbox turns every Date into a datetime, as boto3 returns
 * timestamps; as JSON (GET /_sim/inventory, a script's return value) it reads as
 * datetime.isoformat() does: 2023-08-23T22:57:29+00:00.
 */
export class Timestamp extends Date {
  toJSON() {
    return this.toISOString().replace(/\.\d{3}Z$/, '+00:00');
  }
}

function hex(buf, n) {
  return buf.toString('hex').slice(0, n);
}

function dateFrom(buf, at, days = 700) {
  return new Timestamp(EPOCH_2023 + (u32(buf, at) % (days * 86400)) * 1000);
}

function instanceState(buf) {
  const roll = buf[10] % 8;
  if (roll < 5) return { Code: 16, Name: 'running' };
  if (roll < 7) return { Code: 80, Name: 'stopped' };
  return { Code: 0, Name: 'pending' };
}

function instanceTags(buf, name) {
  const roll = buf[13] % 6;
  if (roll === 0) return undefined; // boto3 omits Tags when an instance has none
  const tags = [{ Key: 'Name', Value: name }];
  if (roll >= 3) tags.push({ Key: 'Owner', Value: pick(OWNERS, buf, 12) });
  if (roll === 5) tags.push({ Key: 'Environment', Value: pick(['prod', 'staging', 'dev'], buf, 14) });
  return tags;
}

function makeInstance(seed, account, region, index) {
  const b = digest(seed, 'ec2-instance', account, region, index);
  const net = digest(seed, 'ec2-network', account, region);
  const type = pick(INSTANCE_TYPES, b, 9);
  const workload = pick(WORKLOADS, b, 11);
  const az = region + 'abc'[b[15] % 3];
  const instance = {
    InstanceId: 'i-' + hex(b, 17),
    ImageId: 'ami-' + hex(digest(seed, 'ami', region, workload), 17),
    InstanceType: type,
    State: instanceState(b),
    LaunchTime: dateFrom(b, 16),
    Placement: { AvailabilityZone: az, Tenancy: 'default' },
    PrivateIpAddress: `10.${b[20] % 256}.${b[21] % 256}.${(b[22] % 250) + 4}`,
    VpcId: 'vpc-' + hex(net, 17),
    SubnetId: 'subnet-' + hex(digest(seed, 'subnet', account, az), 17),
    Architecture: /g\./.test(type) ? 'arm64' : 'x86_64',
    PlatformDetails: 'Linux/UNIX',
    Tags: instanceTags(b, `${workload}-${index + 1}`),
  };
  if (instance.Tags === undefined) delete instance.Tags;
  return instance;
}

/** The instances of an account in a region: 0 to 4 of them (or the fixed count), the same every run for a seed. */
export function ec2Instances(org, account, region) {
  const count = org.instancesPerRegion ?? digest(org.seed, 'ec2-count', account, region)[0] % 5;
  return Array.from({ length: count }, (_, i) => makeInstance(org.seed, account, region, i));
}

/** Groups instances into reservations as EC2 does (here one or two instances per reservation). */
export function reservationsOf(seed, account, region, instances) {
  const reservations = [];
  for (let i = 0; i < instances.length; ) {
    const b = digest(seed, 'ec2-reservation', account, region, instances[i].InstanceId);
    const size = Math.min(1 + (b[0] % 2), instances.length - i);
    reservations.push({
      ReservationId: 'r-' + hex(b, 17),
      OwnerId: account,
      Groups: [],
      Instances: instances.slice(i, i + size),
    });
    i += size;
  }
  return reservations;
}

export function s3Buckets(seed, account, regions) {
  const b = digest(seed, 's3', account);
  const count = 1 + (b[0] % 4);
  const buckets = [];
  for (let i = 0; i < count; i++) {
    const purpose = BUCKET_PURPOSES[(b[1] + i) % BUCKET_PURPOSES.length];
    buckets.push({
      Name: `${purpose}-${account}-${hex(digest(seed, 's3-name', account, i), 6)}`,
      CreationDate: dateFrom(digest(seed, 's3-date', account, i), 0),
      BucketRegion: regions[(b[2 + i] ?? 0) % regions.length],
    });
  }
  buckets.sort((x, y) => (x.Name < y.Name ? -1 : 1));
  return { Buckets: buckets, Owner: { ID: hex(digest(seed, 's3-owner', account), 64) } };
}

function role(org, account, name, extra = {}) {
  const b = digest(org.seed, 'iam-role', account, name);
  return {
    Path: '/',
    RoleName: name,
    RoleId: org.roleId(account, name),
    Arn: `arn:aws:iam::${account}:role${extra.Path ?? '/'}${name}`,
    CreateDate: dateFrom(b, 0),
    AssumeRolePolicyDocument: extra.trust,
    MaxSessionDuration: extra.max ?? 3600,
    ...(extra.Description ? { Description: extra.Description } : {}),
    ...(extra.Path ? { Path: extra.Path } : {}),
  };
}

function serviceTrust(service) {
  return { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: service }, Action: 'sts:AssumeRole' }] };
}

/** IAM roles of an account, sorted by name as ListRoles returns them. */
export function iamRoles(org, account) {
  const roles = [
    role(org, account, 'AWSServiceRoleForSupport', {
      Path: '/aws-service-role/support.amazonaws.com/',
      trust: serviceTrust('support.amazonaws.com'),
      Description: 'Enables resource access for AWS to provide billing, administrative and support services',
    }),
  ];
  if (account === CENTRAL_ACCOUNT) {
    roles.push(role(org, account, WEB_IDENTITY_ROLE, { trust: org.trustPolicy(account, WEB_IDENTITY_ROLE) }));
  } else {
    for (const name of org.rolesOf(account)) {
      roles.push(role(org, account, name, { trust: org.trustPolicy(account, name), max: org.maxSessionDuration, Description: 'Assumed by opsrun from the central account' }));
    }
    roles.push(role(org, account, 'OrganizationAccountAccessRole', { trust: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${CENTRAL_ACCOUNT}:root` }, Action: 'sts:AssumeRole' }] } }));
  }
  const apps = digest(org.seed, 'iam-apps', account)[0] % 3;
  for (let i = 0; i < apps; i++) {
    const name = `${pick(WORKLOADS, digest(org.seed, 'iam-app', account, i), 0)}-app-role-${i + 1}`;
    roles.push(role(org, account, name, { trust: serviceTrust('ec2.amazonaws.com') }));
  }
  roles.sort((x, y) => (x.RoleName.toLowerCase() < y.RoleName.toLowerCase() ? -1 : 1));
  return roles;
}

function makeObject(seed, bucket, index) {
  const b = digest(seed, 's3-object', bucket, index);
  const day = dateFrom(b, 0);
  const [year, month] = day.toISOString().split('-');
  const folder = pick(OBJECT_FOLDERS, b, 4);
  return {
    Key: `${folder}/${year}/${month}/${pick(WORKLOADS, b, 5)}-${hex(b.subarray(6), 8)}.${pick(OBJECT_EXTENSIONS, b, 14)}`,
    LastModified: day,
    ETag: `"${hex(digest(seed, 's3-etag', bucket, index), 32)}"`,
    Size: u32(b, 10) % 5000000,
    StorageClass: 'STANDARD',
  };
}

/** The objects of a bucket in key order (as S3 lists them): 0 to 6 of them, or the fixed count. */
export function s3Objects(org, bucket) {
  const count = org.objectsPerBucket ?? digest(org.seed, 's3-objects', bucket)[0] % 7;
  const objects = Array.from({ length: count }, (_, i) => makeObject(org.seed, bucket, i));
  return objects.sort((x, y) => (x.Key < y.Key ? -1 : x.Key > y.Key ? 1 : 0));
}

/** Everything the simulator would answer for one account and region (for GET /_sim/inventory). */
export function inventory(org, account, region, regions) {
  const instances = ec2Instances(org, account, region);
  const s3 = s3Buckets(org.seed, account, regions);
  return {
    account,
    region,
    ec2: { Reservations: reservationsOf(org.seed, account, region, instances) },
    s3,
    s3_objects: Object.fromEntries(s3.Buckets.map((b) => [b.Name, s3Objects(org, b.Name)])),
    iam: { Roles: iamRoles(org, account), IsTruncated: false },
  };
}
