// The OpenID provider of the sign-in tests (never deployed): npm's oidc-provider, a certified
// implementation, with a login form of its own and consent granted at once. Started and stopped by
// tests/identity_provider.py with a JSON config file: node tests/idp/idp.mjs <config.json>.
import { readFileSync } from 'node:fs';
import { timingSafeEqual } from 'node:crypto';
import Provider from 'oidc-provider';
const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));   // {port, host, clients, keys, accounts, idTokenTtl?, conformIdTokenClaims?, enabledJWA?}
const issuer = `http://${config.host ?? '127.0.0.1'}:${config.port}`;
const accounts = config.accounts;                                   // {sub: {password, email, email_verified, groups, amr?}}
const provider = new Provider(issuer, {
  clients: config.clients, jwks: { keys: config.keys },             // private JWKs; the first one of the client's alg signs
  findAccount: async (ctx, sub) => (accounts[sub] ? { accountId: sub,
    async claims() { const { password, ...claims } = accounts[sub]; return { sub, ...claims }; } } : undefined),
  claims: { openid: ['sub', 'amr'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
  scopes: ['openid', 'email', 'profile', 'groups'], pkce: { required: () => true },
  features: { devInteractions: { enabled: false }, rpInitiatedLogout: { enabled: true } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: ['test-only-cookie-key'] },
  ttl: { IdToken: config.idTokenTtl ?? 3600, AccessToken: 600, AuthorizationCode: 60, Grant: 3600, Interaction: 600, Session: 3600 },
  conformIdTokenClaims: config.conformIdTokenClaims ?? true,
  ...(config.enabledJWA ? { enabledJWA: config.enabledJWA } : {}),
});
const page = (b) => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test IdP</title></head><body><main>${b}</main></body></html>`;
const readForm = async (req) => { let raw = ''; for await (const c of req) raw += c; return Object.fromEntries(new URLSearchParams(raw)); };
const same = (a, b) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
provider.use(async (ctx, next) => {                                 // our interactions: a login form, consent auto-granted
  if (!/^\/interaction\/[\w-]+$/.test(ctx.path)) return next();
  const { prompt, params, session } = await provider.interactionDetails(ctx.req, ctx.res);
  if (prompt.name === 'login') {
    if (ctx.method === 'GET') { ctx.type = 'html'; ctx.body = page('<h1>Test IdP sign-in</h1><form method="post">'
      + '<label>User <input name="login"></label><label>Password <input type="password" name="password"></label><button>Sign in</button></form>'); return undefined; }
    const form = await readForm(ctx.req); const account = accounts[form.login];
    if (!account || !same(String(form.password), account.password)) { ctx.status = 401; ctx.type = 'html'; ctx.body = page('<p>Wrong user or password.</p>'); return undefined; }
    // The account's `amr` (RFC 8176 methods) goes into its ID tokens, as a provider that did MFA says so.
    const login = { accountId: form.login, ...(account.amr ? { amr: account.amr } : {}) };
    return provider.interactionFinished(ctx.req, ctx.res, { login }, { mergeWithLastSubmission: false });
  }
  if (prompt.name === 'consent') {
    const grant = new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    return provider.interactionFinished(ctx.req, ctx.res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
  }
  return ctx.throw(501);
});
const server = provider.listen(config.port, '127.0.0.1', () => console.log(`READY ${issuer}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
