// openapi.yaml -> a raw Postman collection (v2.1), completed by complete.py.
// Usage: node convert.js openapi.yaml out.json
'use strict';
const fs = require('fs');
const Converter = require('openapi-to-postmanv2');

const [spec, out] = process.argv.slice(2);
Converter.convert({ type: 'string', data: fs.readFileSync(spec, 'utf8') }, {
  folderStrategy: 'Tags',            // one folder per tag, as in the spec
  requestNameSource: 'Fallback',     // the operation's summary
  parametersResolution: 'Example',   // the spec's examples, not faked values (deterministic)
  schemaFaker: true,
  enableOptionalParameters: false,   // optional headers/query params present but disabled
  includeAuthInfoInExample: false,
  alwaysInheritAuthentication: true,
}, (err, result) => {
  if (err || !result.result) {
    console.error(err || result.reason);
    process.exit(1);
  }
  fs.writeFileSync(out, JSON.stringify(result.output[0].data, null, 2));
});
