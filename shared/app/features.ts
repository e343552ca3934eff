/**
 * The services beyond sign-in, each built from the container's core by the functions that use it
 * (`apiContainer({ features: { … } })`): a function's bundle carries the repositories and services it names and no
 * other, as it carries bcrypt only when it checks a password. Part of the composition root (shared/app may reach db/).
 */
import { createAccountExportRepository } from '#db/repositories/account-export'
import { createAdminRepository } from '#db/repositories/admin-users'
import { createEmailCodeRepository } from '#db/repositories/email-codes'
import { createErasureRepository } from '#db/repositories/erasure'
import { createPasswordResetRepository } from '#db/repositories/password-resets'
import { createPreferencesRepository } from '#db/repositories/preferences'
import { createUserScope } from '#db/user-scope'
import {
  type AccountDeletionService,
  createAccountDeletionService,
} from '#shared/domain/account-deletion-service'
import { type AccountExportService, createAccountExportService } from '#shared/domain/account-export'
import { type AdminService, createAdminService } from '#shared/domain/admin-service'
import { createEmailCodeService, type EmailCodeService } from '#shared/domain/email-code-service'
import { createPasswordResetService, type PasswordResetService } from '#shared/domain/password-reset-service'
import { createPreferencesService, type PreferencesService } from '#shared/domain/preferences'
import { systemClock } from '#shared/domain/tokens'
import type { ContainerCore } from './container.ts'

/** The mail requests' limits, shared by resets, codes and deletion links (each counted apart). */
const mailLimits = ({ config }: ContainerCore) => ({
  emailLimit: config.PASSWORD_RESET_EMAIL_LIMIT,
  ipLimit: config.PASSWORD_RESET_IP_LIMIT,
  windowSeconds: config.PASSWORD_RESET_WINDOW_SECONDS,
})

/** Forgotten passwords: reset requests and their confirmation. */
export const passwordResets = (core: ContainerCore): PasswordResetService =>
  createPasswordResetService({
    resets: createPasswordResetRepository(core.database.db, {
      ...mailLimits(core),
      tokenTtlSeconds: core.config.PASSWORD_RESET_TTL_SECONDS,
    }),
    passwords: core.passwords,
    mail: core.mail,
  })

/** Email verification and email change codes. */
export const emailCodes = (core: ContainerCore): EmailCodeService =>
  createEmailCodeService({
    codes: createEmailCodeRepository(core.database.db, mailLimits(core)),
    mail: core.mail,
    checkOwnPassword: core.auth.verifyOwnPassword,
  })

/** What operators do to accounts (the `/admin` routes). */
export const adminActions = (core: ContainerCore): AdminService =>
  createAdminService({
    admin: createAdminRepository(core.database.db),
    erasure: createErasureRepository(core.database.db, mailLimits(core)),
    mail: core.mail,
  })

/** A user deleting their own account, from the app or by a mailed link. */
export const accountDeletion = (core: ContainerCore): AccountDeletionService =>
  createAccountDeletionService({
    erasure: createErasureRepository(core.database.db, mailLimits(core)),
    checkOwnPassword: core.auth.verifyOwnPassword,
    mail: core.mail,
    linksEnabled: core.config.ACCOUNT_DELETION_URL !== undefined,
  })

/** A user's copy of their own data. */
export const accountExport = (core: ContainerCore): AccountExportService =>
  createAccountExportService({
    exports: createAccountExportRepository(core.database.db),
    clock: systemClock,
  })

/** A student's study preferences, reached only as the user (row-level security). */
export const userPreferences = (core: ContainerCore): PreferencesService =>
  createPreferencesService({ preferences: createPreferencesRepository(createUserScope(core.database)) })
