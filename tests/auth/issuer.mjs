// A real OAuth 2 / OpenID Connect issuer for the auth tests (npm
// oauth2-mock-server): discovery at /.well-known/openid-configuration,
// RS256 keys at /jwks, and a /token endpoint. Each POST /token
// (client_credentials) may set claims of the token it mints through form
// fields: sub, email, email_verified ("true"/"false"), aud, scope, iss,
// exp_in (seconds from now; negative for an expired token).
// Run with the working directory where oauth2-mock-server is installed:
//   node --input-type=module < tests/auth/issuer.mjs
// It prints "LISTENING <issuer url>" and serves until killed.
import { OAuth2Server, Events } from 'oauth2-mock-server';

const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');
server.service.on(Events.BeforeTokenSigning, (token, req) => {
  const body = req.body || {};
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
