/**
 * Runs at every client-credentials token request of the seeded server (deploy-cli's own
 * included): adds a claim, denies nothing.
 */
exports.onExecuteCredentialsExchange = async (event, api) => {
  api.accessToken.setCustomClaim('https://deploy.example/audience', event.resource_server.identifier);
};
