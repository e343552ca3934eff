/**
 * A floor for the cold-start benchmark: the smallest function that opens one database connection as the API
 * functions do (the Neon driver through `db/client.ts`, opened during init) and answers after one `SELECT 1`. Its
 * first response, against hello-world's, is what one database connection adds to a cold start: loading the WebSocket
 * client, the upgrade, Postgres's startup and authentication, one round trip.
 */
import { createDatabase } from '#db/client'

const database = createDatabase({
  url: process.env.DATABASE_URL ?? '',
  wsProxy: process.env.DATABASE_WS_PROXY,
  connectTimeoutMs: 3000,
  poolMax: 1,
})
database.warm()

export const handler = async () => {
  await database.pool.query('select 1')
  return { statusCode: 200, body: 'ok' }
}
