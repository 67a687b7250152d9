// What a pushed commit could do with the roles Sluice gives its stages, tried against
// the policies in the templates as IAM would evaluate them (identity policies, the
// permissions boundary, the bucket policy, trust policies), with conditions.
//
// Each attack must be denied. The positive checks beside them show that the same
// evaluation allows what Sluice and the application really need, so a denial is
// never the harness failing to model a request.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { runSimulation } from '@cloud-copilot/iam-simulate'
import { DEFINITION, DEFINITION_MAX, Template, deployTargetTemplate } from './template.mjs'
import { ACCOUNT, assertAllowed, assertDenied, decide } from './iam.mjs'

const root = fileURLToPath(new URL('../../', import.meta.url))
const REGION = 'us-east-1'
const PIPELINE = 'sluice'
// Three stages, so that "the other stages" is more than one.
const STAGES = ['dev', 'staging', 'production']
const STACKS = Object.fromEntries(STAGES.map((s) => [s, `hello-${s}`]))
const others = (stage) => STAGES.filter((s) => s !== stage)

/**
 * Sluice's template for the sample pipeline, with `more` parameters. SLUICE_POLICY_TEMPLATE
 * tries another version, such as `git show HEAD~5:template.yaml`.
 */
const sluiceTemplate = (more = {}) =>
  new Template(process.env.SLUICE_POLICY_TEMPLATE ?? `${root}template.yaml`, {
    stackName: PIPELINE,
    account: ACCOUNT,
    region: REGION,
    parameters: {
      Definition: DEFINITION,
      RepositoryName: 'hello-api',
      ApplicationName: 'hello',
      Stages: STAGES.join(','),
      AdministratorArn: `arn:aws:iam::${ACCOUNT}:role/ops-admin`,
      ...more,
    },
  })
const sluice = sluiceTemplate()
const bucket = sluice.ref('ArtifactBucket')
const bucketPolicy = sluice.bucketPolicy('ArtifactBucket')
// Where the functions find each stage's roles: the ARNs the environment leads to.
const environment = sluice.globalEnvironment()
const stages = Object.fromEntries(
  STAGES.map((s) => [
    s,
    {
      execution_role: `${environment.SLUICE_STAGE_ROLE_PREFIX}${s}-execution`,
      boundary: `${environment.SLUICE_STAGE_BOUNDARY_PREFIX}${s}-boundary`,
    },
  ]),
)

/** The IAM role resource with this ARN. */
function roleByArn(arn) {
  const id = sluice.ofType('AWS::IAM::Role').find((r) => sluice.getAtt(r, 'Arn') === arn)
  assert.ok(id, `no role in template.yaml has the ARN ${arn}`)
  return sluice.role(id)
}

const executionRole = (stage) => roleByArn(stages[stage].execution_role)
// Where a template has no boundary for the stage, a policy nobody could name.
const boundaryArn = (stage) => stages[stage].boundary ?? `arn:aws:iam::${ACCOUNT}:policy/no-boundary-for-${stage}`
const appRole = (stage) => `arn:aws:iam::${ACCOUNT}:role/${STACKS[stage]}-HelloFunctionRole-1A2B3C4D`
const appFunction = (stage) => `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${STACKS[stage]}-HelloFunction-1A2B3C4D`
const stack = (name) => `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/${name}/6f1b1d60-0000-4000-8000-000000000000`
const state = `arn:aws:s3:::${bucket}/pipelines/${PIPELINE}/executions/1800000000000-0123456789ab.json`
const artifact = `arn:aws:s3:::${bucket}/artifacts/${PIPELINE}/1800000000000-0123456789ab/packaged.yaml`
// What the stages deploy: the build's objects, pinned into the release prefix.
const release = `arn:aws:s3:::${bucket}/releases/${PIPELINE}/sha256/${'ab'.repeat(32)}`


test('every stage in Stages gets its own execution role and boundary', () => {
  assert.equal(environment.SLUICE_DEFINITION, DEFINITION)
  for (const stage of STAGES) {
    assert.ok(roleByArn(stages[stage].execution_role), stage)
    assert.ok(boundaryOf(stage), stage)
  }
})

for (const stage of STAGES) {
  const ownRole = `arn:aws:iam::${ACCOUNT}:role/${STACKS[stage]}-Worker-9Z8Y7X`

  test(`${stage}: its execution role and boundary are its own`, () => {
    for (const other of others(stage)) {
      assert.notEqual(stages[stage].execution_role, stages[other].execution_role)
      assert.notEqual(stages[stage].boundary, stages[other].boundary)
    }
  })

  test(`${stage}: cannot create a role without the stage's boundary`, async () => {
    const role = executionRole(stage)
    await assertDenied(role, 'iam:CreateRole', ownRole)
    await assertDenied(role, 'iam:CreateRole', ownRole, {
      'iam:PermissionsBoundary': `arn:aws:iam::${ACCOUNT}:policy/one-i-made-myself`,
    })
    await assertDenied(role, 'iam:CreateUser', `arn:aws:iam::${ACCOUNT}:user/${STACKS[stage]}-Worker`)
  })

  test(`${stage}: cannot attach AdministratorAccess, even to a bounded role`, async () => {
    await assertDenied(executionRole(stage), 'iam:AttachRolePolicy', ownRole, {
      'iam:PolicyARN': 'arn:aws:iam::aws:policy/AdministratorAccess',
      'iam:PermissionsBoundary': boundaryArn(stage),
    })
  })

  test(`${stage}: cannot touch another stage's stack or its resources, nor any other stack`, async () => {
    const role = executionRole(stage)
    for (const other of others(stage)) {
      await assertDenied(role, 'cloudformation:UpdateStack', stack(STACKS[other]))
      await assertDenied(role, 'cloudformation:DeleteStack', stack(STACKS[other]))
      await assertDenied(role, 'cloudformation:CreateChangeSet', stack(`${STACKS[other]}-Nested-1A2B`))
      await assertDenied(role, 'lambda:UpdateFunctionCode', appFunction(other), {
        'aws:ResourceTag/aws:cloudformation:stack-name': STACKS[other],
      })
    }
    await assertDenied(role, 'cloudformation:UpdateStack', stack(PIPELINE))
    await assertDenied(role, 'cloudformation:DeleteStack', stack('someone-elses-stack'))
    // Its own stack and nested stacks it may change.
    await assertAllowed(role, 'cloudformation:CreateStack', stack(`${STACKS[stage]}-Nested-1A2B`))
  })

  for (const other of others(stage)) test(`${stage}: cannot touch the ${other} stage's roles`, async () => {
    const role = executionRole(stage)
    const theirs = { 'iam:PermissionsBoundary': boundaryArn(other) }
    await assertDenied(role, 'iam:PutRolePolicy', appRole(other), theirs)
    await assertDenied(role, 'iam:AttachRolePolicy', appRole(other), {
      ...theirs,
      'iam:PolicyARN': `arn:aws:iam::${ACCOUNT}:policy/anything`,
    })
    await assertDenied(role, 'iam:PassRole', appRole(other), { 'iam:PassedToService': 'lambda.amazonaws.com' })
    await assertDenied(role, 'iam:UpdateAssumeRolePolicy', appRole(other))
  })

  test(`${stage}: cannot write Sluice's state or change its bucket policy`, async () => {
    const role = executionRole(stage)
    await assertDenied(role, 's3:PutObject', state, {}, bucketPolicy)
    await assertDenied(role, 's3:DeleteObject', state, {}, bucketPolicy)
    await assertDenied(role, 's3:PutBucketPolicy', `arn:aws:s3:::${bucket}`, {}, bucketPolicy)
    await assertDenied(role, 's3:DeleteBucketPolicy', `arn:aws:s3:::${bucket}`, {}, bucketPolicy)
  })

  test(`${stage}: cannot change Sluice's functions, roles, topic or rules`, async () => {
    const role = executionRole(stage)
    const sluiceTag = { 'aws:ResourceTag/aws:cloudformation:stack-name': PIPELINE }
    await assertDenied(role, 'lambda:UpdateFunctionCode', sluice.getAtt('SourceFunction', 'Arn'), sluiceTag)
    await assertDenied(role, 'sns:Subscribe', sluice.ref('NotificationTopic'), sluiceTag)
    await assertDenied(role, 'events:PutTargets', `arn:aws:events:${REGION}:${ACCOUNT}:rule/${PIPELINE}-SourceFunctionPush-1A2B3C`, sluiceTag)
    await assertDenied(role, 'iam:PutRolePolicy', sluice.getAtt('SourceFunctionRole', 'Arn'))
    await assertDenied(role, 'iam:PutRolePolicy', stages[stage].execution_role)
  })

  test(`${stage}: cannot edit or remove its boundary`, async () => {
    const role = executionRole(stage)
    await assertDenied(role, 'iam:CreatePolicyVersion', boundaryArn(stage))
    await assertDenied(role, 'iam:SetDefaultPolicyVersion', boundaryArn(stage))
    await assertDenied(role, 'iam:DeleteRolePermissionsBoundary', ownRole, {
      'iam:PermissionsBoundary': boundaryArn(stage),
    })
  })

  test(`${stage}: can still deploy its own application`, async () => {
    const role = executionRole(stage)
    await assertAllowed(role, 'iam:CreateRole', ownRole, { 'iam:PermissionsBoundary': boundaryArn(stage) })
    await assertAllowed(role, 'iam:PassRole', ownRole, { 'iam:PassedToService': 'lambda.amazonaws.com' })
    await assertAllowed(role, 'lambda:UpdateFunctionCode', appFunction(stage), {
      'aws:ResourceTag/aws:cloudformation:stack-name': STACKS[stage],
    })
    await assertAllowed(role, 's3:GetObject', release, {}, bucketPolicy)
    // Removing a role from the template: CloudFormation deletes it this way.
    for (const action of ['iam:ListInstanceProfilesForRole', 'iam:ListAttachedRolePolicies', 'iam:ListRolePolicies', 'iam:DeleteRole']) {
      await assertAllowed(role, action, ownRole)
    }
  })

  test(`${stage}: what the application's own roles can reach is capped by the boundary`, async () => {
    // (below: the worst an application role can be given)
    // The worst an application role can be given: everything, under the boundary.
    const admin = {
      arn: appRole(stage),
      policies: [sluice.managedPolicy('arn:aws:iam::aws:policy/AdministratorAccess')],
      boundary: boundaryOf(stage),
    }
    await assertDenied(admin, 's3:PutObject', state, {}, bucketPolicy)
    await assertDenied(admin, 'lambda:UpdateFunctionCode', sluice.getAtt('SweeperFunction', 'Arn'), {
      'aws:ResourceTag/aws:cloudformation:stack-name': PIPELINE,
    })
    await assertDenied(admin, 'iam:CreateUser', `arn:aws:iam::${ACCOUNT}:user/backdoor`)
    await assertDenied(admin, 'iam:AttachRolePolicy', appRole(stage), {
      'iam:PolicyARN': 'arn:aws:iam::aws:policy/AdministratorAccess',
    })
    for (const other of others(stage)) {
      await assertDenied(admin, 'cloudformation:DeleteStack', stack(STACKS[other]))
      await assertDenied(admin, 'dynamodb:DeleteTable', `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${STACKS[other]}-Table-1A2B`, {
        'aws:ResourceTag/aws:cloudformation:stack-name': STACKS[other],
      })
    }
    await assertAllowed(admin, 'dynamodb:PutItem', `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${STACKS[stage]}-Table-1A2B`)
  })
}

/** The stage's boundary policy, as the template defines it. */
function boundaryOf(stage) {
  assert.ok(stages[stage].boundary, `the ${stage} stage has no boundary`)
  return sluice.managedPolicy(stages[stage].boundary)
}

test('the build role cannot write execution state, and can write its artifacts', async () => {
  const build = sluice.role('BuildRole')
  await assertDenied(build, 's3:PutObject', state, {}, bucketPolicy)
  await assertDenied(build, 's3:PutObject', `arn:aws:s3:::${bucket}/artifacts/another-pipeline/x/packaged.yaml`, {}, bucketPolicy)
  await assertAllowed(build, 's3:PutObject', artifact, {}, bucketPolicy)
})

test('the bucket keeps the build role to its artifacts, whatever its own policy says', async () => {
  const widened = { ...sluice.role('BuildRole'), policies: [sluice.managedPolicy('arn:aws:iam::aws:policy/PowerUserAccess')] }
  await assertDenied(widened, 's3:PutObject', state, {}, bucketPolicy)
  await assertDenied(widened, 's3:PutObject', `arn:aws:s3:::${bucket}/artifacts/another-pipeline/x/packaged.yaml`, {}, bucketPolicy)
  await assertAllowed(widened, 's3:PutObject', artifact, {}, bucketPolicy)
})

test("the bucket denies state writes to anyone but Sluice's functions", async () => {
  // Someone in the account with broad S3 rights, but not one of Sluice's roles.
  const stranger = {
    arn: `arn:aws:iam::${ACCOUNT}:role/${PIPELINE}-lookalike`,
    policies: [sluice.managedPolicy('arn:aws:iam::aws:policy/PowerUserAccess')],
  }
  await assertDenied(stranger, 's3:PutObject', state, {}, bucketPolicy)
  await assertDenied(stranger, 's3:PutBucketPolicy', `arn:aws:s3:::${bucket}`, {}, bucketPolicy)
  for (const fn of sluice.ofType('AWS::Serverless::Function')) {
    const role = sluice.role(`${fn}Role`)
    const writes = role.policies.some((p) => JSON.stringify(p.policy).includes('s3:PutObject'))
    if (writes) await assertAllowed(role, 's3:PutObject', state, {}, bucketPolicy)
  }
})

test('a deploy target account trusts exactly the Sluice roles it was given', async () => {
  const TARGET = '444455556666'
  const given = ['BuildFunction', 'DeployFunction'].map((f) => sluice.getAtt(`${f}Role`, 'Arn'))
  const target = deployTargetTemplate('sluice-target', {
    account: TARGET, region: REGION, orchestrator: ACCOUNT, pipeline: PIPELINE,
    roleArns: given.join(','), bucket, app: 'hello', stage: 'production',
  })
  const deployRole = target.role('SluiceDeployRole')
  // The caller's own account lets it assume anything; the trust policy decides.
  const admin = [target.managedPolicy('arn:aws:iam::aws:policy/AdministratorAccess')]
  const assume = (arn) => decide({ arn, policies: admin }, 'sts:AssumeRole', deployRole.arn, {}, deployRole.trust, TARGET)
  // A role any stage could name after Sluice, and one of Sluice's that does not deploy.
  assert.notEqual(await assume(`arn:aws:iam::${ACCOUNT}:role/${PIPELINE}-lookalike`), 'Allowed')
  assert.notEqual(await assume(sluice.getAtt('SourceFunctionRole', 'Arn')), 'Allowed')
  for (const arn of given) assert.equal(await assume(arn), 'Allowed', arn)
})

test("a stage in another account reads the build's code from the bucket, and nothing else", async () => {
  const TARGET = '444455556666'
  const crossAccount = sluiceTemplate({ RemoteStages: 'production', RemoteAccountIds: TARGET })
  const policy = crossAccount.bucketPolicy('ArtifactBucket')
  // Without remote stages, no other account reads anything.
  const closed = sluice.bucketPolicy('ArtifactBucket')
  const name = crossAccount.ref('ArtifactBucket')
  // A role of the target account that its own account lets do anything.
  const there = {
    arn: `arn:aws:iam::${TARGET}:role/sluice/sluice-execution`,
    policies: [crossAccount.managedPolicy('arn:aws:iam::aws:policy/AdministratorAccess')],
  }
  const read = (action, key) => decide(there, action, `arn:aws:s3:::${name}/${key}`, {}, policy)
  const released = `releases/${PIPELINE}/sha256/${'ab'.repeat(32)}`
  assert.equal(await read('s3:GetObject', released), 'Allowed')
  assert.notEqual(await read('s3:GetObject', `pipelines/${PIPELINE}/executions/x.json`), 'Allowed')
  assert.notEqual(await read('s3:PutObject', released), 'Allowed')
  const unlisted = await decide(there, 's3:GetObject', `arn:aws:s3:::${name}/${released}`, {}, closed)
  assert.notEqual(unlisted, 'Allowed')
  // The functions assume the role deploy-target.yaml made for the stage there, and no other.
  const deploy = crossAccount.role('DeployFunctionRole')
  // A target role that trusts the function: Sluice's own policy must allow the call too.
  const trusting = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: deploy.arn }, Action: 'sts:AssumeRole' }] }
  const assume = (arn) => decide(deploy, 'sts:AssumeRole', arn, {}, trusting, TARGET)
  assert.equal(await assume(`arn:aws:iam::${TARGET}:role/sluice/hello-production-sluice-deploy`), 'Allowed')
  assert.notEqual(await assume(`arn:aws:iam::${TARGET}:role/sluice/other-app-production-sluice-deploy`), 'Allowed')
  assert.notEqual(await assume(`arn:aws:iam::${TARGET}:role/OrganizationAccountAccessRole`), 'Allowed')
})

// Events from another account reach a bus only if the bus's policy lets that account
// put them; Sluice's stages there forward CloudFormation's stack events.
// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-bus-perms.html
test("a remote stage's stack events are let onto this account's bus, from its account only and CloudFormation's only", async () => {
  const TARGET = '444455556666'
  const crossAccount = sluiceTemplate({ RemoteStages: 'production', RemoteAccountIds: TARGET })
  assert.deepEqual(sluice.ofType('AWS::Events::EventBusPolicy'), [], 'no remote stage, no bus policy')
  const [id] = crossAccount.ofType('AWS::Events::EventBusPolicy')
  assert.ok(id, 'a bus policy for the remote stage')
  const props = crossAccount.properties(id)
  assert.equal(props.EventBusName, 'default')
  const policy = { Version: '2012-10-17', Statement: [{ Sid: props.StatementId, ...props.Statement }] }
  const bus = `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/default`
  const forwarder = (account) => ({
    arn: `arn:aws:iam::${account}:role/sluice/hello-production-sluice-events`,
    policies: [crossAccount.managedPolicy('arn:aws:iam::aws:policy/AdministratorAccess')],
  })
  // The key lists the source of each entry of the PutEvents call.
  const put = (account, ...sources) =>
    decide(forwarder(account), 'events:PutEvents', bus, { 'events:source': sources }, policy)
  assert.equal(await put(TARGET, 'aws.cloudformation'), 'Allowed')
  assert.notEqual(await put(TARGET, 'com.example.fake'), 'Allowed')
  assert.notEqual(await put(TARGET, 'aws.cloudformation', 'com.example.fake'), 'Allowed')
  assert.notEqual(await put('999988887777', 'aws.cloudformation'), 'Allowed')
})

test('each function may make the AWS calls its code makes', async () => {
  const project = sluice.getAtt('BuildProject', 'Arn')
  const repository = `arn:aws:codecommit:${REGION}:${ACCOUNT}:hello-api`
  const topic = sluice.ref('NotificationTopic')
  const stateCalls = [
    ['s3:GetObject', state],
    ['s3:PutObject', state],
    ['s3:ListBucket', `arn:aws:s3:::${bucket}`, { 's3:prefix': `pipelines/${PIPELINE}/executions/` }],
    ['sns:Publish', topic],
  ]
  const stageCalls = [
    // Checking and deploying a release read its copies by version.
    ['s3:GetObject', release],
    ['s3:GetObjectVersion', release],
    ['cloudformation:CreateChangeSet', stack(STACKS.dev)],
    ['cloudformation:CreateChangeSet', stack(STACKS.staging)],
    ['cloudformation:ExecuteChangeSet', stack(STACKS.production)],
    ['cloudformation:DescribeChangeSet', stack(STACKS.staging)],
    // A stack its failed first deploy left in ROLLBACK_COMPLETE is deleted first.
    ['cloudformation:DeleteStack', stack(STACKS.staging)],
    ['iam:PassRole', stages.staging.execution_role, { 'iam:PassedToService': 'cloudformation.amazonaws.com' }],
    ['iam:PassRole', stages.production.execution_role, { 'iam:PassedToService': 'cloudformation.amazonaws.com' }],
  ]
  // Making a release (the build function, or the sweeper for a lost build event):
  // the upload read by version, its copy written.
  const pinCalls = [['s3:GetObject', artifact], ['s3:GetObjectVersion', artifact], ['s3:PutObject', release]]
  // Asking for approval: the commits the gate lists, read from the repository.
  const gateCalls = [['codecommit:GetCommit', repository], ['codecommit:GetMergeCommit', repository]]
  const calls = {
    // A push: its commit, the branch's head, which files it changed (path filters).
    SourceFunction: [...stateCalls, ['codecommit:GetBranch', repository], ['codecommit:GetCommit', repository],
      ['codecommit:GetDifferences', repository], ['codebuild:StartBuild', project],
      ['codebuild:ListBuildsForProject', project], ['codebuild:BatchGetBuilds', project]],
    BuildFunction: [...stateCalls, ...stageCalls, ...gateCalls, ...pinCalls, ['codebuild:BatchGetBuilds', project]],
    DeployFunction: [...stateCalls, ...stageCalls, ...gateCalls],
    ApprovalFunction: [...stateCalls, ...stageCalls, ...gateCalls],
    // Operator commands decide gates (then execute change sets) and send new links;
    // release reads the branch and starts a build, retry starts one, cancel stops one.
    OperatorFunction: [...stateCalls, ...stageCalls, ['codecommit:GetBranch', repository], ['codecommit:GetCommit', repository],
      ['codecommit:GetMergeCommit', repository], ['codebuild:StartBuild', project], ['codebuild:StopBuild', project], ['codebuild:BatchGetBuilds', project],
      ['codebuild:ListBuildsForProject', project]],
    ApproverFunction: [...stateCalls, ...stageCalls, ...gateCalls],
    // The sweeper also asks how builds went, and starts a build whose start was lost.
    SweeperFunction: [...stateCalls, ...stageCalls, ...gateCalls, ...pinCalls, ['codebuild:BatchGetBuilds', project], ['codebuild:StartBuild', project],
      ['codebuild:ListBuildsForProject', project]],
  }
  for (const [fn, list] of Object.entries(calls)) {
    const role = sluice.role(`${fn}Role`)
    for (const [action, resource, context] of list) {
      await assertAllowed(role, action, resource, context ?? {}, action.startsWith('s3:') ? bucketPolicy : undefined)
    }
  }
  // No other function reads a build's upload or writes a release.
  for (const fn of ['DeployFunction', 'ApprovalFunction', 'OperatorFunction', 'ApproverFunction']) {
    await assertDenied(sluice.role(`${fn}Role`), 's3:GetObject', artifact, {}, bucketPolicy)
    await assertDenied(sluice.role(`${fn}Role`), 's3:PutObject', release, {}, bucketPolicy)
  }
  // Only the stages' stacks: not Sluice's, not a stack merely named like a stage's.
  for (const other of [PIPELINE, 'hello-qa', 'hello-staging-lookalike']) {
    await assertDenied(sluice.role('DeployFunctionRole'), 'cloudformation:ExecuteChangeSet', stack(other))
    await assertDenied(sluice.role('DeployFunctionRole'), 'cloudformation:DeleteStack', stack(other))
  }
  // The approvers' function takes decisions only: it can start or stop no build.
  for (const action of ['codebuild:StartBuild', 'codebuild:StopBuild']) {
    await assertDenied(sluice.role('ApproverFunctionRole'), action, project)
  }
})

test('site stages write only the buckets SiteBucket names, and only when there are site stages', async () => {
  const site = (bucket) => sluiceTemplate({ SiteStages: 'staging,production', SiteBucket: bucket })
  const calls = (role, name) => [
    ['s3:ListBucket', `arn:aws:s3:::${name}`],
    ['s3:PutObject', `arn:aws:s3:::${name}/assets/app.js`],
    ['s3:DeleteObject', `arn:aws:s3:::${name}/old.png`],
  ]
  const named = site('hello-web-*')
  for (const fn of ['DeployFunction', 'ApprovalFunction', 'SweeperFunction', 'OperatorFunction', 'BuildFunction']) {
    const role = named.role(`${fn}Role`)
    for (const [action, resource] of calls(role, 'hello-web-production')) await assertAllowed(role, action, resource)
    // Pinning lists the build's site folder.
    await assertAllowed(role, 's3:ListBucket', `arn:aws:s3:::${named.ref('ArtifactBucket')}`,
      { 's3:prefix': `artifacts/${PIPELINE}/1800000000000-0123456789ab/site/` }, named.bucketPolicy('ArtifactBucket'))
    for (const other of ['hello-api-production', 'sluice-artifacts', 'web-hello-staging']) {
      for (const [action, resource] of calls(role, other)) await assertDenied(role, action, resource)
    }
  }
  // A bucket from a stack's output: the stack may be read, and buckets named after it written.
  const output = site('hello-api-*:WebsiteBucket')
  const deploy = output.role('DeployFunctionRole')
  await assertAllowed(deploy, 'cloudformation:DescribeStacks', stack('hello-api-staging'))
  for (const [action, resource] of calls(deploy, 'hello-api-staging-websitebucket-1a2b3c')) await assertAllowed(deploy, action, resource)
  for (const [action, resource] of calls(deploy, 'hello-web-staging')) await assertDenied(deploy, action, resource)
  // A distribution: its caches may be cleared, by id or (from an output) any of the account's.
  const cdn = (distribution) => sluiceTemplate({ SiteStages: 'production', SiteBucket: 'hello-web-*', SiteDistribution: distribution })
  const dist = (id) => `arn:aws:cloudfront::${ACCOUNT}:distribution/${id}`
  const byId = cdn('E2QWRUHAPOMQZL').role('DeployFunctionRole')
  await assertAllowed(byId, 'cloudfront:CreateInvalidation', dist('E2QWRUHAPOMQZL'))
  await assertDenied(byId, 'cloudfront:CreateInvalidation', dist('EOTHERDIST'))
  await assertDenied(byId, 'cloudfront:UpdateDistribution', dist('E2QWRUHAPOMQZL'))
  const fromOutput = cdn('hello-cdn-*:DistributionId').role('DeployFunctionRole')
  await assertAllowed(fromOutput, 'cloudfront:CreateInvalidation', dist('EANYOFTHEACCOUNT'))
  await assertAllowed(fromOutput, 'cloudformation:DescribeStacks', stack('hello-cdn-production'))
  await assertDenied(named.role('DeployFunctionRole'), 'cloudfront:CreateInvalidation', dist('E2QWRUHAPOMQZL'))
  // Without site stages, no bucket outside Sluice's own is writable.
  for (const [action, resource] of calls(sluice.role('DeployFunctionRole'), 'hello-web-production')) {
    await assertDenied(sluice.role('DeployFunctionRole'), action, resource)
  }
})

test('with test stages, the deploy function may start the project\'s builds, and no other', async () => {
  const tested = sluiceTemplate({ TestStages: 'staging,production' })
  const project = tested.getAtt('BuildProject', 'Arn')
  const other = `arn:aws:codebuild:${REGION}:${ACCOUNT}:project/someone-elses-build`
  await assertAllowed(tested.role('DeployFunctionRole'), 'codebuild:StartBuild', project)
  await assertDenied(tested.role('DeployFunctionRole'), 'codebuild:StartBuild', other)
  await assertDenied(tested.role('DeployFunctionRole'), 'codebuild:StopBuild', project)
  await assertDenied(tested.role('ApproverFunctionRole'), 'codebuild:StartBuild', project)
  // Without test stages, a stack's event starts no build.
  await assertDenied(sluice.role('DeployFunctionRole'), 'codebuild:StartBuild', sluice.getAtt('BuildProject', 'Arn'))
})

test('with alarm stages, the sweeper may read alarm states, and change none', async () => {
  const watched = sluiceTemplate({ AlarmStages: 'staging' })
  const alarm = `arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:hello-api-staging-errors`
  await assertAllowed(watched.role('SweeperFunctionRole'), 'cloudwatch:DescribeAlarms', alarm)
  await assertDenied(watched.role('SweeperFunctionRole'), 'cloudwatch:SetAlarmState', alarm)
  await assertDenied(watched.role('SweeperFunctionRole'), 'cloudwatch:DeleteAlarms', alarm)
  await assertDenied(sluice.role('SweeperFunctionRole'), 'cloudwatch:DescribeAlarms', alarm)
})

test('operators and approvers call only their own functions, and change nothing directly', async () => {
  const holder = (name, policyId) => ({
    arn: `arn:aws:iam::${ACCOUNT}:role/${name}`,
    policies: [sluice.managedPolicy(sluice.ref(policyId))],
  })
  const operator = holder('pipeline-operators', 'OperatorPolicy')
  const approver = holder('release-approvers', 'ApproverPolicy')
  const operatorFunction = sluice.getAtt('OperatorFunction', 'Arn')
  const approverFunction = sluice.getAtt('ApproverFunction', 'Arn')
  await assertAllowed(operator, 'lambda:InvokeFunction', operatorFunction)
  await assertAllowed(operator, 'lambda:InvokeFunction', approverFunction)
  await assertAllowed(approver, 'lambda:InvokeFunction', approverFunction)
  // An approver cannot resend links, release, retry or cancel.
  await assertDenied(approver, 'lambda:InvokeFunction', operatorFunction)
  // `sluice logs` reads this pipeline's function logs, and no one else's.
  const logGroup = (name) => `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws/lambda/${name}`
  await assertAllowed(operator, 'logs:FilterLogEvents', logGroup(`sluice-${PIPELINE}-source`))
  await assertAllowed(operator, 'logs:DescribeLogGroups', '*')
  await assertDenied(operator, 'logs:FilterLogEvents', logGroup('payroll-api-function'))
  await assertDenied(approver, 'logs:FilterLogEvents', logGroup(`${PIPELINE}-source`))
  for (const person of [operator, approver]) {
    // `sluice status` and `show` read the state...
    await assertAllowed(person, 's3:GetObject', state, {}, bucketPolicy)
    await assertAllowed(person, 's3:ListBucket', `arn:aws:s3:::${bucket}`, { 's3:prefix': `pipelines/${PIPELINE}/executions/` }, bucketPolicy)
    // ...and every change goes through a function that checks who asks.
    await assertDenied(person, 's3:PutObject', state, {}, bucketPolicy)
    await assertDenied(person, 's3:GetObject', artifact, {}, bucketPolicy)
    await assertDenied(person, 'cloudformation:ExecuteChangeSet', stack(STACKS.production))
    await assertDenied(person, 'lambda:InvokeFunction', sluice.getAtt('SweeperFunction', 'Arn'))
    await assertDenied(person, 'lambda:UpdateFunctionCode', operatorFunction)
  }
})

/** A role holding only OperatorPolicy, and one holding only ApproverPolicy. */
const people = () => ({
  operator: {
    arn: `arn:aws:iam::${ACCOUNT}:role/pipeline-operators`,
    policies: [sluice.managedPolicy(sluice.ref('OperatorPolicy'))],
  },
  approver: {
    arn: `arn:aws:iam::${ACCOUNT}:role/release-approvers`,
    policies: [sluice.managedPolicy(sluice.ref('ApproverPolicy'))],
  },
})

test('`sluice release` may read which branch this stack delivers and its head, and nothing more', async () => {
  const { operator, approver } = people()
  const sluiceStack = `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/${PIPELINE}/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d`
  const repository = `arn:aws:codecommit:${REGION}:${ACCOUNT}:hello-api`
  await assertAllowed(operator, 'cloudformation:DescribeStacks', sluiceStack)
  await assertAllowed(operator, 'codecommit:GetBranch', repository)
  // Not another stack's parameters, not another repository, and no code.
  await assertDenied(operator, 'cloudformation:DescribeStacks', stack(STACKS.production))
  await assertDenied(operator, 'codecommit:GetBranch', `arn:aws:codecommit:${REGION}:${ACCOUNT}:payroll`)
  await assertDenied(operator, 'codecommit:GetBlob', repository)
  await assertDenied(operator, 'codecommit:GitPush', repository)
  await assertDenied(approver, 'codecommit:GetBranch', repository)
})

test('`sluice doctor` may test the failed-events alarm and read the stage roles, and change nothing else', async () => {
  const { operator, approver } = people()
  const alarm = (name) => `arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:${name}`
  const failedEvents = alarm(`sluice-${PIPELINE}-failed-events`)
  const stageRole = sluice.getAtt('productionExecutionRole', 'Arn')
  await assertAllowed(operator, 'cloudwatch:SetAlarmState', failedEvents)
  await assertAllowed(operator, 'cloudwatch:DescribeAlarmHistory', failedEvents)
  await assertAllowed(operator, 'cloudwatch:DescribeAlarms', failedEvents)
  await assertAllowed(operator, 'iam:GetRole', stageRole)
  await assertAllowed(operator, 'lambda:GetFunctionConfiguration', sluice.getAtt('DeployFunction', 'Arn'))
  // Not an alarm that decides a rollback (an application's), nor a stage's own,
  // nor another pipeline's; no role's policies, no other function's configuration.
  await assertDenied(operator, 'cloudwatch:SetAlarmState', alarm('hello-api-production-errors'))
  await assertDenied(operator, 'cloudwatch:SetAlarmState', alarm(`sluice-${PIPELINE}-production-deploy-failed`))
  await assertDenied(operator, 'cloudwatch:DescribeAlarms', alarm('payroll-errors'))
  // Nor another pipeline's, named like this one and more.
  await assertDenied(operator, 'cloudwatch:SetAlarmState', alarm(`sluice-${PIPELINE}-x-failed-events`))
  await assertDenied(operator, 'cloudwatch:DescribeAlarmHistory', alarm(`sluice-${PIPELINE}-x-failed-events`))
  await assertDenied(operator, 'cloudwatch:DisableAlarmActions', failedEvents)
  await assertDenied(operator, 'iam:GetRole', sluice.getAtt('DeployFunctionRole', 'Arn'))
  await assertDenied(operator, 'iam:UpdateAssumeRolePolicy', stageRole)
  await assertDenied(operator, 'iam:GetRolePolicy', stageRole)
  await assertDenied(operator, 'lambda:GetFunctionConfiguration', sluice.getAtt('OperatorFunction', 'Arn'))
  await assertDenied(approver, 'cloudwatch:SetAlarmState', failedEvents)
  await assertDenied(approver, 'iam:GetRole', stageRole)
})

// ---- What AWS enforces that the emulator did not (issue 35) ------------------------

// Organisations often deny public Function URLs with a service control policy
// (lambda:FunctionUrlAuthType NONE); such a stack cannot be created at all.
// https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html#urls-governance
test('with ApprovalPage none the stack makes no public Function URL and grants no public invoke', () => {
  const publicThings = (template) => [
    ...template.ofType('AWS::Lambda::Url').filter((id) => template.exists(id)),
    ...template.ofType('AWS::Lambda::Permission')
      .filter((id) => template.exists(id) && template.properties(id).Principal === '*'),
  ]
  assert.deepEqual(publicThings(sluiceTemplate({ ApprovalPage: 'none' })), [])
  const withPage = publicThings(sluice)
  assert.ok(withPage.includes('ApprovalFunctionUrl'), `${withPage}`)
  // With a page, anyone may invoke the approval function only through its URL.
  for (const id of sluice.ofType('AWS::Lambda::Permission').filter((p) => sluice.properties(p).Principal === '*')) {
    const p = sluice.properties(id)
    assert.equal(p.FunctionName, sluice.ref('ApprovalFunction'), id)
    assert.ok(p.FunctionUrlAuthType === 'NONE' || p.InvokedViaFunctionUrl === true, id)
  }
  // And without one, the functions are told so, not left without an address.
  for (const fn of sluiceTemplate({ ApprovalPage: 'none' }).ofType('AWS::Serverless::Function')) {
    const template = sluiceTemplate({ ApprovalPage: 'none' })
    const url = template.properties(fn).Environment?.Variables?.SLUICE_APPROVAL_URL
    if (url !== undefined) assert.equal(url, 'none', fn)
  }
})

// S3 answers a GetObject of a missing key with 404 only to a caller that may list the
// bucket, and with 403 to any other; the GetObject request carries no s3:prefix, so a
// list grant conditioned on one does not count.
// https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html#API_GetObject_RequestSyntax
test('a missing key answers 404, not 403, to every function: each may list the bucket without a prefix', async () => {
  for (const fn of sluice.ofType('AWS::Serverless::Function')) {
    await assertAllowed(sluice.role(`${fn}Role`), 's3:ListBucket', `arn:aws:s3:::${bucket}`, {}, bucketPolicy)
  }
})

// SAM names a ScheduleV2 schedule <function logical id><event name> unless it has a
// Name or OmitName: true; schedule names are unique in a group, account and region.
// https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-property-function-schedulev2.html
test('a second Sluice stack in the same account and region names no schedule like the first', () => {
  const scheduleNames = (template) =>
    template.ofType('AWS::Serverless::Function').flatMap((fn) =>
      Object.entries(template.properties(fn).Events ?? {})
        .filter(([, event]) => event.Type === 'ScheduleV2')
        .map(([name, event]) => event.Properties.Name ?? (event.Properties.OmitName === true ? `${template.stackName}-generated-${fn}${name}` : `${fn}${name}`)))
  const web = new Template(process.env.SLUICE_POLICY_TEMPLATE ?? `${root}template.yaml`, {
    stackName: 'sluice-web', account: ACCOUNT, region: REGION,
    parameters: { Definition: DEFINITION, RepositoryName: 'hello-web', ApplicationName: 'web', AdministratorArn: `arn:aws:iam::${ACCOUNT}:role/ops-admin` },
  })
  const first = scheduleNames(sluice)
  assert.ok(first.length > 0, 'the sweeper has a schedule')
  for (const name of scheduleNames(web)) assert.ok(!first.includes(name), `both stacks create the schedule ${name}`)
})

// CloudFormation assumes a stack's service role as the service principal; its guide
// shows that trust with no condition, and documents aws:SourceAccount for hook and
// extension roles only, so a stack role whose trust requires it may never be
// assumable. iam:PassRole, which naming the role on a stack needs, is same-account.
// https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-iam-servicerole.html
test('CloudFormation can assume every stage role as a stack service role, given no source context', async () => {
  const TARGET = '444455556666'
  const target = deployTargetTemplate('sluice-target', {
    account: TARGET, region: REGION, orchestrator: ACCOUNT, pipeline: PIPELINE,
    roleArns: sluice.getAtt('DeployFunctionRole', 'Arn'), bucket, app: 'hello', stage: 'production',
  })
  const byCloudFormation = async (role, account) => {
    const result = await runSimulation(
      {
        request: {
          principal: 'cloudformation.amazonaws.com',
          action: 'sts:AssumeRole',
          resource: { resource: role.arn, accountId: account },
          contextVariables: {
            'aws:SecureTransport': 'true',
            'aws:PrincipalServiceName': 'cloudformation.amazonaws.com',
          },
        },
        identityPolicies: [], serviceControlPolicies: [], resourceControlPolicies: [], resourcePolicy: role.trust,
      },
      {},
    )
    assert.equal(result.errors, undefined, JSON.stringify(result.errors))
    return result.result.analysis.result
  }
  for (const stage of STAGES) {
    assert.equal(await byCloudFormation(executionRole(stage), ACCOUNT), 'Allowed', stage)
    assert.ok(executionRole(stage).trust, stage)
  }
  assert.equal(await byCloudFormation(target.role('CloudFormationExecutionRole'), TARGET), 'Allowed', 'the target account')
})

/**
 * The decision on `action` by CloudWatch, acting for an alarm of `account`, under the
 * resource's `policy`: the service principal, with the context it presents.
 */
async function byAlarm(action, resource, account, policy) {
  const result = await runSimulation(
    {
      request: {
        principal: 'cloudwatch.amazonaws.com',
        action,
        resource: { resource, accountId: ACCOUNT },
        contextVariables: {
          'aws:SecureTransport': 'true',
          'aws:PrincipalServiceName': 'cloudwatch.amazonaws.com',
          'aws:SourceAccount': account,
          'aws:SourceArn': `arn:aws:cloudwatch:${REGION}:${account}:alarm:hello-production-errors`,
        },
      },
      identityPolicies: [], serviceControlPolicies: [], resourceControlPolicies: [], resourcePolicy: policy,
    },
    {},
  )
  assert.equal(result.errors, undefined, `${action} on ${resource}: ${JSON.stringify(result.errors)}`)
  return result.result.analysis.result
}

/** The customer-managed key the notification topic is encrypted with, and its policy. */
function topicKey() {
  const keyArn = sluice.properties('NotificationTopic').KmsMasterKeyId
  const id = sluice.ofType('AWS::KMS::Key').find((k) => sluice.ref(k) === keyArn || sluice.getAtt(k, 'Arn') === keyArn)
  assert.ok(id, `the topic is encrypted with ${keyArn}, not a key of the template's own whose policy it controls`)
  return { arn: sluice.getAtt(id, 'Arn'), policy: sluice.properties(id).KeyPolicy }
}

// CloudWatch publishes to an encrypted topic only through a customer-managed key whose
// policy lets it; the request it makes carries its alarm as aws:SourceArn.
// https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services
test("this account's alarms can publish to the encrypted topic; another account's cannot", async () => {
  const key = topicKey()
  for (const action of ['kms:GenerateDataKey', 'kms:Decrypt']) {
    assert.equal(await byAlarm(action, key.arn, ACCOUNT, key.policy), 'Allowed', action)
    assert.notEqual(await byAlarm(action, key.arn, '999988887777', key.policy), 'Allowed', `${action} for another account's alarm`)
  }
})

test("no stage can disable, delete or re-police the topic's key; the administrator can, and the functions use it", async () => {
  const key = topicKey()
  const kms = (principal, action, context = {}) => decide(principal, action, key.arn, context, key.policy)
  for (const stage of STAGES) {
    for (const action of ['kms:ScheduleKeyDeletion', 'kms:DisableKey', 'kms:PutKeyPolicy', 'kms:CreateGrant']) {
      assert.notEqual(await kms(executionRole(stage), action), 'Allowed', `${stage} may ${action}`)
    }
  }
  const admin = { arn: `arn:aws:iam::${ACCOUNT}:role/ops-admin`, policies: [sluice.managedPolicy('arn:aws:iam::aws:policy/AdministratorAccess')] }
  assert.equal(await kms(admin, 'kms:PutKeyPolicy'), 'Allowed')
  const viaSns = { 'kms:ViaService': `sns.${REGION}.amazonaws.com` }
  assert.equal(await kms(sluice.role('DeployFunctionRole'), 'kms:GenerateDataKey', viaSns), 'Allowed')
  assert.notEqual(await kms(sluice.role('DeployFunctionRole'), 'kms:DisableKey'), 'Allowed')
})

// Objects encrypted with an AWS managed key (aws/s3, CodeBuild's default) can be read
// only in the key's account: a remote stage's template over 51,200 bytes, read by URL
// from its own account, would fail. The bucket's SSE-S3 has no key policy to pass.
// https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#aws-managed-key
test("the build's artifacts are encrypted as the bucket is (SSE-S3), which a remote stage can read", () => {
  const artifacts = sluice.properties('BuildProject').Artifacts
  assert.equal(artifacts.EncryptionDisabled, true, 'CodeBuild encrypts the artifacts with the aws/s3 KMS key')
  assert.equal(sluice.properties('BuildProject').EncryptionKey, undefined, 'the project names its own KMS key')
  const sse = sluice.properties('ArtifactBucket').BucketEncryption.ServerSideEncryptionConfiguration[0]
  assert.equal(sse.ServerSideEncryptionByDefault.SSEAlgorithm, 'AES256')
})

// Without a topic policy, anyone in the account whose own policy allows sns:* may
// subscribe (and receive every production approval link) or publish a fake one.
test("the topic takes messages only from Sluice's functions and alarms, and subscribers only from the administrator", async () => {
  const topic = sluice.ref('NotificationTopic')
  const policy = sluice.topicPolicy('NotificationTopic')
  const stranger = { arn: `arn:aws:iam::${ACCOUNT}:role/developer`, policies: [sluice.managedPolicy('arn:aws:iam::aws:policy/PowerUserAccess')] }
  for (const action of ['sns:Subscribe', 'sns:Publish', 'sns:SetTopicAttributes', 'sns:DeleteTopic']) {
    await assertDenied(stranger, action, topic, {}, policy)
  }
  for (const stage of STAGES) {
    await assertDenied(executionRole(stage), 'sns:Subscribe', topic, {}, policy)
    await assertDenied(executionRole(stage), 'sns:Publish', topic, {}, policy)
  }
  const admin = { arn: `arn:aws:iam::${ACCOUNT}:role/ops-admin`, policies: [sluice.managedPolicy('arn:aws:iam::aws:policy/AdministratorAccess')] }
  await assertAllowed(admin, 'sns:Subscribe', topic, {}, policy)
  await assertAllowed(sluice.role('DeployFunctionRole'), 'sns:Publish', topic, {}, policy)
  assert.equal(await byAlarm('sns:Publish', topic, ACCOUNT, policy), 'Allowed')
  assert.notEqual(await byAlarm('sns:Publish', topic, '999988887777', policy), 'Allowed')
})

// Deleting the sweeper's schedule silences the stuck-execution alarm, whose metric the
// sweeper writes (missing data there is not breaching): another alarm must notice.
test("the sweeper's silence raises an alarm to the topic", () => {
  const sweeper = sluice.ref('SweeperFunction')
  const heartbeat = sluice.ofType('AWS::CloudWatch::Alarm').map((id) => sluice.properties(id)).find((a) =>
    a.Namespace === 'AWS/Lambda' && a.MetricName === 'Invocations' &&
    (a.Dimensions ?? []).some((d) => d.Name === 'FunctionName' && d.Value === sweeper))
  assert.ok(heartbeat, "no alarm watches the sweeper's invocations")
  assert.equal(heartbeat.TreatMissingData, 'breaching', 'a sweeper that never runs publishes no data')
  assert.equal(heartbeat.ComparisonOperator, 'LessThanThreshold')
  assert.ok(heartbeat.AlarmActions.includes(sluice.ref('NotificationTopic')))
})

// IAM counts a policy's characters without white space: a managed policy (a stage's
// boundary) holds at most 6,144, a role's inline policies 10,240 together. Names and
// stages grow them: this is the largest pipeline Sluice accepts, its most stages
// (STAGES_MAX, 8), each named with the most characters a stage name has (32), the
// longest application name the parameter takes (63) and the longest pipeline name
// the README allows (40).
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html
const LONGEST_STAGE_NAMES = ['one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight']
  .map((n) => `stage-${n}-`.padEnd(32, 'x'))
const LONGEST_STAGES = LONGEST_STAGE_NAMES.join(',')
const LONGEST_APPLICATION = 'an-application-name-'.padEnd(63, 'x')

/** The pipeline with the longest names and the most stages Sluice accepts, and `more`. */
const longestPipeline = (more = {}) =>
  new Template(process.env.SLUICE_POLICY_TEMPLATE ?? `${root}template.yaml`, {
    stackName: 'a-forty-character-long-sluice-pipeline-x',
    account: ACCOUNT,
    region: 'ap-southeast-5',
    parameters: {
      // The largest definition `sluice definition parameters` writes.
      Definition: 'x'.repeat(DEFINITION_MAX),
      RepositoryName: 'a-repository-name-of-a-hundred-characters'.padEnd(100, 'x'),
      ApplicationName: LONGEST_APPLICATION,
      Stages: LONGEST_STAGES,
      AdministratorArn: `arn:aws:iam::${ACCOUNT}:role/aws-reserved/sso.amazonaws.com/ap-southeast-5/AWSReservedSSO_AdministratorAccess_0123456789abcdef`,
      ...more,
    },
  })

test("the largest configuration's boundaries and execution roles fit IAM's policy sizes", () => {
  const longest = longestPipeline()
  const size = (document) => JSON.stringify(document).replace(/\s/g, '').length
  for (const stage of longest.parameters.Stages) {
    const id = stage.replace(/[^A-Za-z0-9]/g, '')
    const boundary = size(longest.properties(`${id}Boundary`).PolicyDocument)
    assert.ok(boundary <= 6144, `${stage}'s boundary is ${boundary} characters, over IAM's 6,144`)
    const inline = longest.properties(`${id}ExecutionRole`).Policies.reduce((n, p) => n + size(p.PolicyDocument), 0)
    assert.ok(inline <= 10240, `${stage}'s execution role has ${inline} characters of inline policy, over IAM's 10,240`)
  }
})

// A role holds at most 10 managed policies (SAM adds AWSLambdaBasicExecutionRole to
// each function's), however many its inline policies, which may hold 10,240
// characters together; a function's environment, names and values, at most 4 KB.
// The most stages (8), every feature on, the longest names, and long lists.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html
// https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
test("the largest configuration's function roles and environments fit IAM's and Lambda's quotas", () => {
  const stages = LONGEST_STAGES
  // Every stage's own settings (tests, retries, alarms, windows, paths) are in the
  // Definition, at its largest; the parameters are what CloudFormation derives from it.
  const largest = longestPipeline({
    ApprovalStages: stages,
    TestStages: stages,
    AlarmStages: stages,
    SiteStages: LONGEST_STAGE_NAMES.slice(0, 2).join(','),
    SiteBucket: 'an-application-name-thirty-chr-*-site',
    SiteDistribution: 'an-application-name-thirty-chr-cdn:DistributionId',
    RemoteStages: LONGEST_STAGE_NAMES[7],
    RemoteAccountIds: '444455556666',
  })
  const size = (document) => JSON.stringify(document).replace(/\s/g, '').length
  const globals = largest.globalEnvironment()
  for (const fn of largest.ofType('AWS::Serverless::Function')) {
    const props = largest.properties(fn)
    const attached = largest.attachedTo(`${fn}Role`)
    const managed = (props.Policies ?? []).filter((p) => typeof p === 'string').length +
      attached.filter((p) => !p.inline).length + 1
    assert.ok(managed <= 10, `${fn}'s role holds ${managed} managed policies, over IAM's 10`)
    const inline = (props.Policies ?? []).filter((p) => typeof p !== 'string').reduce((n, p) => n + size(p), 0) +
      attached.filter((p) => p.inline).reduce((n, p) => n + size(p.policy), 0)
    assert.ok(inline <= 10240, `${fn}'s role has ${inline} characters of inline policy, over IAM's 10,240`)
    const variables = { ...globals, ...(props.Environment?.Variables ?? {}) }
    const environment = Object.entries(variables).reduce((n, [k, v]) => n + k.length + String(v).length, 0)
    assert.ok(environment <= 4096, `${fn}'s environment is ${environment} bytes, over Lambda's 4 KB`)
  }
})

// The policies compare the administrator's ARN whole, path included, with the role ARN
// IAM evaluates (aws:PrincipalArn). An IAM Identity Center role lives under
// /aws-reserved/sso.amazonaws.com/<region>/; rebuilt from get-caller-identity's
// assumed-role ARN it loses that path and never matches.
// https://docs.aws.amazon.com/singlesignon/latest/userguide/referencingpermissionsets.html
test('AdministratorArn is refused without an IAM Identity Center role\'s path, or as a session', () => {
  const spec = sluice.raw.Parameters.AdministratorArn
  const accepts = (arn) => new RegExp(`^(?:${spec.AllowedPattern})$`).test(arn)
  const sso = `arn:aws:iam::${ACCOUNT}:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_AdministratorAccess_0123456789abcdef`
  assert.ok(accepts(sso))
  assert.ok(accepts(`arn:aws:iam::${ACCOUNT}:role/platform-admin`))
  assert.ok(accepts(`arn:aws-cn:iam::${ACCOUNT}:user/ops`))
  assert.ok(!accepts(`arn:aws:iam::${ACCOUNT}:role/AWSReservedSSO_AdministratorAccess_0123456789abcdef`), 'the SSO role without its path')
  assert.ok(!accepts(`arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/ada`), 'a session')
  assert.match(spec.ConstraintDescription, /aws-reserved\/sso\.amazonaws\.com/)
})
