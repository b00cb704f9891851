// Starts a local PLC directory, PDS and Bluesky AppView (with its moderation service),
// as @atproto/dev-env's TestNetwork does: the AppView indexes the PDS's firehose into
// PostgreSQL (DB_POSTGRES_URL, schema DB_POSTGRES_SCHEMA) and uses Redis (REDIS_HOST).
// Creates two accounts, the brand (with an app password) and a reader, prints one JSON
// line {url, appview, handle, did, app_password, reader_handle, reader_did,
// reader_password}, then answers commands on stdin, one a line:
//   "index"  wait until the AppView has indexed everything the PDS has; prints "indexed"
// and stops when stdin closes.
const readline = require('node:readline')
const { TestNetwork } = require('@atproto/dev-env')

;(async () => {
  const network = await TestNetwork.create({ dbPostgresSchema: process.env.DB_POSTGRES_SCHEMA })
  const agent = network.pds.getClient()
  const handle = 'brand.test'
  await agent.createAccount({ email: 'brand@example.com', handle, password: 'main-password' })
  const appPassword = await agent.com.atproto.server.createAppPassword({ name: 'socialsched' })
  const reader = network.pds.getClient()
  const readerHandle = 'alice.test'
  await reader.createAccount({
    email: 'alice@example.com',
    handle: readerHandle,
    password: 'reader-password',
  })
  await network.processAll()
  process.stdout.write(
    JSON.stringify({
      url: network.pds.url,
      appview: network.bsky.url,
      handle,
      did: agent.session.did,
      app_password: appPassword.data.password,
      reader_handle: readerHandle,
      reader_did: reader.session.did,
      reader_password: 'reader-password',
    }) + '\n',
  )
  const lines = readline.createInterface({ input: process.stdin })
  for await (const line of lines) {
    if (line.trim() === 'index') {
      await network.processAll()
      process.stdout.write('indexed\n')
    }
  }
  await network.close()
  process.exit(0)
})().catch((error) => {
  console.error('local network failed to start:', error)
  process.exit(1)
})
