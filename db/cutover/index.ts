/**
 * The cutover from the FastAPI backend's database, run once by an operator: its `users` table becomes this service's
 * in one transaction, the old one kept as `legacy_users` for the operator to drop; a dry run reports and changes
 * nothing. request.ts says what the operator may ask, inspection.ts checks the old database, planner.ts decides in
 * SQL (the plan is a temporary table; Node holds only the bounded report), inbound.ts finds and moves other tables'
 * foreign keys and views over users, transaction.ts renames, migrates and copies with one insert … select.
 *
 * Nothing outside this folder imports it but this module's one caller, shared/app/operations.ts (for the cutover
 * function and `npm run cutover`), and the cutover's tests: once the old backend is gone, the folder is deleted whole
 * with functions/cutover.ts, scripts/cutover.ts, their route and those tests.
 */
export type { CutoverReport } from './planner.ts'
export { CUTOVER_DECISIONS, CutoverError, parseCutoverRequest } from './request.ts'
export { runCutover } from './transaction.ts'
