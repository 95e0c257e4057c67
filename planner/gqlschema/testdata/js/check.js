'use strict';
// Checks an introspection answer with graphql-js, the reference implementation that
// GraphiQL, Apollo and most JavaScript clients use.
//
//   node check.js queries        prints the IntrospectionQuery texts clients send (JSON)
//   node check.js check < in     in = {"sdl", "introspection": {"data": ...}, "queries": [...], "compareSDL"}
//
// "check" builds a client schema from the answer, validates it, requires (with
// compareSDL) that it prints exactly like the SDL the server was built from, validates
// the queries against it, and
// prints the client schema. Any problem is reported on stderr with exit status 1.
const {
  buildClientSchema, buildSchema, getIntrospectionQuery, parse, printSchema, validate, validateSchema,
} = require('graphql');

function queries() {
  return {
    full: getIntrospectionQuery({
      descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true,
      schemaDescription: true, inputValueDeprecation: true,
    }),
    plain: getIntrospectionQuery(),
  };
}

function check(input) {
  const problems = [];
  const client = buildClientSchema(input.introspection.data);
  for (const e of validateSchema(client)) problems.push('validateSchema: ' + e.message);
  const fromSDL = printSchema(buildSchema(input.sdl));
  const fromIntrospection = printSchema(client);
  if (input.compareSDL && fromSDL !== fromIntrospection) {
    const a = fromSDL.split('\n');
    const b = fromIntrospection.split('\n');
    let i = 0;
    while (i < a.length && a[i] === b[i]) i++;
    problems.push(`introspection does not print like the SDL; first difference at line ${i + 1}:\n  sdl:           ${a[i]}\n  introspection: ${b[i]}`);
  }
  for (const q of input.queries || []) {
    for (const e of validate(client, parse(q))) problems.push(`query ${JSON.stringify(q.slice(0, 60))}: ${e.message}`);
  }
  if (problems.length) {
    process.stderr.write(problems.join('\n') + '\n');
    process.exit(1);
  }
  process.stdout.write(fromIntrospection);
}

const mode = process.argv[2];
if (mode === 'queries') {
  process.stdout.write(JSON.stringify(queries()));
} else if (mode === 'check') {
  const chunks = [];
  process.stdin.on('data', (c) => chunks.push(c));
  process.stdin.on('end', () => check(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
} else {
  process.stderr.write('usage: node check.js queries|check\n');
  process.exit(2);
}
