// Immutable releases (issue 28): a build uploads under artifacts/<pipeline>/<execution
// id>-<random token>/, Sluice's functions copy a finished build into releases/<pipeline>/
// (content-addressed objects and a manifest per execution), and every stage deploys
// from releases/ only. What must hold: nobody but the functions writes a release, a
// build cannot list the bucket to find another build's upload, and no stage, here or
// in another account, reads an upload.
//
// Each request carries only the context S3 presents for it (s3:prefix on a listing,
// nothing on an object request), with a second pipeline beside the first.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { Template, deployTargetTemplate, pipelineTemplate } from './template.mjs'
import { ACCOUNT, assertAllowed, assertDenied, decide } from './iam.mjs'

const root = fileURLToPath(new URL('../../', import.meta.url))
const REGION = 'us-east-1'
const TARGET = '444455556666'
const ADMIN = `arn:aws:iam::${ACCOUNT}:role/ops-admin`

/** A Sluice pipeline as template.yaml (or SLUICE_POLICY_TEMPLATE) deploys it. */
const pipeline = (stackName, parameters) =>
  pipelineTemplate(stackName, { account: ACCOUNT, region: REGION, admin: ADMIN }, parameters)

const api = pipeline('sluice', { RepositoryName: 'hello-api', ApplicationName: 'hello', Stages: 'dev,staging,production' })
const web = pipeline('sluice-web', { RepositoryName: 'hello-web', ApplicationName: 'web', Stages: 'staging,production' })
const STAGES = ['dev', 'staging', 'production']

/** Where pipeline `t` keeps things, as ARNs of objects in its bucket. */
function places(t) {
  const bucket = t.ref('ArtifactBucket')
  const p = t.stackName
  const object = (key) => `arn:aws:s3:::${bucket}/${key}`
  return {
    bucket: `arn:aws:s3:::${bucket}`,
    policy: t.bucketPolicy('ArtifactBucket'),
    upload: object(`artifacts/${p}/1800000000000-0123456789ab-5f0c2d9e81a7b3c4/packaged.yaml`),
    releases: [object(`releases/${p}/sha256/${'ab'.repeat(32)}`), object(`releases/${p}/manifests/1800000000000-0123456789ab.json`)],
    // Another pipeline's prefix in this bucket.
    elsewhere: object(`releases/another-pipeline/sha256/${'cd'.repeat(32)}`),
  }
}
const here = places(api)
const there = places(web)

/** `role` with an identity policy that allows every S3 action on everything. */
const withAllOfS3 = (role) => ({
  ...role,
  policies: [{ name: 'all-of-s3', policy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }] } }],
})

/** The execution role of `stage` in pipeline `t`, where the functions find it. */
function executionRole(t, stage) {
  const arn = `${t.globalEnvironment().SLUICE_STAGE_ROLE_PREFIX}${stage}-execution`
  const id = t.ofType('AWS::IAM::Role').find((r) => t.getAtt(r, 'Arn') === arn)
  assert.ok(id, `no role has the ARN ${arn}`)
  return t.role(id)
}

/** The worst role an application of `stage` can make: everything, under the boundary. */
const applicationRole = (t, stage) => ({
  arn: `arn:aws:iam::${ACCOUNT}:role/${t.parameters.ApplicationName}-${stage}-HelloFunctionRole-1A2B3C4D`,
  policies: [t.managedPolicy('arn:aws:iam::aws:policy/AdministratorAccess')],
  boundary: t.managedPolicy(`${t.globalEnvironment().SLUICE_STAGE_BOUNDARY_PREFIX}${stage}-boundary`),
})

const WRITES = ['s3:PutObject', 's3:DeleteObject', 's3:DeleteObjectVersion']

test('the build cannot write, overwrite or delete a release, its pipeline\'s or another\'s, whatever its own policy says', async () => {
  const build = api.role('BuildRole')
  for (const who of [build, withAllOfS3(build)]) {
    for (const action of WRITES) {
      for (const release of [...here.releases, here.elsewhere]) await assertDenied(who, action, release, {}, here.policy)
      // The other pipeline's bucket, under its own policy.
      for (const release of there.releases) await assertDenied(who, action, release, {}, there.policy)
    }
  }
  // What it is for it still does: upload the build.
  await assertAllowed(build, 's3:PutObject', here.upload, {}, here.policy)
})

test("nobody in the account but Sluice's functions writes a release", async () => {
  // Broad S3 rights and a name like Sluice's, but not a role under its functions' path.
  const strangers = [
    { arn: `arn:aws:iam::${ACCOUNT}:role/developer`, policies: [api.managedPolicy('arn:aws:iam::aws:policy/PowerUserAccess')] },
    withAllOfS3({ arn: `arn:aws:iam::${ACCOUNT}:role/sluice/sluice/lookalike` }),
  ]
  for (const who of strangers) {
    for (const action of WRITES) {
      for (const release of here.releases) await assertDenied(who, action, release, {}, here.policy)
    }
  }
  await assertAllowed(api.role('BuildFunctionRole'), 's3:PutObject', here.releases[0], {}, here.policy)
})

test('the build cannot list the bucket, with or without a prefix, whatever its own policy says', async () => {
  const build = api.role('BuildRole')
  const prefixes = [{}, { 's3:prefix': 'artifacts/sluice/' }, { 's3:prefix': 'artifacts/sluice/1800000000000-0123456789ab' }]
  for (const who of [build, withAllOfS3(build)]) {
    for (const action of ['s3:ListBucket', 's3:ListBucketVersions', 's3:ListBucketMultipartUploads']) {
      for (const context of prefixes) await assertDenied(who, action, here.bucket, context, here.policy)
    }
  }
  // The deny is about listing: CodeBuild still finds the bucket it uploads to.
  await assertAllowed(build, 's3:GetBucketLocation', here.bucket, {}, here.policy)
})

test('the functions that handle a finished build copy its uploads into releases, by version', async () => {
  // The build-state function, and the sweeper when the build's event was lost.
  for (const fn of ['BuildFunction', 'SweeperFunction']) {
    const role = api.role(`${fn}Role`)
    // CopyObject by version and the hash's streamed read: the source by version...
    await assertAllowed(role, 's3:GetObject', here.upload, {}, here.policy)
    await assertAllowed(role, 's3:GetObjectVersion', here.upload, {}, here.policy)
    // ...and the copy and the manifest written, then read back.
    for (const release of here.releases) {
      for (const action of ['s3:PutObject', 's3:GetObject', 's3:GetObjectVersion']) {
        await assertAllowed(role, action, release, {}, here.policy)
      }
    }
    // Only into this pipeline's releases.
    await assertDenied(role, 's3:PutObject', here.elsewhere, {}, here.policy)
  }
  // Only the sweeper removes a release, and only one of this pipeline (hourly, the
  // ones no stage keeps); no function removes a version of one.
  await assertAllowed(api.role('SweeperFunctionRole'), 's3:DeleteObject', here.releases[0], {}, here.policy)
  await assertDenied(api.role('SweeperFunctionRole'), 's3:DeleteObject', here.elsewhere, {}, here.policy)
  for (const fn of ['BuildFunction', 'DeployFunction', 'ApprovalFunction', 'OperatorFunction', 'ApproverFunction', 'SweeperFunction']) {
    await assertDenied(api.role(`${fn}Role`), 's3:DeleteObjectVersion', here.releases[0], {}, here.policy)
    if (fn !== 'SweeperFunction') {
      await assertDenied(api.role(`${fn}Role`), 's3:DeleteObject', here.releases[0], {}, here.policy)
    }
  }
  // Every function that deploys reads the release it deploys.
  for (const fn of ['DeployFunction', 'ApprovalFunction', 'OperatorFunction', 'ApproverFunction']) {
    await assertAllowed(api.role(`${fn}Role`), 's3:GetObjectVersion', here.releases[0], {}, here.policy)
  }
})

for (const stage of STAGES) {
  test(`${stage}: deploys from releases only, reads no build's upload, and writes no release`, async () => {
    const execution = executionRole(api, stage)
    for (const action of ['s3:GetObject', 's3:GetObjectVersion']) {
      await assertAllowed(execution, action, here.releases[0], {}, here.policy)
    }
    for (const who of [execution, applicationRole(api, stage)]) {
      for (const action of ['s3:GetObject', 's3:GetObjectVersion']) {
        await assertDenied(who, action, here.upload, {}, here.policy)
        await assertDenied(who, action, there.upload, {}, there.policy)
      }
      for (const action of WRITES) {
        for (const release of [...here.releases, ...there.releases]) {
          await assertDenied(who, action, release, {}, release.startsWith(here.bucket) ? here.policy : there.policy)
        }
      }
    }
  })
}

test('a stage in another account reads releases, and never a build\'s upload', async () => {
  const remote = pipeline('sluice', {
    RepositoryName: 'hello-api', ApplicationName: 'hello', Stages: 'dev,staging,production',
    RemoteStages: 'production', RemoteAccountIds: TARGET,
  })
  const { policy, upload, releases } = places(remote)
  const target = deployTargetTemplate('sluice-target', {
    account: TARGET, region: REGION, orchestrator: ACCOUNT, pipeline: remote.stackName,
    roleArns: remote.getAtt('DeployFunctionRole', 'Arn'), bucket: remote.ref('ArtifactBucket'),
    app: 'hello', stage: 'production',
  })
  // The two roles deploy-target.yaml makes, and one its account lets do anything.
  const roles = [
    target.role('SluiceDeployRole'),
    target.role('CloudFormationExecutionRole'),
    { arn: `arn:aws:iam::${TARGET}:role/anything-goes`, policies: [target.managedPolicy('arn:aws:iam::aws:policy/AdministratorAccess')] },
  ]
  for (const who of roles) {
    for (const action of ['s3:GetObject', 's3:GetObjectVersion']) {
      assert.notEqual(await decide(who, action, upload, {}, policy), 'Allowed', `${who.arn} may ${action} an upload`)
    }
    for (const release of releases) {
      assert.notEqual(await decide(who, 's3:PutObject', release, {}, policy), 'Allowed', `${who.arn} may write a release`)
    }
  }
  for (const who of roles.slice(0, 2)) {
    for (const release of releases) {
      assert.equal(await decide(who, 's3:GetObjectVersion', release, {}, policy), 'Allowed', `${who.arn} may not read ${release}`)
    }
  }
})
