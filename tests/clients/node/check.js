// Google's Node.js client, unchanged, against the emulator: `node check.js grpc|rest TARGET PARENT`.
// TARGET is host:port (gRPC) or http://host:port (REST fallback). Prints one JSON line of what it saw;
// tests/test_client_compat_node.py asserts on it. Only the connection options differ from production:
// an insecure channel (gRPC), plain http and no credentials (REST: google-auth-library's PassThroughClient).
'use strict';

const {v1} = require('@google-cloud/contact-center-insights');
const {grpc} = require('google-gax'); // the client's own gax (lockfile), for insecure credentials
const {PassThroughClient} = require('google-auth-library');

async function main() {
  const [mode, target, parent] = process.argv.slice(2);
  const url = new URL(mode === 'rest' ? target : `http://${target}`);
  // No credentials to find: without an authClient, google-auth-library would look for a GCE metadata server.
  const options = {apiEndpoint: url.hostname, port: Number(url.port), authClient: new PassThroughClient()};
  if (mode === 'grpc') {
    options.sslCreds = grpc.credentials.createInsecure();
  } else {
    Object.assign(options, {fallback: true, protocol: 'http'});
  }
  const client = new v1.ContactCenterInsightsClient(options);
  const seen = {mode};
  try {
    const [create] = await client.createIssueModel({parent, issueModel: {displayName: `node-${mode}`}});
    const [model] = await create.promise();
    seen.created = {name: model.name, state: model.state, issues: Number(model.issueCount)};

    const [deploy] = await client.deployIssueModel({name: model.name});
    await deploy.promise();
    const [got] = await client.getIssueModel({name: model.name});
    seen.deployedState = got.state;
    const [listed] = await client.listIssueModels({parent});
    seen.listed = listed.issueModels.length;

    const [second] = await client.createIssueModel({parent, issueModel: {displayName: 'second'}});
    const [other] = await second.promise();
    seen.secondDeploy = await errorOf(() => client.deployIssueModel({name: other.name}));
    seen.notFound = await errorOf(() => client.getIssueModel({name: `${parent}/issueModels/424242`}));
    seen.missingRequired = await errorOf(() => client.bulkAnalyzeConversations({parent, filter: 'x'}));
  } finally {
    await client.close();
  }
  console.log(JSON.stringify(seen));
}

async function errorOf(call) {
  try {
    await call();
    return null;
  } catch (err) {
    return {code: err.code, message: err.details || err.message};
  }
}

main().catch(err => {
  console.error(err);
  process.exit(1);
});
