-- AND, OR and NOT nest as parenthesised groups
-- slots: 0 1 2
SELECT array_to_json(ARRAY(SELECT o1 FROM (SELECT t0."id" AS "id" FROM "sqlgen_t_cases"."articles" AS t0 WHERE ((t0."title" = $1::text) OR (t0."rating" >= $2::int4)) AND (NOT ((t0."author_id" IS NULL) AND (t0."published" = $3::bool))) AND (NOT (false))) AS o1)) AS "j"

-- a relationship filter is EXISTS over the linked rows
-- slots: 0 1
SELECT array_to_json(ARRAY(SELECT o3 FROM (SELECT t0."name" AS "name" FROM "sqlgen_t_cases"."authors" AS t0 WHERE EXISTS (SELECT 1 FROM "sqlgen_t_cases"."articles" AS e1 WHERE e1."author_id" = t0."id" AND ((e1."title" ILIKE $1::text) OR (EXISTS (SELECT 1 FROM "sqlgen_t_cases"."article_tags" AS e2 WHERE e2."article_id" = e1."id" AND (e2."tag_id" = $2::int4)))))) AS o3)) AS "j"

-- list, null, JSON and text-search operators
-- slots: 0 1 2 3 4 5
SELECT array_to_json(ARRAY(SELECT o1 FROM (SELECT t0."id" AS "id" FROM "sqlgen_t_cases"."authors" AS t0 WHERE (t0."id" = ANY ($1::int4[])) AND (t0."name" <> ALL (ARRAY[$2::text, $3::text]::text[])) AND (t0."email" IS NOT NULL) AND (t0."profile" @> $4::jsonb) AND (t0."profile" ? $5::text) AND (to_tsvector(t0."name") @@ plainto_tsquery($6::text))) AS o1)) AS "j"

-- an aggregate filter over related rows is a scalar sub-select
-- slots: 0 1
SELECT array_to_json(ARRAY(SELECT o2 FROM (SELECT t0."name" AS "name" FROM "sqlgen_t_cases"."authors" AS t0 WHERE (SELECT count(*) FROM "sqlgen_t_cases"."articles" AS s1 WHERE s1."author_id" = t0."id" AND (s1."published" = $1::bool)) > $2::int8) AS o2)) AS "j"
