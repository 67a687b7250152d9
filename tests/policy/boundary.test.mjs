// An application with no permissions boundary anywhere in its template (issue 32):
// as its team wrote it, no stage may create its roles and user; as Sluice pins it
// (tests/fixtures/boundary/pinned.yaml, which the engine's unit tests check it
// writes), each stage creates every one of them under that stage's boundary, and
// only under it. The worst policy the application gives itself is then capped by
// the boundary.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { Template, pipelineTemplate } from './template.mjs'
import { ACCOUNT, assertAllowed, assertDenied } from './iam.mjs'

const root = fileURLToPath(new URL('../../', import.meta.url))
const REGION = 'us-east-1'
const PIPELINE = 'sluice'
const STAGES = ['staging', 'production']

const sluice = pipelineTemplate(PIPELINE, { account: ACCOUNT, region: REGION, admin: `arn:aws:iam::${ACCOUNT}:role/ops-admin` }, {
  RepositoryName: 'hello-api',
  ApplicationName: 'hello',
  Stages: STAGES.join(','),
})
// Where the functions find each stage's execution role and boundary.
const environment = sluice.globalEnvironment()
const executionRoleArn = (stage) => `${environment.SLUICE_STAGE_ROLE_PREFIX}${stage}-execution`
const boundaryArn = (stage) => `${environment.SLUICE_STAGE_BOUNDARY_PREFIX}${stage}-boundary`

function executionRole(stage) {
  const id = sluice.ofType('AWS::IAM::Role').find((r) => sluice.getAtt(r, 'Arn') === executionRoleArn(stage))
  assert.ok(id, `no role has the ARN ${executionRoleArn(stage)}`)
  return sluice.role(id)
}

/** The application's template `file` as stage `stage` deploys it, with `parameters`. */
const application = (file, stage, parameters = {}) =>
  new Template(`${root}tests/fixtures/boundary/${file}`, {
    stackName: `hello-${stage}`,
    account: ACCOUNT,
    region: REGION,
    parameters: { ...parameters },
  })

// Every IAM identity the application creates: where its template gives the boundary
// (the keys under Resources), what CloudFormation calls to create it, and its ARN.
const IDENTITIES = [
  { what: 'ApiRole, the function role SAM makes', at: ['Api', 'Properties'], create: 'iam:CreateRole', name: 'ApiRole' },
  { what: "the role SAM makes for Api's schedule", at: ['Api', 'Properties', 'Events', 'Nightly', 'Properties'], create: 'iam:CreateRole', name: 'ApiNightlyRole' },
  { what: 'FlowRole, the state machine role SAM makes', at: ['Flow', 'Properties'], create: 'iam:CreateRole', name: 'FlowRole' },
  { what: 'the role Worker', at: ['Worker', 'Properties'], create: 'iam:CreateRole', name: 'worker', named: true },
  { what: 'the user Auditor', at: ['Auditor', 'Properties'], create: 'iam:CreateUser', name: 'auditor', named: true, user: true },
]

function arnOf(identity, stage) {
  const name = identity.named ? `hello-${stage}-${identity.name}` : `hello-${stage}-${identity.name}-1A2B3C4D5E6F`
  return `arn:aws:iam::${ACCOUNT}:${identity.user ? 'user' : 'role'}/${name}`
}

/** The boundary CloudFormation passes when it creates `identity` from template `t`. */
function boundaryGiven(t, identity) {
  let node = t.raw.Resources
  for (const key of identity.at) node = node?.[key]
  const own = node?.PermissionsBoundary
  const global = identity.at.length === 2 && t.raw.Resources[identity.at[0]].Type === 'AWS::Serverless::Function'
    ? t.raw.Globals?.Function?.PermissionsBoundary
    : undefined
  const value = own ?? global
  return value === undefined ? undefined : t.value(value)
}

for (const stage of STAGES) {
  const execution = executionRole(stage)

  test(`${stage}: as its team wrote it, an application with no boundary line could not create its roles and user`, async () => {
    const written = application('template.yaml', stage)
    for (const identity of IDENTITIES) {
      assert.equal(boundaryGiven(written, identity), undefined, identity.what)
      await assertDenied(execution, identity.create, arnOf(identity, stage))
    }
  })

  test(`${stage}: as Sluice deploys it, every role and user of the application is created under ${stage}'s boundary, and only under it`, async () => {
    const pinned = application('pinned.yaml', stage, { PermissionsBoundary: boundaryArn(stage) })
    for (const identity of IDENTITIES) {
      const given = boundaryGiven(pinned, identity)
      assert.equal(given, boundaryArn(stage), identity.what)
      await assertAllowed(execution, identity.create, arnOf(identity, stage), { 'iam:PermissionsBoundary': given })
      for (const other of STAGES.filter((s) => s !== stage)) {
        await assertDenied(execution, identity.create, arnOf(identity, stage), { 'iam:PermissionsBoundary': boundaryArn(other) })
      }
    }
  })

  test(`${stage}: the application's own "everything" policy is capped by the boundary Sluice gave its role`, async () => {
    const pinned = application('pinned.yaml', stage, { PermissionsBoundary: boundaryArn(stage) })
    const [everything] = pinned.raw.Resources.Api.Properties.Policies
    const api = {
      arn: arnOf(IDENTITIES[0], stage),
      policies: [{ name: 'ApiRolePolicy0', policy: everything }],
      boundary: sluice.managedPolicy(boundaryGiven(pinned, IDENTITIES[0])),
    }
    const state = `arn:aws:s3:::${sluice.ref('ArtifactBucket')}/pipelines/${PIPELINE}/executions/1800000000000-0123456789ab.json`
    await assertDenied(api, 's3:PutObject', state, {}, sluice.bucketPolicy('ArtifactBucket'))
    await assertDenied(api, 'iam:CreateUser', `arn:aws:iam::${ACCOUNT}:user/backdoor`)
    await assertDenied(api, 'iam:PutRolePolicy', arnOf(IDENTITIES[0], stage))
    await assertAllowed(api, 'dynamodb:PutItem', `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/hello-${stage}-Orders-1A2B`)
  })
}
