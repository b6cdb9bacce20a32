import '../../packages/polyfill/index.js'
import { parentPort, workerData } from 'node:worker_threads'
import { scheduleFor, type Options } from './run.js'
import { runSchedule } from './schedule.js'

/** One of `npm run sim`'s worker threads: runs the seeds it is sent, one at a time. */
const opts = workerData as Options
parentPort!.on('message', (seed: number) => {
  runSchedule(scheduleFor(opts, seed)).then(r => { parentPort!.postMessage(r) }, (err: Error) => { throw err })
})
