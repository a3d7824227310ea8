// Sends N events of every call type with @segment/analytics-node (unmodified, from the
// client matrix's node_modules) to the collector, then flushes; prints what the SDK reported.
// usage: node send_with_analytics_node.js <node_modules> <collector url> <writeKey> <run> <n>
const path = require('path');
const [modules, host, writeKey, run, n] = process.argv.slice(2);
const { Analytics } = require(path.join(modules, '@segment/analytics-node'));

const analytics = new Analytics({ writeKey, host, flushAt: 50, flushInterval: 200, maxRetries: 3 });
const errors = [];
analytics.on('error', (err) => errors.push(String(err && (err.reason || err.message || err))));

const kinds = ['page', 'track', 'identify', 'group', 'screen', 'alias'];
for (let i = 0; i < Number(n); i++) {
  const anonymousId = `${run}-anon-${i % 25}`;
  const userId = `${run}-user-${i % 25}`;
  const messageId = `${run}-msg-${i}`;
  switch (kinds[i % kinds.length]) {
    case 'page': analytics.page({ anonymousId, messageId, name: 'Pricing', properties: { i } }); break;
    case 'track': analytics.track({ anonymousId, messageId, event: 'Calculator Completed', properties: { i } }); break;
    case 'identify': analytics.identify({ userId, anonymousId, messageId, traits: { email: `${userId}@example.org` } }); break;
    case 'group': analytics.group({ userId, messageId, groupId: `${run}-acme`, traits: { i } }); break;
    case 'screen': analytics.screen({ userId, messageId, name: 'Home', properties: { i } }); break;
    case 'alias': analytics.alias({ userId, previousId: anonymousId, messageId }); break;
  }
}
analytics.closeAndFlush({ timeout: 20000 }).then(() => {
  process.stdout.write(JSON.stringify({ errors }) + '\n');
  process.exit(errors.length ? 1 : 0);
});
