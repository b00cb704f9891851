// Starts a local PLC directory + PDS, creates an account with an app password, prints
// one JSON line {url, handle, did, app_password}, and stops when stdin closes.
const { TestNetworkNoAppView } = require('@atproto/dev-env')

;(async () => {
  const network = await TestNetworkNoAppView.create({})
  const agent = network.pds.getClient()
  const handle = 'brand.test'
  await agent.createAccount({ email: 'brand@example.com', handle, password: 'main-password' })
  const appPassword = await agent.com.atproto.server.createAppPassword({ name: 'socialsched' })
  await agent.createAccount({ email: 'alice@example.com', handle: 'alice.test', password: 'pw' })
  const alice = await agent.com.atproto.identity.resolveHandle({ handle: 'alice.test' })
  process.stdout.write(
    JSON.stringify({
      url: network.pds.url,
      handle,
      did: (await agent.com.atproto.identity.resolveHandle({ handle })).data.did,
      app_password: appPassword.data.password,
      alice_did: alice.data.did,
    }) + '\n',
  )
  process.stdin.resume()
  process.stdin.on('end', async () => {
    await network.close()
    process.exit(0)
  })
})().catch((error) => {
  console.error('local PDS failed to start:', error)
  process.exit(1)
})
