// The hub role (--hub-account, lib/hub.mjs): OpsHub trusts the central user (with its
// ExternalId), workload roles trust only OpsHub's sessions, a denied account refuses them too,
// and a session assumed by OpsHub's session is capped at one hour (role chaining).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { baseCreds, startSim, sts, xmlField } from './helpers.mjs';

const HUB = '100000000001';
const HUB_ROLE = `arn:aws:iam::${HUB}:role/OpsHub`;

function credsOf(text) {
  return {
    accessKeyId: xmlField(text, 'AccessKeyId'),
    secretAccessKey: xmlField(text, 'SecretAccessKey'),
    sessionToken: xmlField(text, 'SessionToken'),
  };
}

test('with --hub-account, workload roles are reached only through OpsHub', async (t) => {
  const sim = await startSim(['--accounts', '3', '--deny-accounts', '1', '--hub-account', HUB,
    '--hub-external-id', 'hub-x', '--external-id', 'x-123', '--max-session-duration', '7200']);
  t.after(() => sim.stop());
  const { ready } = sim;
  const role = (account) => `arn:aws:iam::${account}:role/CentralOpsTargetRole`;

  const direct = await sts(ready, baseCreds(ready), { Action: 'AssumeRole', RoleArn: role(ready.accounts[0]), RoleSessionName: 'x1', ExternalId: 'x-123' });
  assert.equal(direct.status, 403, 'the central user may not assume a workload role directly');

  const noExternalId = await sts(ready, baseCreds(ready), { Action: 'AssumeRole', RoleArn: HUB_ROLE, RoleSessionName: 'hub' });
  assert.equal(noExternalId.status, 403, 'OpsHub requires its ExternalId');
  const hub = await sts(ready, baseCreds(ready), { Action: 'AssumeRole', RoleArn: HUB_ROLE, RoleSessionName: 'hub', ExternalId: 'hub-x', DurationSeconds: '7200' });
  assert.equal(hub.status, 200, hub.text);
  assert.equal(xmlField(hub.text, 'Arn'), `arn:aws:sts::${HUB}:assumed-role/OpsHub/hub`);
  const hubCreds = credsOf(hub.text);

  const chained = await sts(ready, hubCreds, { Action: 'AssumeRole', RoleArn: role(ready.accounts[0]), RoleSessionName: 'x1', ExternalId: 'x-123' });
  assert.equal(chained.status, 200, chained.text);
  const tooLong = await sts(ready, hubCreds, { Action: 'AssumeRole', RoleArn: role(ready.accounts[1]), RoleSessionName: 'x1', ExternalId: 'x-123', DurationSeconds: '3601' });
  assert.equal(tooLong.status, 400);
  assert.equal(xmlField(tooLong.text, 'Message'), 'The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.');
  const wrongId = await sts(ready, hubCreds, { Action: 'AssumeRole', RoleArn: role(ready.accounts[1]), RoleSessionName: 'x1', ExternalId: 'hub-x' });
  assert.equal(wrongId.status, 403, "a workload role still requires its own ExternalId");
  const denied = await sts(ready, hubCreds, { Action: 'AssumeRole', RoleArn: role(ready.denied[0]), RoleSessionName: 'x1', ExternalId: 'x-123' });
  assert.equal(denied.status, 403);
  assert.equal(xmlField(denied.text, 'Message'), `User: arn:aws:sts::${HUB}:assumed-role/OpsHub/hub is not authorized to perform: sts:AssumeRole on resource: ${role(ready.denied[0])}`);

  const workload = credsOf(chained.text);
  const fromWorkload = await sts(ready, workload, { Action: 'AssumeRole', RoleArn: role(ready.accounts[1]), RoleSessionName: 'x1', ExternalId: 'x-123' });
  assert.equal(fromWorkload.status, 403, 'only OpsHub sessions are trusted, not other role sessions');
  assert.equal(ready.hub_role_arn, HUB_ROLE);
});

test('without --hub-account nothing changes: the central user assumes workload roles', async (t) => {
  const sim = await startSim(['--accounts', '1']);
  t.after(() => sim.stop());
  const { ready } = sim;
  const ok = await sts(ready, baseCreds(ready), { Action: 'AssumeRole', RoleArn: `arn:aws:iam::${ready.accounts[0]}:role/CentralOpsTargetRole`, RoleSessionName: 'x1' });
  assert.equal(ok.status, 200);
  const hub = await sts(ready, baseCreds(ready), { Action: 'AssumeRole', RoleArn: `arn:aws:iam::${ready.accounts[0]}:role/OpsHub`, RoleSessionName: 'x1' });
  assert.equal(hub.status, 403);
  assert.equal(ready.hub_role_arn, undefined);
});
