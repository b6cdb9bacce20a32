import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { IdentityError, loadOrCreateIdentity } from '../../node/identity.js'

const root = mkdtempSync(join(tmpdir(), 'weft-id-'))
after(() => { rmSync(root, { recursive: true, force: true }) })

test('creates a 0600 Ed25519 key once and loads the same identity after', async () => {
  const dir = join(root, 'a', 'b')
  const first = await loadOrCreateIdentity(dir)
  assert.equal(first.created, true)
  assert.match(first.peerName, /^12D3KooW/)
  assert.equal(first.seed.length, 32)
  assert.equal(statSync(join(dir, 'identity.key')).mode & 0o777, 0o600)
  assert.equal(statSync(dir).mode & 0o777, 0o700)
  const bytes = readFileSync(join(dir, 'identity.key'))
  assert.equal(bytes.length, 68)
  const second = await loadOrCreateIdentity(dir)
  assert.equal(second.created, false)
  assert.equal(second.peerName, first.peerName)
  assert.deepEqual(second.seed, first.seed)
  assert.equal(second.modeWarning, undefined)
})

test('concurrent creators agree on one identity', async () => {
  const dir = join(root, 'race')
  const all = await Promise.all([1, 2, 3, 4].map(async () => await loadOrCreateIdentity(dir)))
  assert.equal(new Set(all.map(i => i.peerName)).size, 1)
  assert.equal(all.filter(i => i.created).length, 1)
})

test('a group/world readable key loads with a warning', async () => {
  const dir = join(root, 'loose')
  await loadOrCreateIdentity(dir)
  chmodSync(join(dir, 'identity.key'), 0o644)
  const id = await loadOrCreateIdentity(dir)
  assert.match(id.modeWarning ?? '', /readable by others \(mode 0644\); run: chmod 600 /)
})

test('an invalid key file is refused, not replaced', async () => {
  const dir = join(root, 'bad')
  await loadOrCreateIdentity(dir)
  writeFileSync(join(dir, 'identity.key'), 'not a key')
  await assert.rejects(loadOrCreateIdentity(dir), (err: unknown) => {
    assert.ok(err instanceof IdentityError)
    assert.match(err.message, /identity .*identity\.key is not a valid key .*move it away/)
    assert.ok(!err.message.includes('\n'))
    return true
  })
  assert.equal(readFileSync(join(dir, 'identity.key'), 'utf8'), 'not a key')
})

test('no key beside a store: refused, naming the key and the recovery, and no key is left behind', async () => {
  for (const trace of ['store.mdb', 'store.mdb-lock', 'allocations.mdb', 'allocations.mdb-lock']) {
    const dir = join(root, `orphan-${trace}`)
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, trace), 'x')
    await assert.rejects(loadOrCreateIdentity(dir), (err: unknown) => {
      assert.ok(err instanceof IdentityError)
      assert.equal(err.code, 'missing')
      assert.ok(err.message.startsWith(`${join(dir, 'identity.key')} is missing, but ${dir} holds a peer's store (${trace})`), err.message)
      assert.match(err.message, /Put identity\.key back; or, to start this host as a new peer, move .* aside/)
      assert.ok(!err.message.includes('\n'))
      return true
    })
    assert.deepEqual(readdirSync(dir), [trace])
  }
})
