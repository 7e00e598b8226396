// The unsigned test hooks under /_sim/ on every port: counters, reset, inventory (what the
// simulator answers for an account and region), config (the ready line again), sso/login
// (an SSO sign-in's token cache file) and worker (which process of --workers answers).
import { inventory } from './inventory.mjs';
import { REGION_IDS } from './util.mjs';

function sendJson(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/**
 * Answers a /_sim/ request. `hooks`: { counters(), reset(), config(), ssoLogin({startUrl,
 * region}) (each a value or a promise of one: with --workers they ask the primary process),
 * worker() (which process answers), org, defaultRegion }.
 */
export async function handleHook(hooks, req, res) {
  const url = new URL(req.url, 'http://127.0.0.1');
  const route = `${req.method} ${url.pathname}`;
  switch (route) {
    case 'GET /_sim/counters':
      return sendJson(res, 200, await hooks.counters());
    case 'POST /_sim/reset':
      await hooks.reset();
      return sendJson(res, 200, { reset: true });
    case 'POST /_sim/sso/login':
      // what `aws sso login` writes to ~/.aws/sso/cache/HEX.json (lib/sso.mjs)
      return sendJson(res, 200, await hooks.ssoLogin({
        startUrl: url.searchParams.get('start_url') ?? 'https://opsrun-sim.awsapps.com/start',
        region: url.searchParams.get('region') ?? hooks.defaultRegion,
      }));
    case 'GET /_sim/config':
      return sendJson(res, 200, await hooks.config());
    case 'GET /_sim/worker':
      return sendJson(res, 200, hooks.worker());
    case 'GET /_sim/inventory': {
      const account = url.searchParams.get('account') ?? '';
      const region = url.searchParams.get('region') ?? hooks.defaultRegion;
      if (!hooks.org.isKnownAccount(account)) return sendJson(res, 404, { message: `unknown account '${account}'` });
      if (!REGION_IDS.has(region)) return sendJson(res, 400, { message: `unknown region '${region}'` });
      return sendJson(res, 200, inventory(hooks.org, account, region, [...REGION_IDS]));
    }
    default:
      return sendJson(res, 404, { message: `no test hook ${route}` });
  }
}
