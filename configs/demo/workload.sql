-- The benchmark workload's e-commerce dataset: customers, products, orders, order_items.
--
-- Deterministic (no random()): the same scale always yields the same rows. At scale 1 it is
-- row for row the reference workload (100,000 customers, 10,000 products, 1,000,000 orders,
-- ~3,000,000 order items); a smaller scale shrinks every table by the same factor and keeps
-- the distributions: every 10th customer (id % 10 = 0) has ~11x the orders of the others,
-- orders have 1..5 items (avg 3), 20 countries, 50 product categories, 5 order statuses.
--
-- Tables go into the first schema of search_path; nothing else is created there (the hash
-- helper is a pg_temp function). The scale comes from the setting kapok.scale. kapok dev
-- loads it in one transaction; by hand:
--   PGOPTIONS='-c search_path=demo -c kapok.scale=0.01' \
--     psql -h 127.0.0.1 -p 54320 -U postgres kapok -v ON_ERROR_STOP=1 -1 -f configs/demo/workload.sql
SET client_min_messages = warning;
SET LOCAL maintenance_work_mem = '512MB';
SET LOCAL synchronous_commit = off;

-- Row counts at this scale (at least 10 customers, so there is a power customer).
SELECT set_config('kapok.customers', greatest(10, round(100000 * current_setting('kapok.scale')::numeric))::text, false),
       set_config('kapok.products', greatest(1, round(10000 * current_setting('kapok.scale')::numeric))::text, false),
       set_config('kapok.orders', greatest(1, round(1000000 * current_setting('kapok.scale')::numeric))::text, false);

DROP TABLE IF EXISTS order_items, orders, products, customers CASCADE;

-- Deterministic pseudo-randomness: PostgreSQL's platform-stable 64-bit integer hash (the one
-- hash partitioning relies on), masked to 31 bits.
CREATE OR REPLACE FUNCTION pg_temp.perf_h(i bigint) RETURNS bigint
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  AS $$ SELECT hashint8extended(i, 42) & 2147483647 $$;

CREATE TABLE customers (
  id         integer PRIMARY KEY,
  name       text        NOT NULL,
  email      text        NOT NULL,
  country    text        NOT NULL,
  created_at timestamptz NOT NULL
);

CREATE TABLE products (
  id       integer PRIMARY KEY,
  name     text          NOT NULL,
  category text          NOT NULL,
  price    numeric(10,2) NOT NULL
);

CREATE TABLE orders (
  id          integer PRIMARY KEY,
  customer_id integer       NOT NULL,
  status      text          NOT NULL,
  total       numeric(12,2) NOT NULL,
  created_at  timestamptz   NOT NULL
);

CREATE TABLE order_items (
  id         integer PRIMARY KEY,
  order_id   integer       NOT NULL,
  product_id integer       NOT NULL,
  quantity   integer       NOT NULL,
  unit_price numeric(10,2) NOT NULL
);

INSERT INTO customers
SELECT i,
       'Customer ' || i,
       'customer' || i || '@example.com',
       (ARRAY['US','DE','FR','GB','NL','ES','IT','PL','SE','JP','BR','CA','AU','IN','MX','KR','CH','AT','BE','DK'])[1 + i % 20],
       timestamptz '2019-01-01 00:00:00+00' + (pg_temp.perf_h(i) % (2*365*86400)) * interval '1 second'
FROM generate_series(1, current_setting('kapok.customers')::int) AS i;

INSERT INTO products
SELECT i,
       'Product ' || i,
       'category-' || (i % 50),
       round(1 + (pg_temp.perf_h(i + 17) % 50000) / 100.0, 2)
FROM generate_series(1, current_setting('kapok.products')::int) AS i;

-- items first (1..5 per order), then orders with total = sum(items)
INSERT INTO order_items (id, order_id, product_id, quantity, unit_price)
SELECT row_number() OVER (ORDER BY x.o, x.n)::int,
       x.o, x.pid, x.qty, p.price
FROM (
  SELECT o, n,
         (1 + pg_temp.perf_h(o * 7 + n * 131) % current_setting('kapok.products')::int)::int AS pid,
         (1 + pg_temp.perf_h(o * 3 + n) % 4)::int                                           AS qty
  FROM generate_series(1, current_setting('kapok.orders')::int) AS o,
       LATERAL generate_series(1, (1 + pg_temp.perf_h(o) % 5)::int) AS n
) x
JOIN products p ON p.id = x.pid;

-- even orders go to the power customers (id % 10 = 0), odd ones to anyone
INSERT INTO orders
SELECT o,
       CASE WHEN o % 2 = 0 THEN (10 * (1 + pg_temp.perf_h(o) % (current_setting('kapok.customers')::int / 10)))::int
            ELSE (1 + pg_temp.perf_h(o) % current_setting('kapok.customers')::int)::int END,
       (ARRAY['pending','paid','shipped','delivered','cancelled'])[1 + pg_temp.perf_h(o * 5 + 1) % 5],
       t.total,
       timestamptz '2021-01-01 00:00:00+00' + (pg_temp.perf_h(o * 7 + 3) % (4*365*86400)) * interval '1 second'
FROM generate_series(1, current_setting('kapok.orders')::int) AS o
JOIN (SELECT order_id, sum(quantity * unit_price)::numeric(12,2) AS total
      FROM order_items GROUP BY order_id) t ON t.order_id = o;

-- foreign keys + realistic FK indexes
ALTER TABLE orders      ADD CONSTRAINT orders_customer_id_fkey     FOREIGN KEY (customer_id) REFERENCES customers(id);
ALTER TABLE order_items ADD CONSTRAINT order_items_order_id_fkey   FOREIGN KEY (order_id)    REFERENCES orders(id);
ALTER TABLE order_items ADD CONSTRAINT order_items_product_id_fkey FOREIGN KEY (product_id)  REFERENCES products(id);
CREATE INDEX orders_customer_id_created_at_idx ON orders (customer_id, created_at);
CREATE INDEX order_items_order_id_idx          ON order_items (order_id);
CREATE INDEX order_items_product_id_idx        ON order_items (product_id);

COMMENT ON TABLE customers IS 'People who buy from the shop. Every 10th customer (id divisible by 10) orders about 11 times as often as the others.';
COMMENT ON COLUMN customers.id IS 'Customer number, 1 to the number of customers.';
COMMENT ON COLUMN customers.name IS 'Display name, "Customer <id>".';
COMMENT ON COLUMN customers.email IS 'Contact address, customer<id>@example.com.';
COMMENT ON COLUMN customers.country IS 'ISO 3166-1 alpha-2 country code (20 countries).';
COMMENT ON COLUMN customers.created_at IS 'When the customer signed up (2019-2020).';

COMMENT ON TABLE products IS 'The catalogue of things for sale.';
COMMENT ON COLUMN products.id IS 'Product number, 1 to the number of products.';
COMMENT ON COLUMN products.name IS 'Display name, "Product <id>".';
COMMENT ON COLUMN products.category IS 'One of 50 categories, category-0 to category-49.';
COMMENT ON COLUMN products.price IS 'Current unit price, 1.00 to 500.99.';

COMMENT ON TABLE orders IS 'A purchase by one customer; its total is the sum of its items.';
COMMENT ON COLUMN orders.id IS 'Order number.';
COMMENT ON COLUMN orders.customer_id IS 'The customer who placed the order.';
COMMENT ON COLUMN orders.status IS 'pending, paid, shipped, delivered or cancelled.';
COMMENT ON COLUMN orders.total IS 'Sum of quantity * unit_price over the order''s items.';
COMMENT ON COLUMN orders.created_at IS 'When the order was placed (2021-2024).';

COMMENT ON TABLE order_items IS 'One line of an order: a product, a quantity and the price paid. Orders have 1 to 5 items.';
COMMENT ON COLUMN order_items.id IS 'Line number, increasing with order id.';
COMMENT ON COLUMN order_items.order_id IS 'The order this line belongs to.';
COMMENT ON COLUMN order_items.product_id IS 'The product bought.';
COMMENT ON COLUMN order_items.quantity IS 'How many, 1 to 4.';
COMMENT ON COLUMN order_items.unit_price IS 'Price of one unit when ordered (the product''s price).';
