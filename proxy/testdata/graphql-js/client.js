'use strict';
// Acts as a GraphQL client would on Kapok's answers: builds the client schema from the
// IntrospectionQuery answer (as GraphiQL and Apollo do), validates it, and validates the
// given operations against it.
//
//   node client.js query              prints the IntrospectionQuery (JSON string)
//   node client.js check < in         in = {"introspection": <HTTP response body>, "operations": [...]}
const { buildClientSchema, getIntrospectionQuery, parse, validate, validateSchema } = require('graphql');

if (process.argv[2] === 'query') {
  process.stdout.write(JSON.stringify(getIntrospectionQuery({
    descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true,
    schemaDescription: true, inputValueDeprecation: true,
  })));
} else {
  const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
  const problems = [];
  if (input.introspection.errors) problems.push('errors: ' + JSON.stringify(input.introspection.errors));
  const schema = buildClientSchema(input.introspection.data);
  for (const e of validateSchema(schema)) problems.push('validateSchema: ' + e.message);
  for (const op of input.operations || []) {
    for (const e of validate(schema, parse(op))) problems.push(`${op}: ${e.message}`);
  }
  if (problems.length) {
    process.stderr.write(problems.join('\n') + '\n');
    process.exit(1);
  }
  process.stdout.write(String(Object.keys(schema.getTypeMap()).length));
}
