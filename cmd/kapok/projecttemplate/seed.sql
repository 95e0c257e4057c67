-- Sample rows. `kapok dev` runs this file at every start, so it only inserts into an
-- empty table.
INSERT INTO todos (title, done)
SELECT v.title, v.done
FROM (VALUES ('Read the API documentation at /ai-spec.md', false),
             ('Add a table with a new file in migrations/', false),
             ('Start Kapok with kapok dev', true)) AS v(title, done)
WHERE NOT EXISTS (SELECT 1 FROM todos);
