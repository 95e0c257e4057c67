-- aggregates and nodes come from one scan of the ordered, limited rows
-- slots: 0
SELECT json_build_object('articles_aggregate', (SELECT json_build_object('aggregate', json_build_object('count', count(*), 'sum', json_build_object('rating', sum(t0."rating")), 'avg', json_build_object('rating', avg(t0."rating"))), 'nodes', coalesce(json_agg(json_build_object('id', t0."id", 'title', t0."title") ORDER BY t0."id" ASC), '[]'::json)) AS "j" FROM (SELECT t0."rating", t0."id", t0."title" FROM "sqlgen_t_cases"."articles" AS t0 ORDER BY t0."id" ASC LIMIT $1::int4) AS t0))

-- an aggregate over filtered rows reads the table directly
-- slots: 0
SELECT json_build_object('articles_aggregate', (SELECT json_build_object('count', count(DISTINCT t0."author_id"), 'both', count(*) FILTER (WHERE t0."author_id" IS NOT NULL AND t0."rating" IS NOT NULL), 'max', (max(t0."rating"))::text) AS "j" FROM "sqlgen_t_cases"."articles" AS t0 WHERE t0."published" = $1::bool))

-- a nested aggregate is a scalar sub-select per parent row
SELECT json_build_object('authors', (SELECT coalesce(json_agg(o2), '[]'::json) AS "j" FROM (SELECT t0."name" AS "name", (SELECT json_build_object('aggregate', json_build_object('count', count(*))) AS "j" FROM "sqlgen_t_cases"."articles" AS t1 WHERE t1."author_id" = t0."id") AS "articles_aggregate" FROM "sqlgen_t_cases"."authors" AS t0) AS o2))
