-- The schema every case in this folder reads; each case's SQL is prepared and run
-- against it (in a transaction that is rolled back).
CREATE TABLE authors (
  id int4 PRIMARY KEY,
  name text NOT NULL,
  email text,
  profile jsonb,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE articles (
  id int4 PRIMARY KEY,
  author_id int4 REFERENCES authors,
  title text NOT NULL,
  rating int4,
  published boolean NOT NULL DEFAULT false
);
CREATE TABLE tags (
  id int4 PRIMARY KEY,
  name text NOT NULL UNIQUE
);
CREATE TABLE article_tags (
  article_id int4 REFERENCES articles,
  tag_id int4 REFERENCES tags,
  PRIMARY KEY (article_id, tag_id)
);
CREATE FUNCTION top_articles(min_rating int4) RETURNS SETOF articles
  LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$ SELECT * FROM articles WHERE rating >= min_rating $$;
CREATE FUNCTION article_count() RETURNS int8
  LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$ SELECT count(*) FROM articles $$;

INSERT INTO authors (id, name, email, profile) VALUES
  (1, 'Ann', 'ann@example.com', '{"city": "Oslo", "langs": ["go", "sql"]}'),
  (2, 'Bob', NULL, NULL);
INSERT INTO articles (id, author_id, title, rating, published) VALUES
  (1, 1, 'Go rest', 5, true), (2, 1, 'SQL', 3, true), (3, 2, 'More Go', NULL, false);
INSERT INTO tags (id, name) VALUES (1, 'go'), (2, 'db');
INSERT INTO article_tags VALUES (1, 1), (2, 2), (3, 1);
