-- Fixture for the planner's golden and integration tests: authors, articles, comments,
-- tags (many-to-many through article_tags), every column type Hasura maps, and NULLs.
CREATE TYPE mood AS ENUM ('happy', 'sad', 'neutral');

CREATE TABLE authors (
  id          serial PRIMARY KEY,
  name        text NOT NULL,
  email       varchar(100) UNIQUE,
  bio         text,
  rating      numeric(4,2),
  age         smallint,
  karma       bigint,
  score       double precision,
  ratio       real,
  is_active   boolean NOT NULL DEFAULT true,
  created_at  timestamptz NOT NULL,
  birth_date  date,
  wake_time   time,
  uid         uuid,
  profile     jsonb,
  settings    json,
  nicknames   text[],
  mood        mood,
  reviewer_id integer REFERENCES authors (id)
);

CREATE TABLE articles (
  id           serial PRIMARY KEY,
  author_id    integer NOT NULL REFERENCES authors (id),
  title        text NOT NULL,
  body         text,
  published    boolean NOT NULL DEFAULT false,
  views        integer NOT NULL DEFAULT 0,
  published_at timestamptz,
  metadata     jsonb
);

CREATE TABLE comments (
  id         serial PRIMARY KEY,
  article_id integer NOT NULL REFERENCES articles (id),
  author_id  integer REFERENCES authors (id),
  body       text NOT NULL,
  created_at timestamptz NOT NULL
);

CREATE TABLE tags (
  id   serial PRIMARY KEY,
  name text NOT NULL UNIQUE
);

CREATE TABLE article_tags (
  article_id integer NOT NULL REFERENCES articles (id),
  tag_id     integer NOT NULL REFERENCES tags (id),
  PRIMARY KEY (article_id, tag_id)
);

INSERT INTO authors (id, name, email, bio, rating, age, karma, score, ratio, is_active, created_at, birth_date, wake_time, uid, profile, settings, nicknames, mood, reviewer_id) VALUES
  (1, 'Ada', 'ada@example.com', 'First programmer', 4.50, 36, 9007199254740993, 1.5, 0.25, true, '2021-01-01 00:00:00+00', '1815-12-10', '06:30:00', '11111111-1111-1111-1111-111111111111', '{"city": "London", "langs": ["en", "fr"], "level": 3}', '{"theme": "dark"}', '{"Countess","Enchantress of Numbers"}', 'happy', NULL),
  (2, 'Brian', 'brian@example.com', NULL, 3.25, 50, -5, NULL, NULL, true, '2021-06-15 12:30:45.123456+00', NULL, NULL, NULL, '{"city": "Toronto", "level": 1}', NULL, '{}', 'sad', 1),
  (3, 'Chloé "C" O''Neil', NULL, 'Line1
Line2', NULL, NULL, NULL, 2.75, NULL, false, '2022-03-03 03:03:03+00', '1990-02-28', '23:59:59', '33333333-3333-3333-3333-333333333333', NULL, '[1, 2]', NULL, NULL, 1),
  (4, 'Dan', 'dan@example.com', '', 5.00, 28, 0, 0, 1, true, '2023-12-31 23:59:59+00', NULL, NULL, NULL, '{"city": "London", "level": 5}', NULL, '{"D"}', 'neutral', NULL);
SELECT setval('authors_id_seq', 4);

INSERT INTO articles (id, author_id, title, body, published, views, published_at, metadata) VALUES
  (1, 1, 'Notes on the Analytical Engine', 'Long body', true, 100, '2021-02-01 10:00:00+00', '{"tags": ["math"], "pages": 12}'),
  (2, 1, 'Sketch of the Engine', NULL, true, 50, '2021-03-01 10:00:00+00', NULL),
  (3, 1, 'Draft', 'wip', false, 0, NULL, '{"draft": true}'),
  (4, 2, 'Hello Toronto', 'hi', true, 75, '2021-07-01 09:00:00+00', '{"pages": 2}'),
  (5, 3, 'Quotes "and" apostrophes''', 'x', true, 10, '2022-04-01 00:00:00+00', NULL);
SELECT setval('articles_id_seq', 5);

INSERT INTO comments (id, article_id, author_id, body, created_at) VALUES
  (1, 1, 2, 'Brilliant', '2021-02-02 00:00:00+00'),
  (2, 1, 3, 'Agreed', '2021-02-03 00:00:00+00'),
  (3, 4, 1, 'Nice', '2021-07-02 00:00:00+00'),
  (4, 4, NULL, 'Anonymous', '2021-07-03 00:00:00+00');
SELECT setval('comments_id_seq', 4);

INSERT INTO tags (id, name) VALUES (1, 'math'), (2, 'history'), (3, 'travel');
SELECT setval('tags_id_seq', 3);

INSERT INTO article_tags (article_id, tag_id) VALUES (1, 1), (1, 2), (2, 1), (4, 3);
