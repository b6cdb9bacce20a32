#!/usr/bin/env node
// The polyfill must be evaluated before libp2p's modules: ESM evaluates
// imports in order, so it stays the first import.
import '../dist/packages/polyfill/index.js'
import { main } from '../dist/cli/main.js'

main(process.argv).then(code => { process.exitCode = code })
