// The stage configurations Sluice's own buildspec ships (deploy/*.json, the template
// configuration each stage of a pipeline delivering Sluice deploys with) name only
// parameters template.yaml declares, and give every one it requires: CloudFormation
// refuses a change set otherwise, after the build, at the first stage. The account's
// AdministratorArn is the one added at build time (scripts/stage-configs.py).

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'

const root = fileURLToPath(new URL('../../', import.meta.url))

test("each of deploy/*.json names only template.yaml's parameters and gives the required ones", () => {
  // Only the Parameters section is read: the functions' tags (!Ref, !Sub) need no meaning.
  const declared = parse(readFileSync(`${root}template.yaml`, 'utf8'), { logLevel: 'silent' }).Parameters
  const required = Object.keys(declared).filter((name) => !('Default' in declared[name]))
  const files = readdirSync(`${root}deploy`).filter((f) => f.endsWith('.json'))
  assert.ok(files.length > 0, 'deploy/ holds the stage configurations')
  const buildspec = readFileSync(`${root}buildspec.yml`, 'utf8')
  assert.ok(buildspec.includes('scripts/stage-configs.py'), 'buildspec.yml writes the configurations')
  const addedAtBuild = ['AdministratorArn']
  for (const file of files) {
    assert.ok(buildspec.includes(`- ${file}`), `buildspec.yml's artifacts hold ${file}`)
    const { Parameters = {}, Tags = {} } = JSON.parse(readFileSync(`${root}deploy/${file}`, 'utf8'))
    for (const name of Object.keys(Parameters)) {
      assert.ok(name in declared, `deploy/${file}: template.yaml has no parameter ${name}`)
    }
    for (const name of required.filter((n) => !addedAtBuild.includes(n))) {
      assert.ok(name in Parameters, `deploy/${file}: gives no ${name}, which template.yaml requires`)
    }
    for (const value of Object.values(Tags)) assert.equal(typeof value, 'string')
  }
})

test('the build adds the AdministratorArn to each configuration, or says it is missing', () => {
  const dir = mkdtempSync(`${tmpdir()}/sluice-configs-`)
  symlinkSync(`${root}deploy`, `${dir}/deploy`)
  const run = (env) => execFileSync('python3', [`${root}scripts/stage-configs.py`], { cwd: dir, env, stdio: 'pipe' })
  const arn = 'arn:aws:iam::111122223333:role/admins/platform'
  run({ ...process.env, SLUICE_ADMINISTRATOR_ARN: arn })
  for (const file of readdirSync(`${root}deploy`).filter((f) => f.endsWith('.json'))) {
    const written = JSON.parse(readFileSync(`${dir}/${file}`, 'utf8'))
    assert.equal(written.Parameters.AdministratorArn, arn, file)
  }
  const { SLUICE_ADMINISTRATOR_ARN, ...without } = process.env
  assert.throws(() => run(without), (e) => String(e.stderr).includes('SLUICE_ADMINISTRATOR_ARN is not set'))
})
