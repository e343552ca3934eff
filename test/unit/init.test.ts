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

/**
 * A timer of `ms`, and whether it has fired. Timers fire in the order they fall due however busy the machine is, so
 * comparing `initialized` with them says when it returned without measuring milliseconds.
 */
function marker(ms: number) {
  const state = { fired: false, done: settlesIn(ms) }
  void state.done.then(() => {
    state.fired = true
  })
  return state
}

describe('initialized', () => {
  it('returns at once on demand and outside Lambda, with work still on its way', async () => {
    const work = marker(300)
    duringInit(work.done)
    await initialized('on-demand')
    expect(work.fired).toBe(false)
    await initialized(undefined)
    expect(work.fired).toBe(false)
    await work.done
  })

  it('waits, when provisioned, for the work and for what that work started, a failure included', async () => {
    let firstDone = false
    let secondDone = false
    duringInit(
      settlesIn(100).then(() => {
        firstDone = true
        // As the container's build counts the connection it opens once the secrets are read.
        duringInit(
          settlesIn(100, 'reject').catch((error: unknown) => {
            secondDone = true
            throw error
          }),
        )
      }),
    )
    await initialized('provisioned-concurrency')
    expect({ firstDone, secondDone }).toEqual({ firstDone: true, secondDone: true })
  })

  it('ends at its bound when the work does not: after a timer due just before the bound, before the work', async () => {
    const work = marker(600)
    duringInit(work.done)
    const justBefore = marker(90)
    await initialized('provisioned-concurrency', 100)
    expect({ justBefore: justBefore.fired, work: work.fired }).toEqual({ justBefore: true, work: false })
    await work.done
  })
})
