// The Regions each account has enabled, EC2 DescribeRegions over them, and the refusal of a call
// made in a Region the account has not enabled. Regions launched before 20 March 2019 need no
// opt-in; each account has opted in to each later one with probability --opt-in-rate, decided by
// the seed (tests/sim/README.md, Regions). Uses util.mjs.
import { digest, REGIONS } from './util.mjs';

/** The simulator's Regions that AWS launched after 20 March 2019: disabled until opted in. */
export const OPT_IN_REGIONS = new Set(['af-south-1', 'ap-east-1', 'eu-central-2', 'eu-south-1', 'me-south-1']);

/** DescribeRegions' OptInStatus of `region` for `account`. */
export function optInStatus(opts, account, region) {
  if (!OPT_IN_REGIONS.has(region)) return 'opt-in-not-required';
  const draw = digest(opts.seed, 'opt-in', account, region).readUInt32BE(0) / 2 ** 32;
  return draw < opts.optInRate ? 'opted-in' : 'not-opted-in';
}

export function isRegionEnabled(opts, account, region) {
  return optInStatus(opts, account, region) !== 'not-opted-in';
}

/** Every Region as DescribeRegions lists it for `account`, in an order of the seed's (AWS
 * promises none). */
export function regionsOf(opts, account) {
  const order = (id) => digest(opts.seed, 'describe-regions-order', id).readUInt32BE(0);
  return REGIONS.map(([id]) => id)
    .sort((a, b) => order(a) - order(b))
    .map((id) => ({ Endpoint: `ec2.${id}.amazonaws.com`, RegionName: id, OptInStatus: optInStatus(opts, account, id) }));
}

// What a regional endpoint answers a caller whose account has not enabled its Region: {code,
// message} of the service's error (see README.md for the evidence of each).
const NOT_ENABLED = {
  ec2: { code: 'AuthFailure', message: 'AWS was not able to validate the provided access credentials' },
  sts: { code: 'InvalidClientTokenId', message: 'The security token included in the request is invalid.' },
  s3: { code: 'InvalidToken', message: 'The provided token is malformed or otherwise invalid.' },
};

/** The {code, message} with which `service` refuses a call in a Region the account has not
 * enabled, or null when the Region is enabled. */
export function notEnabledRefusal(opts, service, account, region) {
  if (isRegionEnabled(opts, account, region)) return null;
  return NOT_ENABLED[service];
}
