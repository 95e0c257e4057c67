-- insert values with on conflict returns affected rows and the rows
-- slots: 0 1 2 3
WITH "m" AS (INSERT INTO "sqlgen_t_cases"."tags" AS t0 ("id", "name") VALUES ($1::int4, $2::text), ($3::int4, DEFAULT) ON CONFLICT ON CONSTRAINT "tags_name_key" DO UPDATE SET "name" = EXCLUDED."name" WHERE t0."id" = $4::int4 RETURNING t0.*) SELECT concat('{"affected_rows":', (SELECT count(*) FROM "m"), ',"returning":', array_to_json(ARRAY(SELECT o2 FROM (SELECT t1."id" AS "id", t1."name" AS "name" FROM "m" AS t1) AS o2)), '}')

-- insert rows of a json parameter
-- slots: 0
WITH "m" AS (INSERT INTO "sqlgen_t_cases"."tags" AS t0 ("id", "name") SELECT r1."id", r1."name" FROM json_populate_recordset(NULL::"sqlgen_t_cases"."tags", $1::json) AS r1 RETURNING t0.*) SELECT concat('{"affected_rows":', (SELECT count(*) FROM "m"), ',"returning":', array_to_json(ARRAY(SELECT o3 FROM (SELECT t2."id" AS "id" FROM "m" AS t2) AS o3)), '}')

-- nested insert steps see each other's rows
-- slots: 0 1 2 3
WITH "i0" AS (INSERT INTO "sqlgen_t_cases"."authors" AS t0 ("id", "name") VALUES ($1::int4, $2::text) RETURNING t0.*), "i1" AS (INSERT INTO "sqlgen_t_cases"."articles" AS t1 ("id", "author_id", "title") VALUES ($3::int4, (SELECT "id" FROM "i0"), $4::text) RETURNING t1.*), "m" AS (SELECT * FROM "i0") SELECT concat('{"affected_rows":', ((SELECT count(*) FROM "i0") + (SELECT count(*) FROM "i1")), ',"returning":', array_to_json(ARRAY(SELECT o5 FROM (SELECT t2."name" AS "name", array_to_json(ARRAY(SELECT o4 FROM (SELECT t3."title" AS "title" FROM (SELECT * FROM "sqlgen_t_cases"."articles" UNION ALL SELECT * FROM "i1") AS t3 WHERE t3."author_id" = t2."id") AS o4)) AS "articles" FROM "m" AS t2) AS o5)), '}')

-- update sets expressions over the old row
-- slots: 0 1 2 3
WITH "m" AS (UPDATE "sqlgen_t_cases"."articles" AS t0 SET "rating" = (t0."rating" + $1::int4), "title" = $2::text WHERE (t0."author_id" = $3::int4) AND (t0."rating" < $4::int4) RETURNING t0.*) SELECT concat('{"affected_rows":', (SELECT count(*) FROM "m"), ',"returning":', array_to_json(ARRAY(SELECT o2 FROM (SELECT t1."id" AS "id", t1."rating" AS "rating" FROM "m" AS t1) AS o2)), '}')

-- delete by primary key answers the row or null
-- slots: 0 1
-- result: one
DELETE FROM "sqlgen_t_cases"."article_tags" AS t0 WHERE (t0."article_id" = $1::int4) AND (t0."tag_id" = $2::int4) RETURNING (SELECT row_to_json(o1) FROM (SELECT t0."article_id" AS "article_id", t0."tag_id" AS "tag_id") AS o1)
