// Who hears of an approval: one email subscription per address in ApprovalEmails, and
// a stack whose stages wait for approval while nobody would be told is refused at
// deploy (issue 30, item 6).

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { pipelineTemplate } from './template.mjs'
import { ACCOUNT } from './iam.mjs'

const ADMIN = `arn:aws:iam::${ACCOUNT}:role/ops-admin`
const sluice = (parameters) =>
  pipelineTemplate('sluice', { account: ACCOUNT, region: 'us-east-1', admin: ADMIN }, { RepositoryName: 'hello', ApplicationName: 'hello', ...parameters })

const subscribed = (template) =>
  template.ofType('AWS::SNS::Subscription').map((id) => {
    const p = template.properties(id)
    return `${p.Protocol}:${p.Endpoint}`
  }).sort()

test('each address in ApprovalEmails gets its own email subscription', () => {
  const template = sluice({ ApprovalEmails: 'ada@example.com,grace.hopper@example.org' })
  assert.deepEqual(subscribed(template), ['email:ada@example.com', 'email:grace.hopper@example.org'])
  assert.deepEqual(template.failedRules(), [])
})

test('a gated stage with no one to tell is refused at deploy, saying what to do', () => {
  const template = sluice({ ApprovalEmails: '', ApprovalStages: 'production' })
  assert.deepEqual(subscribed(template), [])
  const [refusal, ...more] = template.failedRules()
  assert.equal(more.length, 0)
  assert.match(refusal, /ApprovalEmails is empty/)
  assert.match(refusal, /list at least one address/)
})

test('a pipeline with no gate needs no address', () => {
  const template = sluice({ ApprovalEmails: '', ApprovalStages: '' })
  assert.deepEqual(template.failedRules(), [])
  assert.deepEqual(subscribed(template), [])
})

test('an empty entry in ApprovalEmails is refused at deploy', () => {
  for (const emails of ['ada@example.com,', 'ada@example.com,,grace@example.com', ',ada@example.com']) {
    const refusals = sluice({ ApprovalEmails: emails }).failedRules()
    assert.equal(refusals.length, 1, emails)
    assert.match(refusals[0], /ApprovalEmails has an empty entry/)
  }
})
