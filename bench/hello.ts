/** The smallest possible API handler: the baseline a real bundle's size and init time are read against. */
export const handler = async () => ({ statusCode: 200, body: 'hello' })
