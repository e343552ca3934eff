/**
 * The end of a function's init: on demand it returns at once, whatever is still on its way; in a provisioned
 * environment it waits for that work, and for the work it starts in turn, never longer than its bound.
 */
import { describe, expect, it } from 'vitest'
import { duringInit, initialized } from '#shared/platform/init'

const settlesIn = (ms: number, outcome: 'resolve' | 'reject' = 'resolve') =>
  new Promise<void>((resolve, reject) =>
    setTimeout(() => (outcome === 'resolve' ? resolve() : reject(new Error('failed'))), ms),
  )

/** How long `initialized` took, in milliseconds. */
async function timed(type: string | undefined, boundMs?: number): Promise<number> {
  const started = performance.now()
  await initialized(type, boundMs)
  return performance.now() - started
}

describe('initialized', () => {
  it('returns at once on demand and outside Lambda, with work still on its way', async () => {
    const work = settlesIn(300)
    duringInit(work)
    expect(await timed('on-demand')).toBeLessThan(50)
    expect(await timed(undefined)).toBeLessThan(50)
    await work
  })

  it('waits, when provisioned, for the work and for what that work started, a failure included', async () => {
    let secondDone = false
    duringInit(
      settlesIn(100).then(() => {
        // As the container's build counts the connection it opens once the secrets are read.
        duringInit(
          settlesIn(100, 'reject').catch((error: unknown) => {
            secondDone = true
            throw error
          }),
        )
      }),
    )
    const waited = await timed('provisioned-concurrency')
    expect(secondDone).toBe(true)
    expect(waited).toBeGreaterThanOrEqual(190)
  })

  it('ends at its bound when the work does not', async () => {
    const work = settlesIn(600)
    duringInit(work)
    const waited = await timed('provisioned-concurrency', 100)
    expect(waited).toBeGreaterThanOrEqual(95)
    expect(waited).toBeLessThan(400)
    await work
  })
})
