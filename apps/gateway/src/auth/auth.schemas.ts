import { z } from 'zod';
import { ROLES, SCOPES } from './rbac';

export const usernameSchema = z
  .string()
  .min(3, 'must be at least 3 characters')
  .max(32, 'must be at most 32 characters')
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'may contain letters, digits, ".", "_" and "-" and must start with a letter or digit')
  .describe('unique login name (case-insensitive)');
export const emailSchema = z.email('must be a valid email address').max(254);
/** Length is what matters (NIST 800-63B); the upper bound stops hashing huge inputs. */
export const passwordSchema = z.string().min(12, 'must be at least 12 characters').max(128, 'must be at most 128 characters');

export const registerSchema = z.strictObject({ username: usernameSchema, email: emailSchema, password: passwordSchema });
export const loginSchema = z.strictObject({
  username: z.string().min(1, 'is required').max(254).describe('username or email'),
  password: z.string().min(1, 'is required').max(128),
});
export const refreshSchema = z.strictObject({ refresh_token: z.string().min(1, 'is required').max(512) });
export const logoutSchema = z.strictObject({ refresh_token: z.string().max(512).optional() }).optional();
export const changePasswordSchema = z.strictObject({ current_password: z.string().min(1).max(128), new_password: passwordSchema });

export const roleSchema = z.enum(ROLES);
export const scopeSchema = z.enum(SCOPES);

export const createApiKeySchema = z.strictObject({
  name: z.string().trim().min(1, 'is required').max(100),
  scopes: z.array(scopeSchema).min(1, 'must name at least one scope'),
  expires_in_days: z.number().int().min(1).max(3650).optional().describe('omit for a key that does not expire'),
});

export const userSchema = z.object({
  id: z.uuid(),
  username: z.string(),
  email: z.string(),
  role: roleSchema,
  disabled: z.boolean(),
  created_at: z.string(),
  updated_at: z.string(),
});

export const tokenPairSchema = z.object({
  access_token: z.string(),
  refresh_token: z.string(),
  token_type: z.literal('bearer'),
  expires_in: z.number().int().describe('access token lifetime in seconds'),
  refresh_expires_in: z.number().int(),
});

export const apiKeySchema = z.object({
  id: z.uuid(),
  name: z.string(),
  prefix: z.string(),
  scopes: z.array(scopeSchema),
  created_at: z.string(),
  expires_at: z.string().nullable(),
  last_used_at: z.string().nullable(),
  revoked_at: z.string().nullable(),
});
export const createdApiKeySchema = apiKeySchema.extend({ key: z.string().describe('the secret; shown only in this response') });
