/**
 * Text from elsewhere, made safe to print on a terminal or in a log line:
 * every control or invisible character is escaped, so that nothing a remote
 * host chose can move the cursor, clear the screen, set a window title,
 * start a new log line or reorder the text around it (bidi overrides).
 *
 * Escaped: C0 controls and DEL (`\x1b`), C1 controls (`\x9b`), line and
 * paragraph separators, format characters such as bidi controls and
 * zero-width joiners (`\u{202e}`) and lone surrogates. Everything else,
 * letters of every script and the backslash included, is kept: so escaping
 * twice changes nothing, and text can be escaped where it enters and again,
 * as a guard, where it is printed.
 */

// Controls (Cc), format characters (Cf), lone surrogates (Cs), line and paragraph separators (Zl, Zp).
const UNSAFE = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/gu

/** `text` with every unsafe character escaped (see above); safe text comes back unchanged. */
export function printable (text: string): string {
  UNSAFE.lastIndex = 0
  if (!UNSAFE.test(text)) return text
  return text.replace(UNSAFE, escape)
}

/** Whether `text` prints as itself. */
export function isPrintable (text: string): boolean {
  UNSAFE.lastIndex = 0
  return !UNSAFE.test(text)
}

function escape (ch: string): string {
  const code = ch.codePointAt(0)!
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`
}
