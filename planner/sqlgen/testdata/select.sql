-- a bare root array numbers parameters in order of first use
-- slots: 7 2
SELECT array_to_json(ARRAY(SELECT o1 FROM (SELECT t0."id" AS "id" FROM "sqlgen_t_cases"."authors" AS t0 WHERE ((t0."id" = $1::int4) OR (t0."id" > $1::int4)) LIMIT $2::int4) AS o1)) AS "j"

-- root fields make one object, each root a sub-select
-- slots: 0 1
SELECT concat('{"authors":', array_to_json(ARRAY(SELECT o1 FROM (SELECT t0."id" AS "id", t0."name" AS "name" FROM "sqlgen_t_cases"."authors" AS t0 ORDER BY t0."id" ASC) AS o1)), ',"authors_by_pk":', coalesce((SELECT row_to_json(o3) AS "j" FROM (SELECT t2."name" AS "name" FROM "sqlgen_t_cases"."authors" AS t2 WHERE t2."id" = $1::int4) AS o3), 'null'), ',"__typename":', coalesce(to_json($2::text), 'null'), '}')

-- an array relationship is limited and ordered per parent row, an object relationship is one row
-- slots: 0
SELECT concat('{"authors":', array_to_json(ARRAY(SELECT o5 FROM (SELECT t0."name" AS "name", array_to_json(ARRAY(SELECT o4 FROM (SELECT t1."title" AS "title", (SELECT row_to_json(o3) AS "j" FROM (SELECT t2."email" AS "email" FROM "sqlgen_t_cases"."authors" AS t2 WHERE t2."id" = t1."author_id" LIMIT 1) AS o3) AS "author" FROM (SELECT t1."title", t1."author_id", t1."rating", t1."id" FROM "sqlgen_t_cases"."articles" AS t1 WHERE t1."author_id" = t0."id" ORDER BY t1."rating" DESC NULLS LAST, t1."id" ASC LIMIT $1::int4) AS t1 ORDER BY t1."rating" DESC NULLS LAST, t1."id" ASC) AS o4)) AS "articles" FROM (SELECT t0."name", t0."id" FROM "sqlgen_t_cases"."authors" AS t0 ORDER BY t0."id" ASC) AS t0 ORDER BY t0."id" ASC) AS o5)), '}')

-- a many-to-many link goes through the junction
-- slots: 0
SELECT concat('{"a":', coalesce((SELECT row_to_json(o4) AS "j" FROM (SELECT array_to_json(ARRAY(SELECT o3 FROM (SELECT t1."name" AS "name" FROM "sqlgen_t_cases"."tags" AS t1 WHERE EXISTS (SELECT 1 FROM "sqlgen_t_cases"."article_tags" AS j2 WHERE j2."article_id" = t0."id" AND j2."tag_id" = t1."id")) AS o3)) AS "tags" FROM "sqlgen_t_cases"."articles" AS t0 WHERE t0."id" = $1::int4) AS o4), 'null'), '}')

-- spread keys of one to-one relation share one lateral join
SELECT array_to_json(ARRAY(SELECT o4 FROM (SELECT t0."title" AS "title", (r1."j"->'name') AS "name", (r1."j"->'email') AS "email" FROM (SELECT t0."title", t0."author_id" FROM "sqlgen_t_cases"."articles" AS t0) AS t0 LEFT JOIN LATERAL (SELECT row_to_json(o3) AS "j" FROM (SELECT t2."name" AS "name", t2."email" AS "email" FROM "sqlgen_t_cases"."authors" AS t2 WHERE t2."id" = t0."author_id" LIMIT 1) AS o3) AS r1 ON true) AS o4)) AS "j"

-- JSON path keys are parameters and casts are checked type names
-- slots: 0 1
SELECT array_to_json(ARRAY(SELECT o1 FROM (SELECT (t0."profile"->>$1::text) AS "city", (t0."profile"->$2::text->0) AS "first_lang", (t0."id")::text AS "id_text" FROM "sqlgen_t_cases"."authors" AS t0) AS o1)) AS "j"

-- an output key longer than a column name is built with json_build_object
SELECT array_to_json(ARRAY(SELECT (concat('{"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk":', coalesce(to_json(t0."name"), 'null'), ',"id":', coalesce(to_json(t0."id"), 'null'), '}'))::json FROM (SELECT t0."name", t0."id" FROM "sqlgen_t_cases"."authors" AS t0 ORDER BY t0."id" ASC) AS t0 ORDER BY t0."id" ASC)) AS "j"

-- distinct on puts its columns first in the order and keeps the first row of each
SELECT array_to_json(ARRAY(SELECT o1 FROM (SELECT t0."author_id" AS "author_id", t0."title" AS "title" FROM (SELECT DISTINCT ON (t0."author_id") t0."author_id", t0."title", t0."rating" FROM "sqlgen_t_cases"."articles" AS t0 ORDER BY t0."author_id", t0."rating" DESC NULLS LAST) AS t0 ORDER BY t0."author_id", t0."rating" DESC NULLS LAST) AS o1)) AS "j"

-- order by an object relationship column, a JSON path and an array aggregate
-- slots: 0 1
SELECT array_to_json(ARRAY(SELECT o3 FROM (SELECT t0."id" AS "id" FROM (SELECT t0."id", (SELECT s1."name" FROM "sqlgen_t_cases"."authors" AS s1 WHERE s1."id" = t0."author_id" LIMIT 1) AS "__order_0", (SELECT count(*) FROM "sqlgen_t_cases"."article_tags" AS s2 WHERE s2."article_id" = t0."id") AS "__order_1", (t0."title")::text AS "__order_2" FROM "sqlgen_t_cases"."articles" AS t0 ORDER BY "__order_0" ASC NULLS FIRST, "__order_1" DESC, "__order_2" ASC LIMIT $1::int4 OFFSET $2::int4) AS t0 ORDER BY t0."__order_0" ASC NULLS FIRST, t0."__order_1" DESC, t0."__order_2" ASC) AS o3)) AS "j"

-- a root with rows allowed returns one object per row for the executor
-- result: array
SELECT row_to_json(o1) FROM (SELECT t0."id" AS "id", t0."name" AS "name" FROM "sqlgen_t_cases"."authors" AS t0 ORDER BY t0."id" ASC) AS o1

-- a root object with rows allowed returns its row or none
-- slots: 0
-- result: one
SELECT row_to_json(o1) FROM (SELECT t0."id" AS "id", t0."name" AS "name" FROM "sqlgen_t_cases"."authors" AS t0 WHERE t0."id" = $1::int4) AS o1
