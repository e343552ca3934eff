import { httpHandler, type ParsedEvent } from '#shared/http/handler'
import { createSwaggerUiSite } from '#shared/http/swagger-ui'
import { callersOf, DOCS_PAGE_PATH, OPENAPI_PATH } from './routes.ts'

const site = createSwaggerUiSite({ pagePath: DOCS_PAGE_PATH, specPath: OPENAPI_PATH })

const docs = async ({ path }: ParsedEvent) => site.respond(path)

export const handler = httpHandler(docs, { callers: callersOf('docs') })
