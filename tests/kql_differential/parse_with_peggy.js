// Parse queries (JSON list in argv[2]) with a parser peggy generated from Kibana's KQL grammar (argv[3]).
const p = require(process.argv[3]);
const fs = require('fs');
const SYM = '@kuery-wildcard@';
const nodeTypes = {
  function: {
    buildNodeWithArgumentNodes: (fn, args) => ({fn, args}),
    buildNode: (fn, a, b) => ({fn, args: [{wc: SYM}, {wc: SYM}]}),
  },
  literal: { buildNode: (value, quoted = false) => ({lit: value, quoted}) },
  wildcard: { buildNode: (value) => ({wc: value}), KQL_WILDCARD_SYMBOL: SYM,
              isNode: (n) => 'wc' in n, hasLeadingWildcard: () => false },
};
const queries = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const out = queries.map(q => {
  try { return p.parse(q, {helpers: {nodeTypes}}); } catch (e) { return {error: true}; }
});
process.stdout.write(JSON.stringify(out));
