import { JwtService } from '@nestjs/jwt';
import jwt from 'jsonwebtoken';
import { ErrorCode } from '#contracts';
import { loadConfig } from '#common';
import { describeJwtFailure, jwtVerifyOptions } from './jwt.strategy';
import { TokenService } from './token.service';

const config = loadConfig({ JWT_SECRET: 'unit-test-secret-unit-test-secret-0123', MCP_SKIP_DOTENV: '1' });
const tokens = new TokenService(new JwtService({}), config);
const secret = config.auth.jwtSecret!;

function verify(token: string, key = secret) {
  try {
    return { claims: jwt.verify(token, key, jwtVerifyOptions(config)) as Record<string, unknown> };
  } catch (err) {
    return { error: describeJwtFailure(err) };
  }
}

describe('access tokens', () => {
  const good = tokens.signAccessToken({ sub: 'u1', sid: 's1', ver: 3, role: 'maintainer' });

  it('carries subject, session, version, type, issuer, audience, expiry and id', () => {
    const { claims } = verify(good);
    expect(claims).toMatchObject({
      sub: 'u1',
      sid: 's1',
      ver: 3,
      role: 'maintainer',
      typ: 'access',
      iss: 'mcp-platform',
      aud: 'mcp-platform-api',
    });
    expect(Number(claims!.exp) - Number(claims!.iat)).toBe(config.auth.accessTokenTtlS);
    expect(typeof claims!.jti).toBe('string');
    expect(JSON.parse(Buffer.from(good.split('.')[0], 'base64url').toString())).toMatchObject({ alg: 'HS256' });
  });

  it('rejects alg:none tokens', () => {
    const [, payload] = good.split('.');
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${payload}.`;
    const { error } = verify(none);
    expect(error?.code).toBe(ErrorCode.INVALID_TOKEN);
    expect(error?.message).toMatch(/algorithm/);
  });

  it('rejects a token signed with another key', () => {
    const forged = jwt.sign({ sub: 'u1', typ: 'access' }, 'another-secret-another-secret-0123456', {
      algorithm: 'HS256',
      issuer: 'mcp-platform',
      audience: 'mcp-platform-api',
    });
    expect(verify(forged).error?.message).toMatch(/signature is invalid/);
  });

  it('rejects other HMAC algorithms (pinned to HS256)', () => {
    const hs512 = jwt.sign({ sub: 'u1', typ: 'access' }, secret, {
      algorithm: 'HS512',
      issuer: 'mcp-platform',
      audience: 'mcp-platform-api',
    });
    expect(verify(hs512).error?.message).toMatch(/algorithm/);
  });

  it('rejects an expired token with TOKEN_EXPIRED', () => {
    const expired = jwt.sign({ sub: 'u1', typ: 'access', exp: Math.floor(Date.now() / 1000) - 10 }, secret, {
      algorithm: 'HS256',
      issuer: 'mcp-platform',
      audience: 'mcp-platform-api',
    });
    const { error } = verify(expired);
    expect(error?.code).toBe(ErrorCode.TOKEN_EXPIRED);
    expect(error?.message).toMatch(/refresh/);
  });

  it('rejects wrong audience or issuer', () => {
    const otherAud = jwt.sign({ sub: 'u1' }, secret, { algorithm: 'HS256', issuer: 'mcp-platform', audience: 'someone-else' });
    const otherIss = jwt.sign({ sub: 'u1' }, secret, { algorithm: 'HS256', issuer: 'evil', audience: 'mcp-platform-api' });
    expect(verify(otherAud).error?.message).toMatch(/issuer\/audience/);
    expect(verify(otherIss).error?.message).toMatch(/issuer\/audience/);
  });

  it('rejects garbage and refresh tokens presented as JWTs as malformed', () => {
    expect(verify('rt_abcdef').error?.message).toMatch(/malformed/);
    expect(verify('a.b.c').error?.code).toBe(ErrorCode.INVALID_TOKEN);
  });

  it('explains a missing token', () => {
    expect(describeJwtFailure(new Error('No auth token')).code).toBe(ErrorCode.UNAUTHENTICATED);
  });
});
