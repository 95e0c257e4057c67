-- a read returns one object per row for the executor's envelope
-- slots: 0 1
-- result: envelope
SELECT row_to_json(o3) FROM (SELECT t0."title" AS "title", (SELECT row_to_json(o2) AS "j" FROM (SELECT t1."name" AS "name" FROM "sqlgen_t_cases"."authors" AS t1 WHERE t1."id" = t0."author_id" LIMIT 1) AS o2) AS "author" FROM (SELECT t0."title", t0."author_id", t0."id" FROM "sqlgen_t_cases"."articles" AS t0 WHERE t0."author_id" = $1::int4 ORDER BY t0."id" DESC NULLS LAST LIMIT $2::int8) AS t0 ORDER BY t0."id" DESC NULLS LAST) AS o3

-- a read with the exact count builds the envelope with its total
-- slots: 0 1 2
SELECT concat(count(*), ',', (SELECT count(*) FROM "sqlgen_t_cases"."articles" AS t1 WHERE t1."title" LIKE $1::text), ',', coalesce(array_to_json(array_agg(o2)), '[]'::json)) FROM (SELECT t0."id" AS "id", t0."title" AS "title" FROM "sqlgen_t_cases"."articles" AS t0 WHERE t0."title" LIKE $1::text ORDER BY t0."id" ASC LIMIT $2::int8 OFFSET $3::int8) AS o2

-- a CSV read writes the header and one quoted line per row
SELECT concat(count(*), ',', NULL, ',', 'id,name,email' || coalesce(E'\n' || string_agg(coalesce(CASE WHEN (t0."id")::text ~ '[",\r\n]' THEN '"' || replace((t0."id")::text, '"', '""') || '"' ELSE (t0."id")::text END, '') || ',' || coalesce(CASE WHEN (t0."name")::text ~ '[",\r\n]' THEN '"' || replace((t0."name")::text, '"', '""') || '"' ELSE (t0."name")::text END, '') || ',' || coalesce(CASE WHEN (t0."email")::text ~ '[",\r\n]' THEN '"' || replace((t0."email")::text, '"', '""') || '"' ELSE (t0."email")::text END, ''), E'\n' ORDER BY t0."id" ASC), '')) FROM (SELECT t0."id", t0."name", t0."email" FROM "sqlgen_t_cases"."authors" AS t0 ORDER BY t0."id" ASC) AS t0

-- a grouped read outputs one object per group
-- result: envelope
SELECT row_to_json(o1) FROM (SELECT t0."author_id" AS "author_id", sum(t0."rating") AS "total", count(*) AS "count" FROM "sqlgen_t_cases"."articles" AS t0 GROUP BY t0."author_id" ORDER BY t0."author_id" DESC NULLS LAST) AS o1

-- a grouped read with the total counts the groups
SELECT concat(count(*), ',', count(*), ',', coalesce(array_to_json(array_agg(n1)), '[]'::json)) FROM (SELECT t0."published" AS "g0", count(*) AS "g1" FROM (SELECT t0."published" FROM "sqlgen_t_cases"."articles" AS t0) AS t0 GROUP BY t0."published") AS g CROSS JOIN LATERAL (SELECT g."g0" AS "published", g."g1" AS "count") AS n1

-- an insert returning the rows of a json body
-- slots: 0
WITH "m" AS (INSERT INTO "sqlgen_t_cases"."tags" AS t0 ("id", "name") SELECT x."id", x."name" FROM json_populate_recordset(NULL::"sqlgen_t_cases"."tags", CASE WHEN json_typeof($1::json) = 'array' THEN $1::json ELSE json_build_array($1::json) END) AS x ON CONFLICT ("id") DO UPDATE SET "id" = EXCLUDED."id", "name" = EXCLUDED."name" RETURNING t0.*) SELECT concat(count(*), ',', NULL, ',', coalesce(array_to_json(array_agg(o2)), '[]'::json)) FROM (SELECT t1."id" AS "id", t1."name" AS "name" FROM "m" AS t1) AS o2

-- an insert with missing=default fills absent keys with their defaults
-- slots: 0
-- result: count
INSERT INTO "sqlgen_t_cases"."articles" AS t0 ("id", "title", "published") SELECT CASE WHEN e.j::jsonb ? 'id' THEN x."id" ELSE NULL END, CASE WHEN e.j::jsonb ? 'title' THEN x."title" ELSE NULL END, CASE WHEN e.j::jsonb ? 'published' THEN x."published" ELSE false END FROM json_array_elements(CASE WHEN json_typeof($1::json) = 'array' THEN $1::json ELSE json_build_array($1::json) END) AS e(j), LATERAL json_populate_record(NULL::"sqlgen_t_cases"."articles", e.j) AS x

-- an update without a representation returns only the count
-- slots: 0 1
-- result: count
UPDATE "sqlgen_t_cases"."articles" AS t0 SET "title" = x."title" FROM json_populate_record(NULL::"sqlgen_t_cases"."articles", $1::json) AS x WHERE t0."id" = $2::int4

-- a singular delete fails unless exactly one row went
-- slots: 0
WITH "m" AS (DELETE FROM "sqlgen_t_cases"."article_tags" AS t0 WHERE t0."article_id" = $1::int4 RETURNING t0.*) SELECT CASE WHEN count(*) = 1 THEN concat(count(*), ',', NULL, ',', coalesce(array_to_json(array_agg(o2)), '[]'::json)) ELSE current_setting('kapok.singular_rows.' || count(*)) END FROM (SELECT t1."tag_id" AS "tag_id" FROM "m" AS t1) AS o2

-- a set-returning call reads its rows through the envelope
-- slots: 0
WITH "c" AS (SELECT y.* FROM LATERAL "sqlgen_t_cases"."top_articles"("min_rating" => $1::int4) AS y) SELECT concat(count(*), ',', (SELECT count(*) FROM "c" AS t1), ',', coalesce(array_to_json(array_agg(o2)), '[]'::json)) FROM (SELECT t0."id" AS "id", t0."title" AS "title" FROM "c" AS t0 ORDER BY t0."id" ASC) AS o2

-- a scalar call's body is its value
SELECT concat(1, ',', NULL, ',', coalesce(to_json("sqlgen_t_cases"."article_count"()), 'null'::json))
