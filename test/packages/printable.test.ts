import { test } from 'node:test'
import assert from 'node:assert/strict'
import { isPrintable, printable } from '../../packages/printable/index.js'

test('controls, separators and format characters are escaped; letters, marks and the backslash are kept', () => {
  assert.equal(printable('\u001b[31mred\u001b[0m'), '\\x1b[31mred\\x1b[0m')
  assert.equal(printable('a\r\nb\tc\u0000\u007f'), 'a\\x0d\\x0ab\\x09c\\x00\\x7f')
  assert.equal(printable('csi\u009b2J nel\u0085'), 'csi\\x9b2J nel\\x85')
  assert.equal(printable('bidi\u202eevil\u2066 zwj\u200d ls\u2028ps\u2029 tag\u{e0041}'), 'bidi\\u{202e}evil\\u{2066} zwj\\u{200d} ls\\u{2028}ps\\u{2029} tag\\u{e0041}')
  assert.equal(printable('lone \ud800 surrogate'), 'lone \\u{d800} surrogate')
  for (const kept of ['host-1', 'hôte', 'ホスト', 'naïve café', 'a\\x1b', '日本語 😀', 'e\u0301']) assert.equal(printable(kept), kept)
  assert.equal(isPrintable('ok'), true)
  assert.equal(isPrintable('no\u0007'), false)
})

test('escaping twice changes nothing: text escaped where it enters can be guarded again where it is shown', () => {
  for (const s of ['\u001b]0;title\u0007', 'x\u009b\u202e\r\n', 'plain']) assert.equal(printable(printable(s)), printable(s))
})
