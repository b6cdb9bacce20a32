import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createLogger, lineSink } from '../../node/logger.js'
import { decodeFrame, encodeBye, encodeHello, FRAME_BYE, FRAME_HELLO } from '../../node/net/frames.js'
import { SYNC_PROTOCOL } from '../../node/log-service/types.js'

/** Text a remote host chose is escaped where it enters (DESIGN.md §3.3), and no log line carries a control character. */

test('a BYE\'s code and text, and a hello\'s nickname and ranges, are escaped as they are decoded', () => {
  const bye = decodeFrame(encodeBye('x\u001b[31m', 'gone\u001b[2J\r\nweft: ok\u0085'))
  assert.equal(bye.type, FRAME_BYE)
  assert.deepEqual(bye.type === FRAME_BYE ? [bye.code, bye.message] : [], ['x\\x1b[31m', 'gone\\x1b[2J\\x0d\\x0aweft: ok\\x85'])
  const hello = decodeFrame(encodeHello({
    protocol: { ...SYNC_PROTOCOL },
    eventFormat: 1,
    range: '10.32.0.0/12\u0007',
    peer: { name: '12D3KooWNxZyy15r7UKr9BoNGKqtBSH3rFC1ntvohJrEXcL5XHf9', nickname: 'nick\u202e\u001b]0;t\u0007' },
    disputes: [],
    resolved: [],
    init: { mode: 'consensus', n: 3, range: 'r\u001b' }
  }))
  assert.equal(hello.type, FRAME_HELLO)
  if (hello.type !== FRAME_HELLO) return
  assert.equal(hello.hello.peer.nickname, 'nick\\u{202e}\\x1b]0;t\\x07')
  assert.equal(hello.hello.range, '10.32.0.0/12\\x07')
  assert.deepEqual(hello.hello.init, { mode: 'consensus', n: 3, range: 'r\\x1b' })
})

test('a log line holds no control character, whatever the message', () => {
  const lines: string[] = []
  const log = createLogger(lineSink(l => { lines.push(l) }, 'debug', () => 0)).forComponent('weft:test')
  log.warn('dropped by x: \u001b[2J\r\n1970-01-01T00:00:00.000Z ERROR weft:forged all lost\u0085')
  assert.deepEqual(lines, ['1970-01-01T00:00:00.000Z WARN  weft:test dropped by x: \\x1b[2J\\x0d\\x0a1970-01-01T00:00:00.000Z ERROR weft:forged all lost\\x85\n'])
})
