#!/usr/bin/env node
import module from 'node:module'

// Node 22.1+ keeps compiled code on disk between runs, which shortens every
// start-up; Node 20 has no such cache (the method is absent there).
module.enableCompileCache?.()

// The polyfill must be evaluated before libp2p's modules: imported first, on
// its own, before anything else of weft's.
await import('../dist/packages/polyfill/index.js')
const { main } = await import('../dist/cli/main.js')

process.exitCode = await main(process.argv)
