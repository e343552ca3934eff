import { httpHandler, ok } from '#shared/http/handler'
import { buildOpenApiDocument } from '#shared/http/openapi'
import { routes } from './routes.ts'

const document = buildOpenApiDocument(routes)

const openapi = async () => ok(document)

export const handler = httpHandler(openapi)
