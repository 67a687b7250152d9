// Isolation that holds without help from the request: two Sluice pipelines in one
// account, and what each stage of one can do to the other, and to the other stages of
// its own. Each request carries only the context AWS presents for it: no resource tag
// where the service evaluates none (S3 without ABAC, EventBridge Scheduler, anything no
// stack created), the sluice:pipeline tag where the service does (Lambda, KMS).

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { pipelineTemplate } from './template.mjs'
import { ACCOUNT, assertAllowed, assertDenied } from './iam.mjs'

const REGION = 'us-east-1'
const ADMIN = `arn:aws:iam::${ACCOUNT}:role/ops-admin`

/** A Sluice pipeline as template.yaml (or SLUICE_POLICY_TEMPLATE) deploys it. */
const pipeline = (stackName, parameters) =>
  pipelineTemplate(stackName, { account: ACCOUNT, region: REGION, admin: ADMIN }, parameters)

// The README's own pair: an API and its front-end, each with its pipeline.
const api = pipeline('sluice', { RepositoryName: 'hello-api', ApplicationName: 'hello', Stages: 'dev,staging,production' })
const web = pipeline('sluice-web', {
  RepositoryName: 'hello-web', ApplicationName: 'web', Stages: 'staging,production',
  SiteStages: 'staging,production', SiteBucket: 'web-*',
})
const PIPELINES = [
  { name: 'api', t: api, stages: ['dev', 'staging', 'production'] },
  { name: 'web', t: web, stages: ['staging', 'production'] },
]

/** The execution role of `stage` in pipeline `t`, where the functions find it. */
function executionRole(t, stage) {
  const arn = `${t.globalEnvironment().SLUICE_STAGE_ROLE_PREFIX}${stage}-execution`
  const id = t.ofType('AWS::IAM::Role').find((r) => t.getAtt(r, 'Arn') === arn)
  assert.ok(id, `no role has the ARN ${arn}`)
  return t.role(id)
}

/** The worst role an application of `stage` can make: everything, under the boundary. */
function applicationRole(t, stage) {
  const app = t.parameters.ApplicationName
  return {
    arn: `arn:aws:iam::${ACCOUNT}:role/${app}-${stage}-HelloFunctionRole-1A2B3C4D`,
    policies: [t.managedPolicy('arn:aws:iam::aws:policy/AdministratorAccess')],
    boundary: t.managedPolicy(`${t.globalEnvironment().SLUICE_STAGE_BOUNDARY_PREFIX}${stage}-boundary`),
  }
}

/** Every principal a commit pushed to `stage` of `t` acts as. */
const pushers = (t, stage) => [executionRole(t, stage), applicationRole(t, stage)]

const lambdaTag = (t) => ({ 'aws:ResourceTag/sluice:pipeline': t.stackName })

// ---- Item 1: every pipeline protects every pipeline ---------------------------------

for (const from of PIPELINES) {
  for (const to of PIPELINES.filter((p) => p !== from)) {
    for (const stage of from.stages) {
      test(`${from.name} ${stage}: cannot invoke or change ${to.name}'s functions, by name alone or by tag`, async () => {
        for (const fn of ['ApproverFunction', 'OperatorFunction', 'SweeperFunction']) {
          const arn = to.t.getAtt(fn, 'Arn')
          for (const who of pushers(from.t, stage)) {
            for (const action of ['lambda:InvokeFunction', 'lambda:UpdateFunctionCode', 'lambda:UpdateFunctionConfiguration', 'lambda:AddPermission']) {
              await assertDenied(who, action, arn)
              await assertDenied(who, action, arn, lambdaTag(to.t))
            }
          }
        }
      })

      test(`${from.name} ${stage}: cannot subscribe to ${to.name}'s topic or publish a fake approval there`, async () => {
        const topic = to.t.ref('NotificationTopic')
        for (const who of pushers(from.t, stage)) {
          for (const action of ['sns:Subscribe', 'sns:Publish', 'sns:SetTopicAttributes']) {
            // Denied by the stage's own policy, and again by the topic's.
            await assertDenied(who, action, topic)
            await assertDenied(who, action, topic, {}, to.t.topicPolicy('NotificationTopic'))
          }
        }
      })

      test(`${from.name} ${stage}: cannot read ${to.name}'s state, write its artifacts or its live site`, async () => {
        const bucket = to.t.ref('ArtifactBucket')
        const policy = to.t.bucketPolicy('ArtifactBucket')
        const state = `arn:aws:s3:::${bucket}/pipelines/${to.t.stackName}/executions/1800000000000-0123456789ab.json`
        const code = `arn:aws:s3:::${bucket}/artifacts/${to.t.stackName}/1800000000000-0123456789ab/packaged.yaml`
        for (const who of pushers(from.t, stage)) {
          await assertDenied(who, 's3:GetObject', state, {}, policy)
          await assertDenied(who, 's3:PutObject', state, {}, policy)
          await assertDenied(who, 's3:PutObject', code, {}, policy)
          await assertDenied(who, 's3:DeleteObject', code, {}, policy)
          await assertDenied(who, 's3:PutBucketPolicy', `arn:aws:s3:::${bucket}`, {}, policy)
          for (const site of to.stages) {
            await assertDenied(who, 's3:PutObject', `arn:aws:s3:::${to.t.parameters.ApplicationName}-${site}/index.html`)
            await assertDenied(who, 's3:PutBucketPolicy', `arn:aws:s3:::${to.t.parameters.ApplicationName}-${site}`)
          }
        }
      })

      test(`${from.name} ${stage}: cannot silence ${to.name}'s sweeper, rules, alarms, logs, key, build or repository`, async () => {
        // The sweeper's schedule: in its own group, or (before it had one) the default.
        const group = to.t.ofType('AWS::Scheduler::ScheduleGroup').length ? to.t.ref('SweeperScheduleGroup') : 'default'
        const schedule = `arn:aws:scheduler:${REGION}:${ACCOUNT}:schedule/${group}/SweeperFunctionEvery5Minutes-1A2B3C`
        const rule = `arn:aws:events:${REGION}:${ACCOUNT}:rule/sluice-${to.t.stackName}-push`
        const alarm = `arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:sluice-${to.t.stackName}-execution-stuck`
        const logs = to.t.getAtt('SweeperFunctionLogGroup', 'Arn')
        const project = to.t.getAtt('BuildProject', 'Arn')
        const repository = `arn:aws:codecommit:${REGION}:${ACCOUNT}:${to.t.parameters.RepositoryName}`
        for (const who of pushers(from.t, stage)) {
          // Schedules, rules and alarms: no tag in the request.
          await assertDenied(who, 'scheduler:DeleteSchedule', schedule)
          await assertDenied(who, 'scheduler:UpdateSchedule', schedule)
          await assertDenied(who, 'events:DisableRule', rule)
          await assertDenied(who, 'events:PutTargets', rule)
          await assertDenied(who, 'cloudwatch:DeleteAlarms', alarm)
          await assertDenied(who, 'cloudwatch:DisableAlarmActions', alarm)
          await assertDenied(who, 'logs:DeleteLogGroup', logs)
          await assertDenied(who, 'codebuild:UpdateProject', project)
          await assertDenied(who, 'codebuild:StartBuild', project)
          await assertDenied(who, 'codecommit:GitPush', repository)
          // A key's id is random: only its tag names it.
          const key = to.t.getAtt('NotificationKey', 'Arn')
          const keyPolicy = to.t.properties('NotificationKey').KeyPolicy
          await assertDenied(who, 'kms:ScheduleKeyDeletion', key, lambdaTag(to.t), keyPolicy)
          await assertDenied(who, 'kms:Decrypt', key, lambdaTag(to.t), keyPolicy)
        }
      })
    }
  }
}

// ---- Item 2: stages of one pipeline, told apart by name where tags fail -------------

const api_ = PIPELINES[0]
for (const stage of api_.stages) {
  const others = api_.stages.filter((s) => s !== stage)
  test(`${stage}: changes no bucket of another stage (S3 evaluates no tag)`, async () => {
    for (const other of others) {
      const bucket = `arn:aws:s3:::hello-${other}-assets-1a2b3c`
      for (const who of pushers(api, stage)) {
        for (const action of ['s3:PutBucketPolicy', 's3:DeleteBucket', 's3:PutBucketAcl', 's3:PutLifecycleConfiguration']) {
          await assertDenied(who, action, bucket)
        }
        await assertDenied(who, 's3:PutObject', `${bucket}/index.html`)
        await assertDenied(who, 's3:DeleteObject', `${bucket}/data/customers.csv`)
      }
    }
  })

  test(`${stage}: reads no parameter or secret of another stage, made by hand and untagged`, async () => {
    for (const other of others) {
      for (const who of pushers(api, stage)) {
        for (const name of [`/${other}/db-password`, `/hello/${other}/db-password`]) {
          await assertDenied(who, 'ssm:GetParameter', `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter${name}`)
          await assertDenied(who, 'ssm:PutParameter', `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter${name}`)
        }
        for (const name of [`${other}/db-AbCdEf`, `hello-${other}-db-AbCdEf`]) {
          await assertDenied(who, 'secretsmanager:GetSecretValue', `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${name}`)
          await assertDenied(who, 'secretsmanager:PutResourcePolicy', `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${name}`)
        }
      }
    }
  })

  test(`${stage}: sets, silences or deletes no alarm of another stage`, async () => {
    for (const other of others) {
      // The alarm a watched stage's rollback hangs on, made by the application's stack.
      const alarm = `arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:hello-${other}-errors`
      for (const who of pushers(api, stage)) {
        for (const action of ['cloudwatch:SetAlarmState', 'cloudwatch:DisableAlarmActions', 'cloudwatch:DeleteAlarms', 'cloudwatch:PutMetricAlarm']) {
          await assertDenied(who, action, alarm)
        }
      }
    }
  })

  test(`${stage}: touches none of the account's defences`, async () => {
    for (const who of pushers(api, stage)) {
      await assertDenied(who, 'cloudtrail:StopLogging', `arn:aws:cloudtrail:${REGION}:${ACCOUNT}:trail/organization-trail`)
      await assertDenied(who, 'cloudtrail:DeleteTrail', `arn:aws:cloudtrail:${REGION}:${ACCOUNT}:trail/organization-trail`)
      await assertDenied(who, 'guardduty:DeleteDetector', `arn:aws:guardduty:${REGION}:${ACCOUNT}:detector/12abc34d567e8fa901bc2d34e56789f0`)
      await assertDenied(who, 'config:StopConfigurationRecorder', '*')
      await assertDenied(who, 'securityhub:DisableSecurityHub', `arn:aws:securityhub:${REGION}:${ACCOUNT}:hub/default`)
      await assertDenied(who, 's3:PutAccountPublicAccessBlock', '*')
    }
  })

  // IAM Identity Center makes its AWSReservedSSO_ roles itself, with no boundary for
  // IAM to check: a pushed AWS::SSO::PermissionSet and Assignment in an account that
  // holds the organization's instance would hand the pusher AdministratorAccess.
  test(`${stage}: gives no one access through IAM Identity Center`, async () => {
    const instance = 'arn:aws:sso:::instance/ssoins-0123456789abcdef'
    for (const who of pushers(api, stage)) {
      await assertDenied(who, 'sso:CreatePermissionSet', instance)
      await assertDenied(who, 'sso:AttachManagedPolicyToPermissionSet', `${instance}/ps-0123456789abcdef`)
      await assertDenied(who, 'sso:CreateAccountAssignment', instance)
      await assertDenied(who, 'identitystore:CreateUser', 'arn:aws:identitystore::123456789012:identitystore/d-0123456789')
      await assertDenied(who, 'sso-directory:CreateUser', '*')
    }
  })

  test(`${stage}: an application role assumes no role but its own stack's`, async () => {
    const role = applicationRole(api, stage)
    // A role of the account that trusts the account's root, as many do.
    await assertDenied(role, 'sts:AssumeRole', ADMIN)
    await assertDenied(role, 'sts:AssumeRole', `arn:aws:iam::${ACCOUNT}:role/hello-${others[0]}-Worker-9Z8Y7X`)
    await assertAllowed(role, 'sts:AssumeRole', `arn:aws:iam::${ACCOUNT}:role/hello-${stage}-Worker-9Z8Y7X`)
  })

  test(`${stage}: still deploys and runs its own application`, async () => {
    const bucket = `arn:aws:s3:::hello-${stage}-assets-1a2b3c`
    const execution = executionRole(api, stage)
    await assertAllowed(execution, 's3:CreateBucket', bucket)
    await assertAllowed(execution, 's3:PutBucketPolicy', bucket)
    await assertAllowed(execution, 'cloudwatch:PutMetricAlarm', `arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:hello-${stage}-HelloErrors-1A2B`)
    await assertAllowed(execution, 'ssm:PutParameter', `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/hello/${stage}/greeting`)
    await assertAllowed(execution, 'ssm:PutParameter', `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/CFN-GreetingParameter-AbCd`)
    const app = applicationRole(api, stage)
    await assertAllowed(app, 's3:PutObject', `${bucket}/uploads/a.png`)
    // (AWS's public parameters, arn:aws:ssm:<region>::parameter/aws/..., have no
    // account, which the simulator cannot parse: the policy lists them explicitly.)
    await assertAllowed(app, 'ssm:GetParameter', `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/${stage}/db-password`)
    await assertAllowed(app, 'secretsmanager:GetSecretValue', `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:hello-${stage}-db-AbCdEf`)
    await assertAllowed(app, 'dynamodb:PutItem', `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/hello-${stage}-Table-1A2B`)
  })
}

// ---- Item 4: operator commands that cannot be replayed ------------------------------

// Lambda tries a failed asynchronous invocation twice more and can keep its payload in
// an on-failure queue for 14 days: a signed command must do neither.
test('the operator and approver functions are never retried by Lambda and keep no payload', () => {
  for (const fn of ['OperatorFunction', 'ApproverFunction']) {
    const own = api.properties(fn).EventInvokeConfig
    const global = api.value(api.raw.Globals?.Function?.EventInvokeConfig ?? null)
    // SAM merges the Globals' map into the function's: neither may retry or keep.
    for (const config of [own, global].filter(Boolean)) {
      assert.equal(config.MaximumRetryAttempts ?? 2, 0, `${fn} is retried`)
      assert.equal(config.DestinationConfig, undefined, `${fn} sends its payload on`)
    }
    assert.ok(own, `${fn} has no EventInvokeConfig, so Lambda retries it twice`)
  }
})
