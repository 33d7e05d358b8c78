// A real OpenID Connect provider for the tests: the certified `oidc-provider`
// package from npm (installed in tests/node by scripts/bootstrap), listening
// on 127.0.0.1 over plain http.
//
//   node tests/node/idp.mjs --port P --keys FILE --client-id ID \
//     --client-secret SECRET --redirect-uri URI [--post-logout-uri URI]
//
// Issuer http://127.0.0.1:P. FILE holds the provider's private signing keys
// (a JWKS, {"keys":[...]}); when it does not exist one RSA-2048 RS256 key is
// made and written there, so restarting on the same port with another file
// is a key rotation. One confidential client (client_secret_basic, code
// flow, PKCE S256 required). Sign-in and consent go through the package's
// development pages (any login name, password ignored). Access tokens are
// JWTs (RFC 9068) for the resource indicators below; `urn:lagoa` is the
// default, so a client that names no resource gets a JWT for audience
// `lagoa`.
//
// When listening it prints one line on stdout,
//   {"ready":true,"issuer":"http://127.0.0.1:P"}
// and runs until SIGTERM or SIGINT. Everything else goes to stderr. Bad
// arguments, an unreadable keys file or a busy port end it with status 2
// and a message on stderr.
//
// Sessions, grants and tokens live in memory: a restart forgets them.

import { generateKeyPairSync, createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

// The package writes its notices with console.info (stdout) and its
// warnings with console.warn (stderr); stdout is kept for the ready line.
console.log = console.error;
console.info = console.error;

function die(message) {
  process.stderr.write(`idp.mjs: ${message}\n`);
  process.exit(2);
}

// ---- command line -------------------------------------------------------

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      port: { type: 'string' },
      keys: { type: 'string' },
      'client-id': { type: 'string' },
      'client-secret': { type: 'string' },
      'redirect-uri': { type: 'string' },
      'post-logout-uri': { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (err) {
  die(`${err.message}\nusage: node idp.mjs --port P --keys FILE --client-id ID --client-secret SECRET --redirect-uri URI [--post-logout-uri URI]`);
}
for (const name of ['port', 'keys', 'client-id', 'client-secret', 'redirect-uri']) {
  if (!args[name]) die(`--${name} is required`);
}
const port = Number(args.port);
if (!/^\d+$/.test(args.port) || port < 1 || port > 65535) {
  die(`--port ${JSON.stringify(args.port)} is not a port number (1-65535)`);
}
for (const name of ['redirect-uri', 'post-logout-uri']) {
  if (args[name] === undefined) continue;
  let url;
  try {
    url = new URL(args[name]);
  } catch {
    die(`--${name} ${JSON.stringify(args[name])} is not an absolute URL`);
  }
  if (!['http:', 'https:'].includes(url.protocol) || url.hash) {
    die(`--${name} ${JSON.stringify(args[name])} must be an http(s) URL without a fragment`);
  }
}
const issuer = `http://127.0.0.1:${port}`;

// Imported after the arguments are checked, so that `--help`-like mistakes
// answer at once. The package warns on stderr about its development-only
// parts (devInteractions, in-memory adapter): expected here.
const { default: Provider, errors } = await import('oidc-provider');

// ---- signing keys -------------------------------------------------------

// RFC 7638 thumbprint of an RSA public key: a stable, unique `kid`.
function thumbprint({ e, n }) {
  return createHash('sha256').update(JSON.stringify({ e, kty: 'RSA', n })).digest('base64url');
}

function loadOrMakeKeys(file) {
  if (existsSync(file)) {
    let jwks;
    try {
      jwks = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      die(`--keys ${file}: not a JSON file: ${err.message}`);
    }
    if (!Array.isArray(jwks?.keys) || jwks.keys.length === 0 || !jwks.keys.every((k) => k && k.d)) {
      die(`--keys ${file}: expected {"keys":[...]} holding private JWKs`);
    }
    return jwks;
  }
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  const key = { ...jwk, kid: thumbprint(jwk), alg: 'RS256', use: 'sig' };
  const jwks = { keys: [key] };
  // Written whole under another name, then renamed: a reader never sees half.
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, `${JSON.stringify(jwks, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, file);
  } catch (err) {
    die(`--keys ${file}: cannot write a new key there: ${err.message}`);
  }
  return jwks;
}

const jwks = loadOrMakeKeys(args.keys);

// ---- people -------------------------------------------------------------

// Claims per login name. The dev login page accepts any name; the session
// (and so every token's `sub`) is keyed by the account's `sub` below.
const PEOPLE = {
  ana: {
    sub: 'ana-0001',
    preferred_username: 'ana',
    name: 'Ana Souza',
    email: 'ana@saude.example',
    cpf: '52998224725',
    groups: ['lagoa-analistas'],
    institution: 'sesa',
  },
  bruno: {
    sub: 'bruno-0002',
    preferred_username: 'bruno',
    name: 'Bruno Lima',
    cpf: '11144477735',
    groups: ['lagoa-operadores'],
    institution: 'sesa',
  },
  zeca: {
    sub: 'zeca-0003',
    preferred_username: 'zeca',
    name: 'Zeca',
    groups: ['lagoa-analistas'],
    institution: 'sesa',
  },
};
const BY_SUB = new Map(Object.values(PEOPLE).map((p) => [p.sub, p]));

// The login name typed on the dev page -> the account's subject.
function subForLogin(login) {
  return Object.hasOwn(PEOPLE, login) ? PEOPLE[login].sub : login;
}

// Any other login: sub = the login, preferred_username = the login, no groups.
function personFor(sub) {
  return BY_SUB.get(sub) ?? { sub, preferred_username: sub };
}

// ---- resource servers (audiences of the JWT access tokens) ---------------

const JWT_RS256 = { accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } };
// Scopes an access token for these resources carries (those requested).
const RS_SCOPE = 'openid profile email lagoa';
const RESOURCES = {
  'urn:lagoa': { audience: 'lagoa', accessTokenTTL: 600, scope: RS_SCOPE, ...JWT_RS256 },
  // Same audience, 2 s: for tests of expired tokens.
  'urn:lagoa:short': { audience: 'lagoa', accessTokenTTL: 2, scope: RS_SCOPE, ...JWT_RS256 },
  // Another audience, which the lake must refuse.
  'urn:other': { audience: 'other', accessTokenTTL: 600, scope: RS_SCOPE, ...JWT_RS256 },
};
const DEFAULT_RESOURCE = 'urn:lagoa';

// ---- the provider -------------------------------------------------------

const client = {
  client_id: args['client-id'],
  client_secret: args['client-secret'],
  token_endpoint_auth_method: 'client_secret_basic',
  grant_types: ['authorization_code'],
  response_types: ['code'],
  redirect_uris: [args['redirect-uri']],
  ...(args['post-logout-uri'] ? { post_logout_redirect_uris: [args['post-logout-uri']] } : {}),
  id_token_signed_response_alg: 'RS256',
};

const provider = new Provider(issuer, {
  clients: [client],
  jwks,
  // Only the code flow (no implicit or hybrid response types).
  responseTypes: ['code'],
  // Fresh each start: cookies of an earlier run are simply not recognised.
  cookies: {
    keys: [randomBytes(32).toString('base64url')],
    // Plain http: SameSite=None cookies would need Secure; Lax is enough
    // for a top-level code flow and its redirects.
    long: { httpOnly: true, sameSite: 'lax' },
    short: { httpOnly: true, sameSite: 'lax' },
  },
  scopes: ['openid', 'profile', 'email', 'lagoa'],
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
    lagoa: ['cpf', 'groups', 'institution'],
  },
  // The ID token carries the claims of the scopes asked for (not only sub),
  // as Keycloak's does.
  conformIdTokenClaims: false,
  pkce: { methods: ['S256'], required: () => true },
  // The package's own defaults, spelt out (it nags on stderr otherwise).
  // An access token lives as long as its resource server says (above).
  ttl: {
    AccessToken: (ctx, token) => token.resourceServer?.accessTokenTTL ?? 600,
    AuthorizationCode: 60,
    IdToken: 3600,
    Interaction: 3600,
    Session: 14 * 24 * 3600,
    Grant: 14 * 24 * 3600,
  },
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    userinfo: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // No resource asked for: urn:lagoa (at the authorization endpoint),
      // or urn:lagoa among several granted (at the token endpoint).
      defaultResource(ctx, _client, oneOf) {
        if (oneOf) return oneOf.includes(DEFAULT_RESOURCE) ? DEFAULT_RESOURCE : oneOf[0];
        return DEFAULT_RESOURCE;
      },
      // The token endpoint issues the JWT for the granted resource even
      // when the code exchange names none (otherwise an `openid` request
      // would get an opaque token for userinfo only).
      useGrantedResource: () => true,
      getResourceServerInfo(ctx, resourceIndicator) {
        const info = RESOURCES[resourceIndicator];
        if (!info) throw new errors.InvalidTarget(`unknown resource ${resourceIndicator}`);
        return info;
      },
    },
  },
  async findAccount(ctx, sub) {
    const person = personFor(sub);
    return {
      accountId: person.sub,
      // The package keeps only the claims of granted scopes.
      async claims() {
        return { ...person };
      },
    };
  },
  // As Keycloak's mappers do: who the person is, in the access token too.
  async extraTokenClaims(ctx, token) {
    if (!token.accountId) return undefined;
    const { preferred_username, groups, institution, cpf } = personFor(token.accountId);
    return { preferred_username, groups, institution, cpf };
  },
});

// The dev login page submits {login: NAME} as the account id; map the name
// to the account's sub, so the session, grant and tokens share one id.
const interactionFinished = provider.interactionFinished.bind(provider);
provider.interactionFinished = (req, res, result, options) => {
  if (result?.login?.accountId !== undefined) {
    result.login.accountId = subForLogin(String(result.login.accountId));
  }
  return interactionFinished(req, res, result, options);
};

// The package's pages import a web font from fonts.googleapis.com: drop it,
// so a browser under test never reaches beyond loopback, and forbid any
// other load from elsewhere.
const FONT_IMPORT = /@import url\(https:\/\/fonts\.googleapis\.com\/[^)]*\);?/g;
provider.use(async (ctx, next) => {
  ctx.set('Content-Security-Policy', "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; script-src 'self'");
  await next();
  if (typeof ctx.body === 'string' && ctx.response.is('html')) {
    ctx.body = ctx.body.replace(FONT_IMPORT, '');
  }
});

// Errors the package reports (bad requests, server faults) go to stderr.
for (const event of ['server_error', 'authorization.error', 'grant.error', 'end_session.error', 'userinfo.error']) {
  provider.on(event, (ctx, err) => {
    process.stderr.write(`idp.mjs: ${event}: ${err?.message ?? err}${err?.error_description ? ` (${err.error_description})` : ''}\n`);
  });
}

// The client is checked on first use; check it now, so that a bad id or
// secret (only printable ASCII, RFC 6749 VSCHAR) fails before the ready line.
try {
  await provider.Client.find(client.client_id);
} catch (err) {
  die(`the client is refused: ${err.error_description ?? err.message}`);
}

// ---- listen -------------------------------------------------------------

const server = createServer(provider.callback());
server.on('error', (err) => {
  if (err.code === 'EADDRINUSE') die(`port ${port} on 127.0.0.1 is busy`);
  die(`cannot listen on 127.0.0.1:${port}: ${err.message}`);
});
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ ready: true, issuer })}\n`);
});

function stop() {
  server.close();
  server.closeAllConnections();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
