/**
 * This service's local API Gateway server (`infra/local/server.ts`) in a process of its own, for `npm run bench:peers`:
 * its CPU time is then read from /proc apart from the bench's, the proxy's and PostgreSQL's. The functions' settings
 * come from the environment the parent sets; the access log goes to stdout, which the parent points at /dev/null.
 * Tells its parent its port over IPC; `{ type: 'profile', file }` starts V8's sampling profiler and the next
 * `{ type: 'profile-stop' }` writes it to `file` (so the profile holds only the requests, not start-up); exits when the
 * parent disconnects.
 */
import { writeFile } from 'node:fs/promises'
import { Session } from 'node:inspector/promises'
import type { AddressInfo } from 'node:net'
import { createLocalServer } from '#infra/local/server'

const server = createLocalServer()
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
process.send?.({ type: 'serving', port: (server.address() as AddressInfo).port })
process.on('disconnect', () => process.exit(0))

const inspector = new Session()
let profileFile: string | undefined
process.on('message', async (message: { type: string; file?: string }) => {
  if (message.type === 'profile' && message.file) {
    profileFile = message.file
    inspector.connect()
    await inspector.post('Profiler.enable')
    await inspector.post('Profiler.setSamplingInterval', { interval: 200 })
    await inspector.post('Profiler.start')
    process.send?.({ type: 'profiling' })
  } else if (message.type === 'profile-stop' && profileFile) {
    const { profile } = await inspector.post('Profiler.stop')
    await writeFile(profileFile, JSON.stringify(profile))
    inspector.disconnect()
    process.send?.({ type: 'profiled' })
  }
})
