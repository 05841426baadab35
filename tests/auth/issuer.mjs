// A real OAuth 2 / OpenID Connect issuer for the auth tests (npm
// oauth2-mock-server): discovery at /.well-known/openid-configuration,
// RS256 keys at /jwks, and a /token endpoint. Each POST /token
// (client_credentials) may set claims of the token it mints through form
// fields: sub, email, email_verified ("true"/"false"), aud, scope, iss,
// exp_in (seconds from now; negative for an expired token). Its /authorize
// redirects straight back with a code (see login_hint below).
// Run with the working directory where oauth2-mock-server is installed:
//   node --input-type=module < tests/auth/issuer.mjs
// It prints "LISTENING <issuer url>" and serves until killed.
import { OAuth2Server, Events } from 'oauth2-mock-server';

const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');
// The authorization code flow has no login page here: the "browser" picks
// who signs in by adding login_hint=EMAIL to the authorize URL, and the
// code's tokens (access and ID) then carry that user.
const logins = new Map();
server.service.on(Events.BeforeAuthorizeRedirect, (redirect, req) => {
  const hint = req.query && req.query.login_hint;
  if (hint) logins.set(redirect.url.searchParams.get('code'), hint);
});
server.service.on(Events.BeforeTokenSigning, (token, req) => {
  const body = req.body || {};
  const login = body.code && logins.get(body.code);
  if (login) {
    token.payload.sub = 'google-' + login.split('@')[0];
    token.payload.email = login;
    token.payload.email_verified = true;
  }
  for (const claim of ['sub', 'email', 'aud', 'scope', 'iss']) {
    if (body[claim] !== undefined) token.payload[claim] = body[claim];
  }
  if (body.email_verified !== undefined) token.payload.email_verified = body.email_verified === 'true';
  if (body.exp_in !== undefined) token.payload.exp = Math.floor(Date.now() / 1000) + Number(body.exp_in);
});
await server.start(Number(process.env.PORT || 0), '127.0.0.1');
// The library names the issuer http://localhost:PORT; the tests use the address literal.
server.issuer.url = `http://127.0.0.1:${server.address().port}`;
console.log('LISTENING ' + server.issuer.url);
