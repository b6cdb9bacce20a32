/**
 * The rule for allocation IDs, shared by the control API (which enforces it)
 * and the CLI (which says what is wrong before asking), in a module of its
 * own so the CLI need not load the server to check an argument.
 */

/** IDs are what a caller names its container or VM by: 1–128 characters, none of them whitespace or control. */
export const MAX_ALLOC_ID_CHARS = 128

/** Why `id` is not an acceptable allocation ID, or undefined when it is. */
export function allocIdProblem (id: unknown): string | undefined {
  if (typeof id !== 'string') return 'the ID must be a string'
  if (id === '') return 'the ID is empty'
  const chars = [...id].length
  if (chars > MAX_ALLOC_ID_CHARS) return `the ID is ${chars} characters long; at most ${MAX_ALLOC_ID_CHARS} are allowed`
  // \p{Cs}: a lone surrogate cannot be stored or printed faithfully.
  const bad = /[\s\p{Cc}\p{Cs}]/u.exec(id)
  if (bad !== null) return `the ID contains ${describeChar(bad[0])}; whitespace and control characters are not allowed`
  return undefined
}

function describeChar (c: string): string {
  const code = c.codePointAt(0) ?? 0
  return c === ' ' ? 'a space' : `the character U+${code.toString(16).toUpperCase().padStart(4, '0')}`
}
