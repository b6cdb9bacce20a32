import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { StatusJson } from '../node/api/types.js'
import { isProcessAlive, readPidFile } from '../node/data-dir.js'
import type { CliIo } from './main.js'

/**
 * `weft demo`: four peers on this machine, in temporary data dirs on
 * loopback, walked through the life of a cluster with the real commands,
 * each shown as a user would type it. Cleans up after itself, on Ctrl-C too.
 */

const WEFT_BIN = fileURLToPath(new URL('../../bin/weft.js', import.meta.url))
const NAMES = ['host1', 'host2', 'host3', 'host4'] as const
/** The cluster key, in the demo's dir (the commands run there). */
const KEY_FILE = 'cluster.key'
type Host = typeof NAMES[number]

interface Run { code: number, out: string, err: string }

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const a = s.address()
      s.close(() => { resolve(typeof a === 'object' && a !== null ? a.port : 0) })
    })
  })
}

export class Demo {
  private readonly io: CliIo
  private readonly root: string
  private readonly ports = new Map<Host, number>()
  private cleaned = false

  constructor (io: CliIo) {
    this.io = io
    this.root = mkdtempSync(join(tmpdir(), 'weft-demo-'))
  }

  private dir (h: Host): string { return join(this.root, h) }

  private say (text: string): void { this.io.out(`\n${text}\n`) }

  /** Runs `weft ARGS` as `host`, printing the command and its output. */
  private async weft (host: Host, args: string[], opts: { quiet?: boolean, expectFail?: boolean } = {}): Promise<Run> {
    if (opts.quiet !== true) this.io.out(`[${host}] $ weft ${args.join(' ')}\n`)
    const r = await this.exec(host, args)
    if (opts.quiet !== true) this.print(r)
    if (r.code !== 0 && opts.expectFail !== true) throw new Error(`weft ${args.join(' ')} failed: ${r.err.trim()}`)
    return r
  }

  /** Runs two commands at the same moment (two operators), then shows what each printed. */
  private async together (a: [Host, string[]], b: [Host, string[]]): Promise<[Run, Run]> {
    for (const [host, args] of [a, b]) this.io.out(`[${host}] $ weft ${args.join(' ')}\n`)
    const runs = await Promise.all([this.exec(...a), this.exec(...b)])
    runs.forEach((r, i) => { this.io.out(`[${[a, b][i]![0]}] exit ${r.code}\n`); this.print(r) })
    return runs
  }

  private print (r: Run): void {
    for (const line of (r.out + r.err).trimEnd().split('\n')) if (line !== '') this.io.out(`    ${line}\n`)
  }

  private async exec (host: Host, args: string[]): Promise<Run> {
    return await new Promise<Run>((resolve, reject) => {
      const child = spawn(process.execPath, [WEFT_BIN, ...args], {
        // In the demo's dir, where the cluster key is.
        cwd: this.root,
        env: { ...process.env, WEFT_DATA_DIR: this.dir(host) },
        stdio: ['ignore', 'pipe', 'pipe']
      })
      let out = ''
      let err = ''
      child.stdout.on('data', (c: Buffer) => { out += c.toString() })
      child.stderr.on('data', (c: Buffer) => { err += c.toString() })
      const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`weft ${args.join(' ')} did not finish within 90 s`)) }, 90_000)
      child.once('close', code => { clearTimeout(timer); resolve({ code: code ?? 1, out, err }) })
    })
  }

  private async status (host: Host): Promise<StatusJson> {
    return JSON.parse((await this.weft(host, ['status', '--json'], { quiet: true })).out) as StatusJson
  }

  private async until (what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!await check().catch(() => false)) {
      if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`)
      await new Promise(resolve => setTimeout(resolve, 250))
    }
  }

  private async launch (host: Host, peers: string[] = []): Promise<void> {
    let port = this.ports.get(host)
    if (port === undefined) { port = await freePort(); this.ports.set(host, port) }
    await this.weft(host, ['launch', ...peers, '--listen', `127.0.0.1:${port}`, '--nickname', host, '--key-file', KEY_FILE])
  }

  private addr (h: Host): string { return `127.0.0.1:${this.ports.get(h)!}` }

  async run (): Promise<void> {
    this.io.out(`weft demo: four peers on this machine, data in ${this.root}\n`)
    this.say('1. Launch. A cluster key first: only peers launched with it can connect (copy it to every host).\n' +
      '   host1 founds a cluster over 10.32.0.0/12; host2, host3 and host4 join it.')
    await this.weft('host1', ['key', '--out', KEY_FILE])
    await this.launch('host1')
    for (const h of ['host2', 'host3', 'host4'] as const) await this.launch(h, [this.addr('host1')])
    for (const h of NAMES) await this.weft(h, ['wait-ready', '--timeout', '30'], { quiet: true })
    await this.weft('host1', ['status', 'peers'])

    this.say('2. Allocate. host3 owns nothing yet, so it asks the peer with the most free space (host1)\n' +
      '   to donate: host1 signs a transfer of half its biggest free block, and host3 allocates from it.')
    await this.weft('host3', ['alloc', 'web-1'])
    await this.weft('host3', ['alloc', 'web-2'])
    this.say('   host2 asks too; host1 now has the most free space and gives half of its biggest free block.')
    await this.weft('host2', ['alloc', 'db-1'])
    await this.weft('host1', ['alloc', 'cache-1'])
    await this.weft('host1', ['status', 'peers'])

    this.say('3. Stop and relaunch. host2 keeps its identity, log and allocations: the same ID gets the same address.')
    await this.weft('host2', ['stop'])
    await this.launch('host2')
    await this.weft('host2', ['alloc', 'db-1'])
    await this.until('host2 to reconnect to everyone', async () => (await this.status('host2')).peers.filter(p => p.connected).length === 3)

    this.say('4. host3 dies (here: we stop it). Its 524288 addresses are stranded until a peer takes them over.\n' +
      '   host1 removes it. weft refuses at first: host3 was seen moments ago and might be alive.')
    await this.weft('host3', ['stop'])
    await this.weft('host1', ['rmpeer', 'host3'], { expectFail: true })
    this.say('   Two operators are sure it is dead, and both force it, on host1 and host2, at the same moment.\n' +
      '   (Weave\'s seed says never to do that: the space gets two owners.) Here the live members vote\n' +
      '   first: one takeover wins, the other appends nothing and names the winner.')
    await this.together(['host1', ['rmpeer', 'host3', '--force']], ['host2', ['rmpeer', 'host3', '--force']])
    await this.until('everyone to see host3 removed', async () => (await Promise.all((['host1', 'host2', 'host4'] as const).map(async h => await this.status(h))))
      .every(s => s.peers.find(p => p.nickname === 'host3')?.removed === true))
    this.say('   No dispute: one owner for host3\'s space, and the log records who approved it.')
    await this.weft('host4', ['status', 'peers'])
    await this.weft('host4', ['history', '--kind', 'takeover'])

    this.say('5. Without a majority there is no vote. host4 allocates (by donation), then dies; and a\n' +
      '   partition cuts host2 off from host1 (we stop host2 for a moment).')
    await this.weft('host4', ['alloc', 'batch-1'])
    await this.weft('host4', ['stop'])
    await this.weft('host2', ['stop'])
    this.say('   host1 alone is 1 of the 3 live members: it refuses to take host4 over, since a takeover now\n' +
      '   may collide with one on the other side.')
    await this.weft('host1', ['rmpeer', 'host4'], { expectFail: true })
    this.say('   Its operator is sure, and forces it.')
    await this.weft('host1', ['rmpeer', 'host4', '--force'])
    this.say('   The mistake Weave users know: host2, on the other side, does the same.\n' +
      '   (host1 is down meanwhile; host2 comes back and waits a few seconds for peers before it is ready.)')
    await this.weft('host1', ['stop'])
    await this.launch('host2')
    await this.weft('host2', ['wait-ready', '--timeout', '30'], { quiet: true })
    await this.weft('host2', ['rmpeer', 'host4'], { expectFail: true })
    await this.weft('host2', ['rmpeer', 'host4', '--force'])
    this.say('   host1 comes back. Each side sees the other\'s takeover of host4: a dispute. They record it as a\n' +
      '   signed conflict event, drop the connection, and nobody allocates from the disputed space.')
    await this.launch('host1')
    await this.until('both sides to flag the dispute', async () => {
      const [a, b] = await Promise.all([this.status('host1'), this.status('host2')])
      return a.conflicts.unresolved > 0 && b.conflicts.unresolved > 0
    })
    await this.weft('host1', ['status'])
    await this.weft('host1', ['status', 'connections'])
    await this.weft('host2', ['conflicts'], { expectFail: true })

    this.say('6. Resolve. Any peer can settle the dispute; without --owner the first claimant gets the space.\n' +
      '   Once a peer holds the resolve, the cliques re-merge on their next reconnect.')
    const disputes = await this.openDisputes('host2')
    await this.weft('host2', ['resolve', disputes[0]!])
    await this.until('the cliques to re-merge', async () => {
      const [a, b] = await Promise.all([this.status('host1'), this.status('host2')])
      return a.conflicts.unresolved === 0 && b.conflicts.unresolved === 0 && a.peers.some(p => p.nickname === 'host2' && p.connected)
    }, 90_000)
    await this.weft('host1', ['status', 'peers'])
    this.say('That is weft: no central server, every change signed and replicated, takeovers approved by a\n' +
      'majority, disputes flagged and resolved when there is none, never silent.')
  }

  private async openDisputes (host: Host): Promise<string[]> {
    const r = await this.weft(host, ['conflicts', '--json'], { quiet: true, expectFail: true })
    if (r.code === 0) {
      const j = JSON.parse(r.out) as { disputes?: Array<{ id: string, status: string }> }
      const open = (j.disputes ?? []).filter(x => x.status === 'open').map(x => x.id)
      if (open.length > 0) return open
    }
    throw new Error('no open dispute found')
  }

  /** Stops every peer (SIGKILL if they do not go) and removes the data. Safe to call twice. */
  async cleanup (): Promise<void> {
    if (this.cleaned) return
    this.cleaned = true
    for (const h of NAMES) {
      const pid = readPidFile(join(this.dir(h), 'weft.pid'))
      if (pid === undefined || !isProcessAlive(pid)) continue
      try { process.kill(pid, 'SIGTERM') } catch {}
      const deadline = Date.now() + 5000
      while (isProcessAlive(pid) && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 50))
      if (isProcessAlive(pid)) try { process.kill(pid, 'SIGKILL') } catch {}
    }
    rmSync(this.root, { recursive: true, force: true })
  }
}
