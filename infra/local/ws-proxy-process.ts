/**
 * The WebSocket-to-Postgres proxy in a process of its own, as Neon's proxy is a separate machine: the process that
 * started it then plays only the Lambda's part, and the proxy's work does not share its event loop. Prints its
 * address, then runs until its parent closes stdin.
 */
import { startWsProxy } from './ws-proxy.ts'

const [host = '127.0.0.1', port = '5432'] = process.argv.slice(2)
const proxy = await startWsProxy({ host, port: Number(port) })
process.stdout.write(`${JSON.stringify({ address: proxy.address })}\n`)
process.stdin.resume()
process.stdin.on('end', async () => {
  await proxy.close()
  process.exit(0)
})
