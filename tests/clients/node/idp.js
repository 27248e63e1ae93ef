// A local OpenID Connect provider for the OAuth2 tests (npm oauth2-mock-server): it approves
// every authorization request at once, so a test's "browser" is a plain HTTP client following
// redirects. Every token is for audience `trino` (Trino's client id); the authorization-code
// grant's user is the provider's own `johndoe`.
// Usage: node idp.js PORT; prints `READY <issuer>` once it listens on 127.0.0.1.
'use strict';

const { pathToFileURL } = require('url');

async function main() {
  const port = Number(process.argv[2] || 0);
  // The package is ES modules only; NODE_PATH finds it, import() loads it.
  const { OAuth2Server } = await import(pathToFileURL(require.resolve('oauth2-mock-server')).href);
  const server = new OAuth2Server();
  await server.issuer.keys.generate('RS256');
  server.service.on('beforeTokenSigning', (token) => {
    token.payload.aud = 'trino';
  });
  await server.start(port, '127.0.0.1');
  process.stdout.write(`READY ${server.issuer.url}\n`);
}

main().catch((error) => {
  process.stderr.write(`idp: ${error && error.stack ? error.stack : error}\n`);
  process.exit(1);
});
